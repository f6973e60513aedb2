//! The receive stage: SMTP listeners around the sans-IO session of `sekisho-smtp`.
//!
//! Each connection runs the session over a real socket, upgrades to TLS on STARTTLS (dropping
//! whatever plaintext was pipelined behind it), checks passwords, enforces timeouts and
//! connection limits, and streams DATA into the spool. A message is acknowledged with 250 only
//! after `Queue::commit` returned: body and envelope are on disk.

pub mod approval_notice;
mod attachments;
mod auth;
mod authenticate;
pub mod cancel_notice;
mod connection;
mod country;
mod dmarc_rows;
mod error;
mod inbound;
mod inspector;
mod limits;
mod message;
mod quota;
mod recipients;
mod reputation;
pub mod rules;
pub mod rules_notice;
mod sender_findings;
mod sender_tls;
mod senders;
mod server;
mod smime;
mod tls;

pub use error::ReceiveError;
pub use server::{Reloader, Server};
pub use tls::{CertificateError, TlsManager, check_certificate};
