//! Errors of the receive stage.

use std::path::PathBuf;

/// Why the SMTP server could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// A listener address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind { address: std::net::SocketAddr, source: std::io::Error },
    /// The certificate or key could not be used.
    #[error("TLS certificate {}: {message}", path.display())]
    Tls { path: PathBuf, message: String },
    /// The resolver of the authentication checks could not be built.
    #[error(transparent)]
    Authentication(#[from] sekisho_auth::AuthError),
    /// The directory's TLS could not be set up (`[ldap] ca_file`, `[tls] extra_roots`).
    #[error(transparent)]
    Directory(#[from] sekisho_directory::DirectoryError),
    /// `[findings] country_database` could not be read as a MaxMind database.
    #[error("[findings] country_database {}: {message}", path.display())]
    CountryDatabase { path: PathBuf, message: String },
    /// The resolver of the DNS blocklists (`[reputation]`) could not be built.
    #[error("[reputation]: cannot build the resolver: {0}")]
    Blocklists(#[from] sekisho_dns::DnsError),
    /// The resolver the DMARC failure reports' authorisations are looked up with (`[dns]`)
    /// could not be built.
    #[error("[dns]: cannot build the resolver: {0}")]
    Resolver(sekisho_dns::DnsError),
    /// A file of `[smime] roots` could not be read as PEM certificates.
    #[error("[smime] roots {}: {message}", path.display())]
    SmimeRoots { path: PathBuf, message: String },
}
