//! Signing: a message becomes `multipart/signed; protocol="application/pkcs7-signature";
//! micalg=sha-256` (RFC 8551 §3.5.3), its content fields and body the signed part, in
//! canonical form, and a detached CMS SignedData with the chain as the second part.

use std::time::Duration;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, OctetString, SetOfVec, UtcTime};
use der::{Decode as _, Encode as _};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::canon::{base64_lines, seven_bit};
use crate::error::SmimeError;
use crate::header;
use crate::oids;

/// The signing key.
enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A signer: the certificate chain (the signer's certificate first) and its private key.
pub struct Signer {
    chain: Vec<Certificate>,
    key: Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("subject", &self.subject()).finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a PEM chain (signer first) and a PEM private key (PKCS#8 `PRIVATE KEY`
    /// or PKCS#1 `RSA PRIVATE KEY`; RSA 2048 bits or more, or ECDSA P-256).
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Signer, SmimeError> {
        let chain =
            Certificate::load_pem_chain(chain_pem).map_err(|e| SmimeError::malformed("the certificate chain", e))?;
        let (label, key_der) =
            der::pem::decode_vec(key_pem).map_err(|e| SmimeError::malformed("the private key's PEM", e))?;
        let key = match label {
            "PRIVATE KEY" => key_from_pkcs8(&key_der)?,
            "RSA PRIVATE KEY" => {
                Key::Rsa(RsaKeyPair::from_der(&key_der).map_err(|e| SmimeError::UnsupportedKey(e.to_string()))?)
            }
            other => return Err(SmimeError::UnsupportedKey(format!("a PEM block labelled {other}"))),
        };
        Signer::new(chain, key)
    }

    fn new(chain: Vec<Certificate>, key: Key) -> Result<Signer, SmimeError> {
        let Some(first) = chain.first() else { return Err(SmimeError::Incomplete("no certificate")) };
        let public = match &key {
            Key::Rsa(k) => k.public_key().as_ref().to_vec(),
            Key::Ecdsa(k) => k.public_key().as_ref().to_vec(),
        };
        if first.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes() != public {
            return Err(SmimeError::KeyMismatch(first.tbs_certificate.subject.to_string()));
        }
        Ok(Signer { chain, key })
    }

    /// The signer certificate's subject.
    pub fn subject(&self) -> String {
        self.chain.first().map(|c| c.tbs_certificate.subject.to_string()).unwrap_or_default()
    }

    /// The addresses the signer's certificate is for.
    pub fn emails(&self) -> Vec<String> {
        self.chain.first().map(crate::certs::signer_emails).unwrap_or_default()
    }

    /// The signer certificate's notAfter, Unix seconds.
    pub fn not_after(&self) -> u64 {
        self.chain.first().map_or(0, |c| c.tbs_certificate.validity.not_after.to_unix_duration().as_secs())
    }

    /// A detached CMS SignedData (DER) over `content`, signed at `now` (Unix seconds).
    pub fn sign_detached(&self, content: &[u8], now: u64) -> Result<Vec<u8>, SmimeError> {
        let failed = |e: der::Error| SmimeError::Signing(e.to_string());
        let digest = ring::digest::digest(&ring::digest::SHA256, content);
        let time = UtcTime::from_unix_duration(Duration::from_secs(now)).map_err(failed)?;
        let attrs = vec![
            attribute(oids::CONTENT_TYPE, Any::encode_from(&oids::DATA).map_err(failed)?)?,
            attribute(oids::SIGNING_TIME, Any::encode_from(&time).map_err(failed)?)?,
            attribute(
                oids::MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest.as_ref()).map_err(failed)?).map_err(failed)?,
            )?,
        ];
        let signed_attrs = SetOfVec::try_from(attrs).map_err(failed)?;
        let to_sign = signed_attrs.to_der().map_err(failed)?;
        let rng = SystemRandom::new();
        let (signature, signature_algorithm) = match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, &to_sign, &mut sig)
                    .map_err(|e| SmimeError::Signing(e.to_string()))?;
                (sig, AlgorithmIdentifierOwned { oid: oids::RSA_ENCRYPTION, parameters: Some(Any::null()) })
            }
            Key::Ecdsa(k) => {
                let sig = k.sign(&rng, &to_sign).map_err(|e| SmimeError::Signing(e.to_string()))?;
                (sig.as_ref().to_vec(), AlgorithmIdentifierOwned { oid: oids::ECDSA_SHA256, parameters: None })
            }
        };
        let cert = &self.chain[0];
        let sha256 = AlgorithmIdentifierOwned { oid: oids::SHA256, parameters: None };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: cert.tbs_certificate.issuer.clone(),
                serial_number: cert.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm,
            signature: OctetString::new(signature).map_err(failed)?,
            unsigned_attrs: None,
        };
        let certificates =
            SetOfVec::try_from(self.chain.iter().cloned().map(CertificateChoices::Certificate).collect::<Vec<_>>())
                .map_err(failed)?;
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).map_err(failed)?,
            encap_content_info: EncapsulatedContentInfo { econtent_type: oids::DATA, econtent: None },
            certificates: Some(CertificateSet(certificates)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(failed)?),
        };
        let info = ContentInfo { content_type: oids::SIGNED_DATA, content: Any::encode_from(&signed).map_err(failed)? };
        info.to_der().map_err(failed)
    }
}

