//! Why the transport could not be set up from the configuration.

/// A setup failure: the files and services a delivery or a check needs.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file of `[tls] extra_roots` is unreadable or holds no usable certificate.
    #[error("{}: {message}", path.display())]
    Roots { path: std::path::PathBuf, message: String },
    /// The certificate verifier could not be built from the roots.
    #[error("certificate verifier: {0}")]
    Verifier(String),
    /// The resolver could not be built (servers, trust anchor).
    #[error(transparent)]
    Dns(#[from] sekisho_dns::DnsError),
}
