//! Inbound protection, after the message is opened ([`sekisho_inspect::content`]): every file
//! is scanned by the antivirus ([`scan`]), classified Safe / Danger / Unsupported / Error with
//! its reason ([`classify`]), and the policy picks what happens to the message ([`decide`]).
//! Classification and decision are pure; only the scan does I/O, through [`Antivirus`].

#![warn(missing_docs)]

mod antivirus;
pub mod classify;
pub mod decide;
pub mod passwords;
pub mod sanitise;
pub mod scan;

pub use antivirus::{Antivirus, NoAntivirus, Scan, configured};
pub use classify::classify;
pub use decide::{Decision, decide, decide_sanitised};
pub use passwords::open_with_message_passwords;
pub use sanitise::{Originals, sanitise_copies, sanitise_originals};
pub use scan::{Hashes, Scans, hash_all, scan_all, scan_hashed};
