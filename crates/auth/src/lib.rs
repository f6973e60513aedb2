//! Mail authentication: SPF, DKIM, DMARC and ARC verified for inbound mail, DKIM and ARC
//! signatures for what sekisho sends or changes. Built on `mail-auth` (pinned to 0.13.3, the
//! last release that builds with mail-parser 0.11).

pub use mail_auth;

pub mod dkim;
pub mod dkim_key;