fn attribute(oid: der::oid::ObjectIdentifier, value: AttributeValue) -> Result<Attribute, SmimeError> {
    let values = SetOfVec::try_from(vec![value]).map_err(|e| SmimeError::Signing(e.to_string()))?;
    Ok(Attribute { oid, values })
}

/// An RSA or ECDSA key from PKCS#8 DER.
fn key_from_pkcs8(der_bytes: &[u8]) -> Result<Key, SmimeError> {
    let info = pkcs8::PrivateKeyInfo::from_der(der_bytes).map_err(|e| SmimeError::malformed("the private key", e))?;
    let alg = info.algorithm.oid;
    if alg == oids::RSA_ENCRYPTION {
        return RsaKeyPair::from_pkcs8(der_bytes).map(Key::Rsa).map_err(|e| SmimeError::UnsupportedKey(e.to_string()));
    }
    if alg == oids::EC_PUBLIC_KEY {
        let curve = info.algorithm.parameters_oid().map_err(|e| SmimeError::malformed("the key's curve", e))?;
        if curve != oids::P256 {
            return Err(SmimeError::UnsupportedKey(format!("an EC key on curve {curve} (P-256 signs)")));
        }
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, der_bytes, &SystemRandom::new())
                .map_err(|e| SmimeError::UnsupportedKey(format!("P-256: {e}")))?;
        return Ok(Key::Ecdsa(pair));
    }
    Err(SmimeError::UnsupportedKey(format!("algorithm {alg}")))
}

/// The public key (as a certificate's subjectPublicKey holds it) of a PKCS#8 private key.
pub(crate) fn public_key_of(key_pkcs8: &[u8]) -> Result<Vec<u8>, SmimeError> {
    Ok(match key_from_pkcs8(key_pkcs8)? {
        Key::Rsa(k) => k.public_key().as_ref().to_vec(),
        Key::Ecdsa(k) => k.public_key().as_ref().to_vec(),
    })
}

/// A signer from PKCS#8 DER and a chain of DER certificates (what `read_pkcs12` gives).
pub(crate) fn signer_from_der(chain: &[Vec<u8>], key_pkcs8: &[u8]) -> Result<Signer, SmimeError> {
    let chain = chain.iter().map(|c| crate::certs::parse(c)).collect::<Result<Vec<_>, _>>()?;
    Signer::new(chain, key_from_pkcs8(key_pkcs8)?)
}

/// `message` (a whole RFC 5322 message) signed by `signer` at `now` (Unix seconds): the
/// header fields other than Content-* stay outside; the Content-* fields and the body, with
/// CRLF line endings and 8-bit leaves re-encoded as base64, are the signed part.
pub fn sign_message(signer: &Signer, message: &[u8], now: u64) -> Result<Vec<u8>, SmimeError> {
    let message = header::crlf(message);
    let (fields_end, body_start) = header::split(&message);
    if fields_end == 0 {
        return Err(SmimeError::NoHeader);
    }
    let fields = header::fields(&message[..fields_end]);
    let mut outer = Vec::with_capacity(fields_end + 256);
    let mut inner = Vec::with_capacity(message.len() + 64);
    let mut has_content_type = false;
    for f in &fields {
        let lower = f.name.to_ascii_lowercase();
        if lower.starts_with("content-") {
            has_content_type |= lower == "content-type";
            inner.extend_from_slice(f.raw);
        } else if lower != "mime-version" {
            outer.extend_from_slice(f.raw);
        }
    }
    if !has_content_type {
        inner.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n");
    }
    inner.extend_from_slice(b"\r\n");
    inner.extend_from_slice(&message[body_start..]);
    let inner = seven_bit(&inner);
    let cms = signer.sign_detached(&inner, now)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &inner);
    let boundary: String = digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
    let boundary = format!("----=_sekisho-smime-{boundary}");
    let mut out = outer;
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n boundary=\"{boundary}\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--{boundary}\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&inner);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Description: S/MIME Cryptographic Signature\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&base64_lines(&cms));
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(out)
}
