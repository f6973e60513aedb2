//! What the configuration names on disk, loaded the way `serve` will load it: the listeners'
//! certificate and key, the extra roots for outbound TLS, the DNSSEC trust anchor, the ARC
//! sealing key, the store key (`crate::store_key`). Run by
//! `config check` and before `serve` starts, so a bad file is a configuration error (exit 2)
//! that names the file, the line and the key.

use sekisho_config::{Config, ConfigError};

/// Checks every file the configuration names.
pub(crate) fn check(config: &Config) -> Result<(), ConfigError> {
    if let (Some(cert), Some(key)) = (&config.tls.certificate, &config.tls.key) {
        for (name, path) in [("tls.certificate", cert), ("tls.key", key)] {
            if !path.is_file() {
                return Err(config.error_at(name, format!("{} is not a file", path.display())));
            }
        }
        if let Err(e) = sekisho_receive::check_certificate(cert, key) {
            use sekisho_receive::CertificateError as E;
            let name = match e {
                E::Key { .. } | E::Mismatch { .. } => "tls.key",
                E::Certificate { .. } | E::NoCertificate { .. } => "tls.certificate",
            };
            return Err(config.error_at(name, e.to_string()));
        }
    }
    if let Err(e) = sekisho_deliver::tls::TlsClient::new(&config.tls.extra_roots) {
        return Err(config.error_at("tls.extra_roots", e.to_string()));
    }
    if config.dns.dnssec
        && let Some(anchor) = &config.dns.trust_anchor
        && let Err(e) = sekisho_dns::check_trust_anchor(anchor)
    {
        return Err(config.error_at("dns.trust_anchor", e.to_string()));
    }
    if let Some(seal) = &config.authentication.arc_seal
        && let Err(e) = sekisho_auth::ArcSigner::load(seal)
    {
        return Err(config.error_at("authentication.arc_seal.key_file", e.to_string()));
    }
    crate::store_key::check(config)
}
