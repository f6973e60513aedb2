//! A throw-away certificate authority and server certificate for STARTTLS tests.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// PEM files of a test CA and a server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate clients trust.
    pub ca_path: PathBuf,
    /// The CA certificate as PEM.
    pub ca_pem: String,
    /// The server certificate chain.
    pub cert_path: PathBuf,
    /// The server key.
    pub key_path: PathBuf,
}

impl TestPki {
    /// Writes a CA and a server certificate for `hostname`, `localhost` and 127.0.0.1 to `dir`.
    pub fn generate(dir: &Path, hostname: &str) -> TestPki {
        Self::generate_named(dir, hostname, "server")
    }

    /// Like `generate`, with the server certificate's common name set to `cn` (to tell
    /// certificates apart in reload tests).
    pub fn generate_named(dir: &Path, hostname: &str, cn: &str) -> TestPki {
        Self::generate_full(dir, hostname, cn, false)
    }

    /// SHA-256 of the server certificate's SubjectPublicKeyInfo: the data of a "3 1 1" TLSA
    /// record.
    pub fn cert_spki_sha256(&self) -> Vec<u8> {
        spki_sha256(&std::fs::read_to_string(&self.cert_path).expect("server certificate"))
    }

    /// SHA-256 of the CA certificate's SubjectPublicKeyInfo: the data of a "2 1 1" TLSA record.
    pub fn ca_spki_sha256(&self) -> Vec<u8> {
        spki_sha256(&self.ca_pem)
    }

    /// A self-signed server certificate for `hostname` (no CA: `ca_path` holds the certificate
    /// itself).
    pub fn generate_self_signed(dir: &Path, hostname: &str) -> TestPki {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![hostname.to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, hostname);
        let cert = params.self_signed(&key).expect("self-signed cert");
        std::fs::create_dir_all(dir).expect("pki dir");
        let pki = TestPki {
            ca_path: dir.join("self-signed.pem"),
            ca_pem: cert.pem(),
            cert_path: dir.join("self-signed.pem"),
            key_path: dir.join("self-signed.key"),
        };
        std::fs::write(&pki.cert_path, cert.pem()).expect("write cert");
        std::fs::write(&pki.key_path, key.serialize_pem()).expect("write key");
        pki
    }

    /// A server certificate that expired in 2020.
    pub fn generate_expired(dir: &Path, hostname: &str) -> TestPki {
        Self::generate_full(dir, hostname, "expired", true)
    }

    fn generate_full(dir: &Path, hostname: &str, cn: &str, expired: bool) -> TestPki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "sekisho test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA cert");

        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec![hostname.to_string(), "localhost".into(), "127.0.0.1".into()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &ca_cert, &ca_key).expect("server cert");

        std::fs::create_dir_all(dir).expect("pki dir");
        let pki = TestPki {
            ca_path: dir.join(format!("{cn}-ca.pem")),
            ca_pem: ca_cert.pem(),
            cert_path: dir.join(format!("{cn}.pem")),
            key_path: dir.join(format!("{cn}.key")),
        };
        std::fs::write(&pki.ca_path, &pki.ca_pem).expect("write CA");
        std::fs::write(&pki.cert_path, cert.pem()).expect("write cert");
        std::fs::write(&pki.key_path, key.serialize_pem()).expect("write key");
        pki
    }
}

/// SHA-256 of the SubjectPublicKeyInfo of the first certificate in `pem`.
fn spki_sha256(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let block = pem.split("-----BEGIN CERTIFICATE-----").nth(1).expect("certificate in PEM");
    let b64: String = block.split("-----END").next().unwrap_or_default().split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64 certificate");
    let hex = sekisho_deliver::tls::evidence::certificate_info(&der).expect("certificate").spki_sha256;
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}
