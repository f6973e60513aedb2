//! DANE for SMTP (RFC 7672) inside the handshake: the MX host's DNSSEC-validated TLSA records
//! decide whether its certificate is accepted. DANE-EE (usage 3) matches the server's own
//! certificate or key and ignores names and expiry; DANE-TA (usage 2) matches a trust anchor
//! the server presents in its chain, from which the chain must validate for the MX host name.
//! PKIX usages 0 and 1 are not usable for SMTP (RFC 7672 §3.1.3).

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sekisho_dns::Tlsa;
use serde::{Deserialize, Serialize};

/// The record that matched, or an RFC 8460 result type with details.
pub type DaneResult = Result<Tlsa, (String, String)>;

/// The records RFC 7672 lets an SMTP client use: DANE-TA(2) and DANE-EE(3) with a known
/// selector and matching type. When none is usable, DANE does not apply (§2.2).
pub fn usable(records: &[Tlsa]) -> Vec<Tlsa> {
    records.iter().filter(|r| matches!(r.usage, 2 | 3) && r.selector <= 1 && r.matching <= 2).cloned().collect()
}

/// True when `cert` (DER) matches the record's selector and matching type.
pub fn cert_matches(cert: &[u8], record: &Tlsa) -> bool {
    let selected: Vec<u8> = match record.selector {
        0 => cert.to_vec(),
        1 => match x509_parser::parse_x509_certificate(cert) {
            Ok((_, c)) => c.public_key().raw.to_vec(),
            Err(_) => return false,
        },
        _ => return false,
    };
    let digest = |alg| ring::digest::digest(alg, &selected).as_ref().to_vec();
    let value = match record.matching {
        0 => selected,
        1 => digest(&ring::digest::SHA256),
        2 => digest(&ring::digest::SHA512),
        _ => return false,
    };
    value == record.data
}

/// Checks the presented chain against usable `records` for `name` (the MX host).
pub fn check(
    records: &[Tlsa],
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    now: UnixTime,
    provider: &Arc<CryptoProvider>,
) -> DaneResult {
    if let Some(r) = records.iter().find(|r| r.usage == 3 && cert_matches(end_entity, r)) {
        return Ok(r.clone());
    }
    let mut why = "no TLSA record matches the server's certificate or its chain".to_string();
    for r in records.iter().filter(|r| r.usage == 2) {
        for anchor in intermediates.iter().filter(|c| cert_matches(c, r)) {
            let mut roots = RootCertStore::empty();
            if roots.add(anchor.clone()).is_err() {
                continue;
            }
            let verifier = match WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()
            {
                Ok(v) => v,
                Err(_) => continue,
            };
            match verifier.verify_server_cert(end_entity, intermediates, name, &[], now) {
                Ok(_) => return Ok(r.clone()),
                Err(e) => why = format!("the chain from the DANE-TA trust anchor does not validate: {e}"),
            }
        }
    }
    Err(("tlsa-invalid".to_string(), why))
}

/// What DANE found for one session, recorded with the attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaneEvidence {
    /// DNSSEC status of the TLSA lookup (`secure`, `insecure`, or `bogus`).
    pub dnssec: String,
    /// The usable TLSA records of the host.
    pub records: Vec<Tlsa>,
    /// The record that matched the certificate.
    pub matched: Option<Tlsa>,
    /// RFC 8460 result type when DANE failed.
    pub failure: Option<String>,
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa { usage, selector, matching, data }
    }

    #[test]
    fn only_dane_ta_and_dane_ee_are_usable() {
        let records = [tlsa(0, 0, 1, vec![1]), tlsa(1, 1, 1, vec![1]), tlsa(2, 0, 1, vec![1]), tlsa(3, 1, 1, vec![1])];
        let u = usable(&records);
        assert_eq!(u.iter().map(|r| r.usage).collect::<Vec<_>>(), [2, 3]);
        assert!(usable(&[tlsa(3, 2, 1, vec![1]), tlsa(3, 1, 3, vec![1])]).is_empty(), "unknown selector/matching");
    }

    #[test]
    fn selectors_and_matching_types() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.example".into()]).unwrap().self_signed(&key).unwrap();
        let der = cert.der().to_vec();
        let spki = key.public_key_der();
        let sha256 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec();
        let sha512 = |b: &[u8]| ring::digest::digest(&ring::digest::SHA512, b).as_ref().to_vec();
        assert!(cert_matches(&der, &tlsa(3, 0, 0, der.clone())));
        assert!(cert_matches(&der, &tlsa(3, 0, 1, sha256(&der))));
        assert!(cert_matches(&der, &tlsa(3, 1, 1, sha256(&spki))));
        assert!(cert_matches(&der, &tlsa(3, 1, 2, sha512(&spki))));
        assert!(!cert_matches(&der, &tlsa(3, 1, 1, sha256(&der))), "SPKI selector hashes the key, not the certificate");
        assert!(!cert_matches(&der, &tlsa(3, 0, 1, vec![0; 32])));
    }
}
