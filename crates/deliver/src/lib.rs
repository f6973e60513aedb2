//! The deliver stage: queued recipients leave. Routing and the retry schedule are pure
//! functions; the SMTP client has a sans-IO core; the worker claims due recipients, delivers
//! each message once per destination, records every attempt, and turns permanent failures and
//! expiries into delivery status notifications.

mod bcc;
pub mod decide;
pub mod dmarc_reports;
pub mod dsn;
mod inbound;
mod leftover;
pub mod outcome;
pub mod pool;
mod presented;
mod reporting;
pub mod requiretls;
mod rules_banner;
mod sanitised;
pub mod schedule;
pub mod session_counts;
mod sign;
mod smime_sign;
pub use smime_sign::{SignerFileError, load_signer as load_smime_signer};
mod spooled;
pub mod tls_reports;
mod variants;
mod worker;

pub use sekisho_transport::{
    SetupError, check, client, destination, resolve, route, sts, sts_settings, timeouts, tls, tlsrpt,
};
pub use worker::{DeliverError, Deliverer};
