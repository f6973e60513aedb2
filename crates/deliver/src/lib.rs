//! The deliver stage: queued recipients leave. Routing and the retry schedule are pure
//! functions; the SMTP client has a sans-IO core; the worker claims due recipients, delivers
//! each message once per destination, records every attempt, and turns permanent failures and
//! expiries into delivery status notifications.

pub mod check;
pub mod client;
pub mod decide;
pub mod destination;
pub mod dsn;
pub mod links;
pub mod outcome;
pub mod pool;
pub mod resolve;
pub mod route;
pub mod schedule;
pub mod sts;
pub mod tls;
mod variants;
mod worker;

pub use worker::{Deliverer, sts_settings, timeouts};
