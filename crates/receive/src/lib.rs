//! The receive stage: SMTP listeners around the sans-IO session of `sekisho-smtp`.
//!
//! Each connection runs the session over a real socket, upgrades to TLS on STARTTLS (dropping
//! whatever plaintext was pipelined behind it), checks passwords, enforces timeouts and
//! connection limits, and streams DATA into the spool. A message is acknowledged with 250 only
//! after `Queue::commit` returned: body and envelope are on disk.

pub mod approval_notice;
mod attachments;
mod auth;
pub mod cancel_notice;
mod connection;
mod error;
mod inbound;
mod inspector;
mod limits;
mod message;
mod recipients;
pub mod rules;
pub mod rules_notice;
mod senders;
mod server;
mod tls;

pub use error::ReceiveError;
pub use server::Server;
pub use tls::{CertificateError, TlsManager, check_certificate};

/// The directory `[ldap]` configures, if any.
pub fn directory(config: &sekisho_config::Config) -> Option<sekisho_directory::Directory> {
    let l = &config.ldap;
    l.url.as_ref().map(|url| {
        sekisho_directory::Directory::new(sekisho_directory::DirectorySettings {
            url: url.clone(),
            bind_dn: l.bind_dn.clone(),
            bind_password: l.bind_password.clone(),
            base_dn: l.base_dn.clone(),
            timeout: l.timeout.0,
        })
    })
}
