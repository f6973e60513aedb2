//! What the configuration names on disk, loaded the way `serve` will load it: the listeners'
//! certificate and key, the extra roots for outbound TLS, the DNSSEC trust anchor. Run by
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
            let sekisho_receive::ReceiveError::Tls { path, message } = &e else {
                return Err(config.error_at("tls.certificate", e.to_string()));
            };
            // A private key where the certificate belongs, or a key of another certificate.
            let mismatch = message.to_ascii_lowercase().contains("match") || message.contains("inconsistent");
            let no_cert = message.contains("no certificate");
            let name = if !no_cert && (path == key || mismatch) { "tls.key" } else { "tls.certificate" };
            let message = if no_cert {
                format!("{}: no certificate in the file (is it the key?)", cert.display())
            } else if mismatch {
                format!("{} is not the key of the certificate {} ({message})", key.display(), cert.display())
            } else {
                format!("{}: {message}", path.display())
            };
            return Err(config.error_at(name, message));
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
    Ok(())
}
