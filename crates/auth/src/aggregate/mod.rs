//! DMARC aggregate reports (RFC 7489 §7.2) about the mail sekisho received, pure:
//! - [`row`]: one message's results as the report's row (`DmarcRow`), counted as mail arrives;
//! - [`build_report`]: a day's rows of one policy domain as the RFC 7489 Appendix C XML;
//! - [`destinations`], [`needs_authorisation`], [`authorises`], [`refusal`]: where the report
//!   may go (§7.1; `refusal` looks the authorisation up, shared with the failure reports).

mod authorised;
mod row;
mod rua;
mod xml;

pub use authorised::refusal;
pub use row::{Message, Reported, published, row};
pub(crate) use row::{fo_of, mailto_uris};
pub use rua::{Destination, authorises, destinations, needs_authorisation};
pub use xml::{ReportMeta, build_report, policy_of};
