//! Mail authentication: SPF, DKIM, DMARC and ARC verified for inbound mail, DKIM and ARC
//! signatures for what sekisho sends or changes, and the reports other organisations send about
//! ours. Built on `mail-auth` (pinned to 0.13.3, the last release that builds with mail-parser
//! 0.11).
//!
//! Inbound: [`Verifier::verify`] runs every check of one message within a time budget and
//! gives the [`sekisho_policy::sender::AuthenticationRecord`] kept with it (with the
//! Authentication-Results field delivery adds) and the facts [`policy::decide`] (pure) turns
//! into deliver, quarantine or reject; [`results::findings`] (pure) gives the `dmarc-fail`,
//! `spf-fail` and `dkim-fail` findings.
//!
//! Changed inbound mail: [`ArcSigner::seal`] adds an ARC set (`[authentication.arc_seal]`).
//!
//! What sekisho sends: [`dkim`] signs it with the keys of [`dkim_key`].
//!
//! Reports sekisho sends about the mail it received: [`aggregate`] (pure: the DMARC aggregate
//! report's rows from each message's results, the RFC 7489 XML, the `rua` destinations) and
//! [`failure`] (pure: whether a message's failure is reported (`fo=`), redaction, rate limits).
//!
//! Reports other organisations send: [`received::parse_received`].

pub mod aggregate;
mod arc_seal;
pub mod cache;
pub mod dkim;
pub mod dkim_key;
pub mod failure;
pub mod policy;
pub mod received;
pub mod results;
mod verify;

pub use arc_seal::{ArcSigner, SealError};
pub use mail_auth;
pub use verify::{Arrival, AuthError, Verified, Verifier};
