//! sans-IO core of sekisho's SMTP server.
//!
//! Nothing in this crate reads a socket or a file: it turns bytes into commands, commands into
//! replies and actions, and DATA bytes into message content, so every rule can be tested with
//! plain values. The receive stage drives it over real sockets.

pub mod address;
pub mod command;
pub mod data;
pub mod from_field;
pub mod header;
pub mod line;
pub mod received;
pub mod relay;
pub mod reply;
pub mod session;
pub mod verify;

pub use command::{Command, MailParams, RcptParams};
pub use data::{BareLineEndings, DataDecoder, DataError, DataLimits};
pub use line::{FramedLine, LineReader};
pub use reply::Reply;
pub use session::{Action, AuthOutcome, ListenerRole, Next, Session, SessionConfig, SessionLimits, Transaction};
pub use verify::{RecipientVerdict, SenderVerdict};
