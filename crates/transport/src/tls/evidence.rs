//! What a delivery session proves about its transport: recorded with every attempt.

use serde::{Deserialize, Serialize};

use super::assurance::Assurance;
use super::dane::DaneEvidence;
use super::verifier::PkixResult;
use crate::sts::{Mode, StsDiscovery, StsLookup};

/// The leaf certificate as presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateInfo {
    pub subject: String,
    pub san: Vec<String>,
    pub issuer: String,
    /// RFC 3339.
    pub not_after: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
}

/// The transport facts of one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsEvidence {
    pub starttls_offered: bool,
    /// "TLSv1.3", when TLS was established.
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub certificate: Option<CertificateInfo>,
    /// Certificate chain valid for the host name (WebPKI roots plus extra_roots).
    pub pkix_valid: bool,
    /// RFC 8460 result type of the failure that limited the assurance, if any.
    pub failure: Option<String>,
    /// A readable account of that failure.
    pub detail: Option<String>,
    pub assurance: Assurance,
    /// What the session itself proved, before any domain policy raised it.
    pub session_assurance: Assurance,
    /// The recipient domain's MTA-STS policy and whether this host met it.
    pub mta_sts: Option<StsHostEvidence>,
    /// The host's DANE TLSA records and whether the certificate matched one.
    pub dane: Option<DaneEvidence>,
    /// The domain reached TLS in recent deliveries and this session reached less.
    pub downgrade_suspected: bool,
    /// The message asked, with `TLS-Required: No` (RFC 8689), to be delivered whatever the
    /// destination's TLS policy says: which policy this session was not held to, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<String>,
}

/// The MTA-STS policy as applied to one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsHostEvidence {
    #[serde(flatten)]
    pub discovery: StsDiscovery,
    /// The MX host matched the policy's `mx` patterns (None without a policy).
    pub mx_matched: Option<bool>,
    /// The session met the policy: matching host, authenticated certificate.
    pub policy_met: Option<bool>,
}

impl TlsEvidence {
    /// A session that stayed in plaintext.
    pub fn plaintext(starttls_offered: bool, failure: Option<(&str, String)>) -> TlsEvidence {
        let (failure, detail) = match failure {
            Some((kind, detail)) => (Some(kind.to_string()), Some(detail)),
            None if !starttls_offered => {
                (Some("starttls-not-supported".to_string()), Some("the server did not offer STARTTLS".to_string()))
            }
            None => (None, None),
        };
        TlsEvidence {
            starttls_offered,
            version: None,
            cipher: None,
            certificate: None,
            pkix_valid: false,
            failure,
            detail,
            assurance: Assurance::None,
            session_assurance: Assurance::None,
            mta_sts: None,
            dane: None,
            downgrade_suspected: false,
            waived: None,
        }
    }

    /// An established TLS session: `pkix` is the verifier's verdict, `leaf` the DER leaf.
    pub fn established(version: &str, cipher: &str, leaf: Option<&[u8]>, pkix: Option<PkixResult>) -> TlsEvidence {
        let modern = version == "TLSv1.3" || version == "TLSv1.2";
        let (pkix_valid, failure, detail) = match pkix {
            Some(Ok(())) => (true, None, None),
            Some(Err((kind, detail))) => (false, Some(kind), Some(detail)),
            None => (false, Some("validation-failure".to_string()), Some("no certificate was checked".to_string())),
        };
        let assurance = match (modern, pkix_valid) {
            (false, _) => Assurance::None,
            (true, false) => Assurance::Encrypted,
            (true, true) => Assurance::Authenticated,
        };
        TlsEvidence {
            starttls_offered: true,
            version: Some(version.to_string()),
            cipher: Some(cipher.to_string()),
            certificate: leaf.and_then(certificate_info),
            pkix_valid,
            failure,
            detail,
            assurance,
            session_assurance: assurance,
            mta_sts: None,
            dane: None,
            downgrade_suspected: false,
            waived: None,
        }
    }

    /// Caps what the session proved at `level`, naming why.
    pub fn limit(&mut self, level: Assurance, failure: &str, detail: String) {
        self.session_assurance = self.session_assurance.min(level);
        self.failure = Some(failure.to_string());
        self.detail = Some(detail);
        self.grade();
    }

    /// Applies the recipient domain's MTA-STS policy to this session (replacing what an
    /// earlier use of a pooled connection recorded): an authenticated session to a host the
    /// `enforce` policy names reaches `mta-sts`.
    pub fn apply_sts(&mut self, lookup: Option<&StsLookup>, host: &str) {
        self.mta_sts = lookup.map(|l| {
            let policy = l.policy();
            let matched = policy.map(|p| p.matches(host));
            StsHostEvidence {
                discovery: l.discovery.clone(),
                mx_matched: matched,
                policy_met: matched.map(|m| m && self.session_assurance >= Assurance::Authenticated),
            }
        });
        self.grade();
    }

    /// Records what DANE found for this session.
    pub fn set_dane(&mut self, dane: Option<DaneEvidence>) {
        self.dane = dane;
        self.grade();
    }

    /// The assurance from what the session proved and the policies it met.
    fn grade(&mut self) {
        let dane = self.dane.as_ref().is_some_and(|d| d.matched.is_some());
        let sts = self
            .mta_sts
            .as_ref()
            .is_some_and(|s| s.discovery.mode == Some(Mode::Enforce) && s.policy_met == Some(true));
        self.assurance = if dane && self.session_assurance >= Assurance::Encrypted {
            Assurance::Dane
        } else if sts {
            Assurance::MtaSts
        } else {
            self.session_assurance
        };
    }
}

/// Reads the fields a person checks from a DER certificate.
pub fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => d.to_string(),
                    GeneralName::IPAddress(ip) => match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(ip);
                            std::net::Ipv6Addr::from(b).to_string()
                        }
                        _ => format!("{ip:?}"),
                    },
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        san,
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_datetime().to_string(),
        spki_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grading() {
        assert_eq!(TlsEvidence::plaintext(false, None).failure.as_deref(), Some("starttls-not-supported"));
        assert_eq!(TlsEvidence::plaintext(true, None).assurance, Assurance::None);
        let ok = TlsEvidence::established("TLSv1.3", "X", None, Some(Ok(())));
        assert_eq!(ok.assurance, Assurance::Authenticated);
        let bad =
            TlsEvidence::established("TLSv1.2", "X", None, Some(Err(("certificate-expired".into(), "expired".into()))));
        assert_eq!((bad.assurance, bad.failure.as_deref()), (Assurance::Encrypted, Some("certificate-expired")));
        assert_eq!(TlsEvidence::established("TLSv1.1", "X", None, Some(Ok(()))).assurance, Assurance::None);
    }
}
