//! Certificates: the configured roots, the addresses a certificate is for, signatures of one
//! certificate by another, and the chain from a signer to a root.

use der::{Decode as _, Encode as _};
use ring::signature;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use crate::error::{Failure, SmimeError};
use crate::oids;

/// Chains longer than this are not followed.
const MAX_CHAIN: usize = 8;

/// The roots inbound signatures must chain to (`[smime] roots`).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub(crate) roots: Vec<Certificate>,
}

impl Trust {
    /// The certificates of a PEM file (one or more `CERTIFICATE` blocks; none when the file
    /// holds no PEM block at all).
    pub fn from_pem(pem: &[u8]) -> Result<Trust, SmimeError> {
        if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
            return Ok(Trust::default());
        }
        let roots = Certificate::load_pem_chain(pem).map_err(|e| SmimeError::malformed("the roots' PEM file", e))?;
        Ok(Trust { roots })
    }

    /// Adds the roots of another PEM file.
    pub fn extend(&mut self, other: Trust) {
        self.roots.extend(other.roots);
    }

    /// How many roots there are.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Whether there is no root.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

/// The e-mail addresses a certificate (DER) is for: its SAN rfc822Names, else the subject's
/// emailAddress attributes. Lowercased.
pub fn signer_emails(cert: &Certificate) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(san) = extension::<SubjectAltName>(cert, oids::SUBJECT_ALT_NAME) {
        for name in san.0 {
            if let GeneralName::Rfc822Name(mail) = name {
                out.push(mail.as_str().to_ascii_lowercase());
            }
        }
    }
    if out.is_empty() {
        for rdn in cert.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                if atv.oid == oids::EMAIL_ADDRESS
                    && let Ok(s) = der::asn1::Ia5StringRef::try_from(&atv.value)
                {
                    out.push(s.as_str().to_ascii_lowercase());
                }
            }
        }
    }
    out
}

/// An extension of `cert`, decoded; None when absent or unreadable.
fn extension<T: for<'a> der::Decode<'a>>(cert: &Certificate, oid: der::oid::ObjectIdentifier) -> Option<T> {
    let ext = cert.tbs_certificate.extensions.as_ref()?.iter().find(|e| e.extn_id == oid)?;
    T::from_der(ext.extn_value.as_bytes()).ok()
}

/// Whether `cert` has the extension at all.
fn has_extension(cert: &Certificate, oid: der::oid::ObjectIdentifier) -> bool {
    cert.tbs_certificate.extensions.as_ref().is_some_and(|e| e.iter().any(|e| e.extn_id == oid))
}

/// The subject, as text, for sentences.
pub(crate) fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

/// The subject key identifier, if present.
pub(crate) fn key_id(cert: &Certificate) -> Option<Vec<u8>> {
    extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>(cert, oids::SUBJECT_KEY_ID).map(|k| k.0.as_bytes().to_vec())
}

