//! Mail authentication: SPF, DKIM, DMARC and ARC verified for inbound mail, DKIM and ARC
//! signatures for what sekisho sends or changes, and the reports other organisations send about
//! ours. Built on `mail-auth` (pinned to 0.13.3, the last release that builds with mail-parser
//! 0.11).

pub mod received;

pub use mail_auth;
