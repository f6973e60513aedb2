//! The SMTP client: a sans-IO core (reply parsing, EHLO capabilities, envelope commands, dot
//! stuffing) and the session that drives it over TCP and TLS.

pub mod body;
pub mod ehlo;
pub mod envelope;
pub mod probe;
pub mod reply;
pub mod session;