/// Unix seconds of an X.509 time.
fn secs(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Whether `cert` is valid at `at` (Unix seconds).
pub(crate) fn check_validity(cert: &Certificate, at: u64) -> Result<(), Failure> {
    let validity = &cert.tbs_certificate.validity;
    if at < secs(&validity.not_before) {
        return Err(Failure::NotYetValid { subject: subject(cert) });
    }
    if at > secs(&validity.not_after) {
        return Err(Failure::Expired { subject: subject(cert), not_after: validity.not_after.to_string() });
    }
    Ok(())
}

/// Whether `at` is inside the validity of `cert`.
pub(crate) fn valid_at(cert: &Certificate, at: u64) -> bool {
    let validity = &cert.tbs_certificate.validity;
    secs(&validity.not_before) <= at && at <= secs(&validity.not_after)
}

/// Whether the signer's certificate may sign mail: key usage (when present) allows digital
/// signatures or non-repudiation, extended key usage (when present) names e-mail protection.
pub(crate) fn for_email(cert: &Certificate) -> bool {
    if has_extension(cert, oids::KEY_USAGE) {
        let Some(ku) = extension::<KeyUsage>(cert, oids::KEY_USAGE) else { return false };
        if !(ku.0.contains(KeyUsages::DigitalSignature) || ku.0.contains(KeyUsages::NonRepudiation)) {
            return false;
        }
    }
    if has_extension(cert, oids::EXT_KEY_USAGE) {
        let Some(eku) = extension::<ExtendedKeyUsage>(cert, oids::EXT_KEY_USAGE) else { return false };
        if !eku.0.iter().any(|o| *o == oids::EMAIL_PROTECTION || *o == oids::ANY_EKU) {
            return false;
        }
    }
    true
}

/// A CA that may sign certificates: basicConstraints CA, and keyCertSign when it states its
/// key usage.
fn is_ca(cert: &Certificate) -> bool {
    let signs_certs = !has_extension(cert, oids::KEY_USAGE)
        || extension::<KeyUsage>(cert, oids::KEY_USAGE).is_some_and(|ku| ku.0.contains(KeyUsages::KeyCertSign));
    extension::<BasicConstraints>(cert, oids::BASIC_CONSTRAINTS).is_some_and(|b| b.ca) && signs_certs
}

/// Signature checks one chain may cost at most: each candidate parent whose subject matches
/// costs one, so a message with many look-alike CA certificates cannot make verification
/// expensive.
const MAX_SIGNATURE_CHECKS: u32 = 16;

/// The verification algorithm for a signature made with `alg` (a signature or digest
/// algorithm) by the key `spki`.
pub(crate) fn verify_algorithm(
    alg: der::oid::ObjectIdentifier,
    digest: Option<der::oid::ObjectIdentifier>,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<&'static dyn signature::VerificationAlgorithm, Failure> {
    let key = spki.algorithm.oid;
    let unsupported = || Failure::Unsupported(format!("{alg} with a {key} key"));
    if key == oids::RSA_ENCRYPTION {
        let hash = match alg {
            a if a == oids::SHA256_WITH_RSA => oids::SHA256,
            a if a == oids::SHA384_WITH_RSA => oids::SHA384,
            a if a == oids::SHA512_WITH_RSA => oids::SHA512,
            a if a == oids::RSA_ENCRYPTION => digest.ok_or_else(unsupported)?,
            _ => return Err(unsupported()),
        };
        return Ok(match hash {
            h if h == oids::SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            h if h == oids::SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            h if h == oids::SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            _ => return Err(unsupported()),
        });
    }
    if key == oids::EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok());
        let hash = match alg {
            a if a == oids::ECDSA_SHA256 => oids::SHA256,
            a if a == oids::ECDSA_SHA384 => oids::SHA384,
            a if a == oids::EC_PUBLIC_KEY => digest.ok_or_else(unsupported)?,
            _ => return Err(unsupported()),
        };
        return Ok(match (curve, hash) {
            (Some(c), h) if c == oids::P256 && h == oids::SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
            (Some(c), h) if c == oids::P256 && h == oids::SHA384 => &signature::ECDSA_P256_SHA384_ASN1,
            (Some(c), h) if c == oids::P384 && h == oids::SHA256 => &signature::ECDSA_P384_SHA256_ASN1,
            (Some(c), h) if c == oids::P384 && h == oids::SHA384 => &signature::ECDSA_P384_SHA384_ASN1,
            _ => return Err(unsupported()),
        });
    }
    Err(unsupported())
}

/// Whether `signature` over `message` verifies with `spki`'s key.
pub(crate) fn verify_with(
    spki: &SubjectPublicKeyInfoOwned,
    alg: &'static dyn signature::VerificationAlgorithm,
    message: &[u8],
    sig: &[u8],
) -> bool {
    let key = spki.subject_public_key.raw_bytes();
    signature::UnparsedPublicKey::new(alg, key).verify(message, sig).is_ok()
}

/// Whether `child` was signed by `parent`'s key; a signature check spends one of `budget`.
fn signed_by(child: &Certificate, parent: &Certificate, budget: &mut u32) -> bool {
    if child.tbs_certificate.issuer != parent.tbs_certificate.subject || *budget == 0 {
        return false;
    }
    *budget -= 1;
    let spki = &parent.tbs_certificate.subject_public_key_info;
    let Ok(alg) = verify_algorithm(child.signature_algorithm.oid, None, spki) else { return false };
    let Ok(tbs) = child.tbs_certificate.to_der() else { return false };
    let Some(sig) = child.signature.as_bytes() else { return false };
    verify_with(spki, alg, &tbs, sig)
}

/// Follows `signer` up through `pool` to one of `trust`'s roots; every certificate on the way
/// must be valid at `now`, and every one above the signer a CA.
pub(crate) fn chain_to_root(
    signer: &Certificate,
    pool: &[Certificate],
    trust: &Trust,
    now: u64,
) -> Result<(), Failure> {
    let mut current = signer.clone();
    check_validity(&current, now)?;
    let mut budget = MAX_SIGNATURE_CHECKS;
    for _ in 0..MAX_CHAIN {
        if trust.roots.contains(&current) {
            return Ok(());
        }
        if let Some(root) = trust.roots.iter().find(|r| signed_by(&current, r, &mut budget)) {
            return check_validity(root, now);
        }
        let Some(next) = pool.iter().find(|c| **c != current && signed_by(&current, c, &mut budget)) else {
            if budget == 0 {
                return Err(Failure::TooLarge);
            }
            return Err(Failure::UntrustedRoot { issuer: current.tbs_certificate.issuer.to_string() });
        };
        check_validity(next, now)?;
        if !is_ca(next) {
            return Err(Failure::NotCa { subject: subject(next) });
        }
        current = next.clone();
    }
    Err(Failure::UntrustedRoot { issuer: current.tbs_certificate.issuer.to_string() })
}

/// Parses a certificate's DER.
pub(crate) fn parse(der_bytes: &[u8]) -> Result<Certificate, SmimeError> {
    Certificate::from_der(der_bytes).map_err(|e| SmimeError::malformed("a certificate", e))
}
