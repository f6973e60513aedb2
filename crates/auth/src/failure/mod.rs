//! DMARC failure reports (RFC 7489 §7.3, RFC 6591), pure:
//! - [`Failure`]: what a report about one message needs from its checks (carried in
//!   `Verified::failure` when the From domain's record has `ruf=`);
//! - [`asks`]: whether the record's `fo=` asks for a report on this failure;
//! - [`Redactor`]: an allowlist of header fields, local-parts of addresses replaced by a keyed
//!   hash, comments and control characters removed (RFC 6590), so the report shows domains,
//!   not people;
//! - [`Limiter`]: at most one report per reported organisation per interval, a daily cap per
//!   organisation and a daily cap in all.

mod fo;
mod limit;
mod redact;

pub use fo::asks;
pub use limit::{Limited, Limiter, PER_ORGANISATION_DAILY_MAX};
pub use redact::Redactor;

/// What a failure report about one message needs from its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The record's `ruf` URIs as `mailto:ADDRESS` or `mailto:ADDRESS!BYTES`.
    pub ruf: Vec<String>,
    /// The record's `fo`: `0`, `1`, `d`, `s` or `d:s`.
    pub fo: String,
    /// DKIM passed aligned with the header From.
    pub dkim_aligned: bool,
    /// SPF passed aligned with the header From.
    pub spf_aligned: bool,
    /// A DKIM signature failed its evaluation (`fail` or `permerror`), whatever its domain.
    pub dkim_failed: bool,
    /// SPF for the envelope sender (or the HELO name) was `fail`, whatever its domain.
    pub spf_failed: bool,
}
