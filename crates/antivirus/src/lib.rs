//! sekisho's client for ClamAV's clamd: every file is streamed with `INSTREAM`, or over a Unix
//! socket passed as a memory file's descriptor with `FILDES`, and the reply is read strictly. Only `stream: OK` is clean; anything sekisho cannot get scanned is a
//! [`ClamdError`], which the caller must treat as "not scanned", never as safe.
//!
//! The layout, from the wire up:
//! - `frame`: INSTREAM's chunks (a 4-byte big-endian length, the bytes, a zero length at the
//!   end); only one 64 KiB chunk is held at a time, whatever the file's size.
//! - `descriptor`: FILDES's memory file and the message that carries its descriptor.
//! - `reply`: pure reading of clamd's replies ([`parse_scan_reply`]) and of the session numbers
//!   in front of them.
//! - `session`: one connection in session mode (`zIDSESSION`; each reply is numbered `N: `).
//! - `client`: [`Clamd`], the shared handle: a semaphore of `max_concurrent`, a pool of idle
//!   sessions, `connect_timeout` and `scan_timeout`.
//!
//! **Sessions.** A session is reused for the next request. clamd ends a session that sends no
//! command for its `ReadTimeout` (it writes `COMMAND READ TIMED OUT` and closes; `IdleTimeout`
//! is about its idle threads, not sessions). Before reusing a session the client checks,
//! without waiting, that clamd has neither closed it nor written anything; sessions idle over
//! 30 s are not reused at all. If clamd still closes a reused session before answering, the
//! request goes once more on a fresh connection, which callers do not see, as long as the
//! request is still whole: a command, bytes in memory, or a reader nothing was read from yet.
//! A session is put back only after a clean or found answer; after any error it is closed.

mod address;
mod client;
mod descriptor;
mod error;
mod frame;
mod reply;
mod session;

pub use address::{AddressError, ClamdAddress};
pub use client::{Clamd, ClamdSettings};
pub use error::{ClamdError, Stage};
pub use frame::{CHUNK, TERMINATOR, chunk_header};
pub use reply::{Verdict, parse_scan_reply, strip_session_id};
