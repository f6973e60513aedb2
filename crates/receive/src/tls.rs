//! The STARTTLS certificate: loaded from PEM files, generated self-signed on first start when
//! none is configured, and reloaded when the files change (checked at each STARTTLS) so a
//! renewed certificate needs no restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::ReceiveError;

/// Holds the current TLS acceptor and reloads it when the certificate files change.
pub struct TlsManager {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<(TlsAcceptor, Option<SystemTime>)>,
}

impl TlsManager {
    /// Loads the certificate; when `self_signed` and the files do not exist yet, generates a
    /// self-signed certificate for `hostname` first.
    pub fn load(cert: &Path, key: &Path, self_signed: bool, hostname: &str) -> Result<TlsManager, ReceiveError> {
        if self_signed && !(cert.exists() && key.exists()) {
            generate_self_signed(cert, key, hostname)?;
            tracing::info!(certificate = %cert.display(), "generated a self-signed certificate");
        }
        let acceptor = build(cert, key)?;
        let stamp = stamp(cert, key);
        Ok(TlsManager { cert: cert.to_path_buf(), key: key.to_path_buf(), state: Mutex::new((acceptor, stamp)) })
    }

    /// The acceptor to use now; reloads first if the files changed. A broken new certificate is
    /// logged and the previous one stays in use.
    pub fn acceptor(&self) -> TlsAcceptor {
        let mut state = self.state.lock().expect("tls state lock");
        let now = stamp(&self.cert, &self.key);
        if now != state.1 {
            match build(&self.cert, &self.key) {
                Ok(a) => {
                    tracing::info!(certificate = %self.cert.display(), "TLS certificate reloaded");
                    *state = (a, now);
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate changed but cannot be used; keeping the previous one");
                    state.1 = now;
                }
            }
        }
        state.0.clone()
    }
}

fn stamp(cert: &Path, key: &Path) -> Option<SystemTime> {
    let c = std::fs::metadata(cert).and_then(|m| m.modified()).ok()?;
    let k = std::fs::metadata(key).and_then(|m| m.modified()).ok()?;
    Some(c.max(k))
}

/// Why a certificate and key cannot serve the listeners.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The certificate file is unreadable or not PEM certificates.
    #[error("{}: {message}", path.display())]
    Certificate { path: PathBuf, message: String },
    /// The certificate file holds no certificate (a key given in its place, say).
    #[error("{}: no certificate in the file (is it the key?)", path.display())]
    NoCertificate { path: PathBuf },
    /// The key file is unreadable or holds no private key.
    #[error("{}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    /// The key is not the certificate's own.
    #[error("{} is not the key of the certificate {} ({message})", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf, message: String },
}

impl From<CertificateError> for ReceiveError {
    fn from(e: CertificateError) -> ReceiveError {
        let path = match &e {
            CertificateError::Certificate { path, .. } | CertificateError::NoCertificate { path } => path.clone(),
            CertificateError::Key { path, .. } => path.clone(),
            CertificateError::Mismatch { key, .. } => key.clone(),
        };
        ReceiveError::Tls { path, message: e.to_string() }
    }
}

/// Loads `cert` and `key` as the listeners would: both readable PEM, a certificate in the
/// first, a private key in the second, and the key the certificate's own.
pub fn check_certificate(cert: &Path, key: &Path) -> Result<(), CertificateError> {
    load(cert, key).map(|_| ())
}

fn build(cert: &Path, key: &Path) -> Result<TlsAcceptor, ReceiveError> {
    Ok(load(cert, key)?)
}

fn load(cert: &Path, key: &Path) -> Result<TlsAcceptor, CertificateError> {
    let bad_cert =
        |e: &dyn std::fmt::Display| CertificateError::Certificate { path: cert.into(), message: e.to_string() };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad_cert(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad_cert(&e))?;
    if certs.is_empty() {
        return Err(CertificateError::NoCertificate { path: cert.into() });
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| CertificateError::Key { path: key.into(), message: e.to_string() })?;
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_cert(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                CertificateError::Mismatch { cert: cert.into(), key: key.into(), message: e.to_string() }
            }
            e => bad_cert(&e),
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn generate_self_signed(cert: &Path, key: &Path, hostname: &str) -> Result<(), ReceiveError> {
    let err = |message: String| ReceiveError::Tls { path: cert.to_path_buf(), message };
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).map_err(|e| err(e.to_string()))?;
    if let Some(dir) = cert.parent() {
        sekisho_store::private::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    sekisho_store::private::write(key, generated.key_pair.serialize_pem().as_bytes())
        .map_err(|e| err(e.to_string()))?;
    // The certificate is public, but it lives in the data directory, where nothing is
    // readable by others.
    sekisho_store::private::write(cert, generated.cert.pem().as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// "TLSv1.3" and the cipher suite name of an established server connection.
pub(crate) fn describe(conn: &rustls::ServerConnection) -> (String, String) {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let cipher = conn.negotiated_cipher_suite().map_or("unknown".to_string(), |s| format!("{:?}", s.suite()));
    (version, cipher)
}
