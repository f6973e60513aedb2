//! What the configuration names on disk, loaded the way `serve` will load it: the listeners'
//! certificate and key, the extra roots for outbound TLS, the directory's CA, the DNSSEC trust anchor, the ARC
//! sealing key, the S/MIME roots and signers, the store key (`crate::store_key`). Run by
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
    if let Some(ca) = &config.ldap.ca_file
        && let Err(e) = sekisho_deliver::tls::TlsClient::new(std::slice::from_ref(ca))
    {
        return Err(config.error_at("ldap.ca_file", e.to_string()));
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
    smime(config)?;
    crate::store_key::check(config)
}

/// `[smime] roots` and each `[[smime.sign]]` table's chain and key.
fn smime(config: &Config) -> Result<(), ConfigError> {
    for path in &config.smime.roots {
        let roots = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| sekisho_smime::Trust::from_pem(&pem).map_err(|e| e.to_string()));
        match roots {
            Err(e) => return Err(config.error_at("smime.roots", format!("{}: {e}", path.display()))),
            Ok(t) if t.is_empty() => {
                return Err(config.error_at("smime.roots", format!("{}: holds no CERTIFICATE block", path.display())));
            }
            Ok(_) => {}
        }
    }
    for (i, table) in config.smime.sign.iter().enumerate() {
        use sekisho_deliver::SignerFileError as E;
        match sekisho_deliver::load_smime_signer(table) {
            Ok(_) => {}
            Err(E::Certificate(e)) => return Err(config.error_at(&format!("smime.sign.{i}.certificate"), e)),
            Err(E::Key(e)) => return Err(config.error_at(&format!("smime.sign.{i}.key"), e)),
        }
    }
    Ok(())
}
