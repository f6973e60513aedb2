//! A certificate verifier built for each connection: it validates the chain against the WebPKI
//! roots plus `[tls] extra_roots` for the MX host name and records the result, failing the
//! handshake only when the policy requires an authenticated session (so nothing is sent to a
//! host that cannot prove its name). With the host's DANE TLSA records, the records decide,
//! and a certificate that matches none aborts the handshake.

use std::sync::{Arc, Mutex};

use crate::SetupError;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sekisho_dns::Tlsa;

use super::dane::DaneResult;

/// The outcome of certificate validation: `Ok` or an RFC 8460 result type with details.
pub type PkixResult = Result<(), (String, String)>;

/// TLS towards next hops: trusted roots and the crypto provider.
#[derive(Clone)]
pub struct TlsClient {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl TlsClient {
    /// WebPKI roots plus the PEM certificates in `extra_roots`.
    pub fn new(extra_roots: &[std::path::PathBuf]) -> Result<TlsClient, SetupError> {
        use rustls_pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for path in extra_roots {
            let bad = |e: &dyn std::fmt::Display| SetupError::Roots { path: path.clone(), message: e.to_string() };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))?;
            for cert in certs {
                let cert = cert.map_err(|e| bad(&e))?;
                roots.add(cert).map_err(|e| bad(&e))?;
            }
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| SetupError::Verifier(e.to_string()))?;
        Ok(TlsClient { provider, verifier })
    }

    /// A connector for one connection; `slots` receive the validation results. With `enforce`,
    /// an invalid certificate aborts the handshake; with `tlsa` (usable, DNSSEC-validated
    /// records), a certificate matching none of them does.
    pub fn connector(&self, slots: Slots, enforce: bool, tlsa: Vec<Tlsa>) -> tokio_rustls::TlsConnector {
        let verifier =
            Recording { inner: self.verifier.clone(), slots, enforce, tlsa, provider: self.provider.clone() };
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("TLS 1.2 and 1.3 are supported")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// A connector for HTTPS (MTA-STS policies): the same roots, the certificate always
    /// validated, HTTP/1.1 by ALPN.
    pub fn https_connector(&self) -> tokio_rustls::TlsConnector {
        let mut config = self.validating_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// A client configuration with the same roots that always validates the certificate and
    /// its name (TLS 1.2 and 1.3): for services sekisho uses, such as the directory.
    pub fn validating_config(&self) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("TLS 1.2 and 1.3 are supported")
            .with_webpki_verifier(self.verifier.clone())
            .with_no_client_auth()
    }
}

/// Where a connection's verifier leaves its findings.
#[derive(Debug, Clone, Default)]
pub struct Slots {
    pub pkix: Arc<Mutex<Option<PkixResult>>>,
    pub dane: Arc<Mutex<Option<DaneResult>>>,
}

#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    slots: Slots,
    enforce: bool,
    tlsa: Vec<Tlsa>,
    provider: Arc<CryptoProvider>,
}

/// The RFC 8460 result type for a validation error, and a readable detail.
pub fn classify(e: &rustls::Error) -> (String, String) {
    use rustls::CertificateError as C;
    let kind = match e {
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "certificate-host-mismatch"
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "certificate-expired",
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => "certificate-not-trusted",
        _ => "validation-failure",
    };
    (kind.to_string(), e.to_string())
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        let recorded = result.as_ref().map(|_| ()).map_err(classify);
        *self.slots.pkix.lock().expect("verification slot") = Some(recorded);
        if !self.tlsa.is_empty() {
            // DANE records bind: they decide, whatever PKIX says (RFC 7672 §3).
            let dane = super::dane::check(&self.tlsa, end_entity, intermediates, server_name, now, &self.provider);
            let refused = dane.is_err();
            *self.slots.dane.lock().expect("verification slot") = Some(dane);
            if refused {
                return Err(rustls::Error::General("DANE: no TLSA record matches the certificate".into()));
            }
            return Ok(ServerCertVerified::assertion());
        }
        match result {
            Err(e) if self.enforce => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
