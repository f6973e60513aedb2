//! How sekisho reaches another mail server and what the session proves: routing, MX
//! resolution, the SMTP client (sans-IO core), TLS grading, MTA-STS, DANE, the per-destination
//! policy step and the TLS checker built on them. Shared by delivery and the portal's checker,
//! so both plan a destination the same way.

pub mod check;
pub mod client;
pub mod destination;
mod error;
pub mod https;
pub mod public;
pub mod resolve;
pub mod route;
pub mod sts;
pub mod tls;
pub mod tlsrpt;
pub mod web;

pub use error::SetupError;

use client::session::Timeouts;
use sts::FetchSettings;

/// Where and how long MTA-STS policies are fetched, from `[mta_sts]`.
pub fn sts_settings(c: &sekisho_config::MtaStsConfig) -> FetchSettings {
    FetchSettings { port: c.port, timeout: c.timeout.0, reach: public::Reach::Any }
}

/// The RFC 5321 §4.5.3.2 timeouts configured in `[delivery]`.
pub fn timeouts(d: &sekisho_config::DeliveryConfig) -> Timeouts {
    Timeouts {
        connect: d.connect_timeout.0,
        greeting: d.greeting_timeout.0,
        mail: d.mail_timeout.0,
        rcpt: d.rcpt_timeout.0,
        data_init: d.data_timeout.0,
        block: d.block_timeout.0,
        done: d.done_timeout.0,
    }
}
