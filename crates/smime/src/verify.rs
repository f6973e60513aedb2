//! Verifying an inbound message's S/MIME signature: detached (`multipart/signed`) or opaque
//! (`application/pkcs7-mime; smime-type=signed-data`), the chain to the configured roots,
//! the signer's address against the header From, the validity, the digest. Bounded by
//! `Limits`; malformed input gives a `Failure`, never a panic.

use base64::Engine as _;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::OctetString;
use der::{Decode as _, Encode as _};
use x509_cert::Certificate;
use x509_cert::time::Time;

use crate::certs::{self, Trust};
use crate::error::Failure;
use crate::header::{self, ContentType};
use crate::oids;

/// How the signature is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `multipart/signed` with an `application/pkcs7-signature` part.
    Detached,
    /// `application/pkcs7-mime; smime-type=signed-data`, the content inside the CMS.
    Opaque,
}

impl Kind {
    /// The word for the trace and the findings.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Detached => "detached",
            Kind::Opaque => "opaque",
        }
    }
}

/// What verification reads at most.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The signature's CMS structure, decoded (bytes).
    pub max_signature: usize,
    /// The whole message (bytes); a larger signed message is `TooLarge`.
    pub max_message: usize,
    /// Certificates read from one signature.
    pub max_certificates: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_signature: 1 << 20, max_message: 64 << 20, max_certificates: 32 }
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valid {
    /// The signer's address (the header From's, as the certificate has it).
    pub signer: String,
    /// The signer certificate's subject.
    pub subject: String,
    /// The certificate's issuer.
    pub issuer: String,
}

/// The result of looking at a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// How the signature was carried.
    pub kind: Kind,
    /// Valid, or why not.
    pub result: Result<Valid, Failure>,
}

/// The kind of S/MIME signature the top-level entity of `message` carries, if any.
pub fn signed_kind(message: &[u8]) -> Option<Kind> {
    let (fields_end, _) = header::split(message);
    kind_of(&header::content_type(&header::fields(&message[..fields_end])))
}

fn kind_of(ct: &ContentType) -> Option<Kind> {
    match ct.mime.as_str() {
        "multipart/signed" => {
            let protocol = ct.param("protocol").unwrap_or("").to_ascii_lowercase();
            matches!(protocol.as_str(), "application/pkcs7-signature" | "application/x-pkcs7-signature")
                .then_some(Kind::Detached)
        }
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            let smime_type = ct.param("smime-type").unwrap_or("").to_ascii_lowercase();
            let name = ct.param("name").unwrap_or("").to_ascii_lowercase();
            (smime_type == "signed-data" || (smime_type.is_empty() && name.ends_with(".p7m"))).then_some(Kind::Opaque)
        }
        _ => None,
    }
}

/// Verifies the S/MIME signature of `message` at `now` (Unix seconds); None when the message
/// is not S/MIME-signed at its top level.
pub fn verify_message(message: &[u8], trust: &Trust, now: u64, limits: &Limits) -> Option<Verification> {
    let kind = signed_kind(message)?;
    if message.len() > limits.max_message {
        return Some(Verification { kind, result: Err(Failure::TooLarge) });
    }
    let message = header::crlf(message);
    let result = verify_kind(&message, kind, trust, now, limits);
    Some(Verification { kind, result })
}

/// The top-level fields that must appear once: with two of them, readers disagree about which
/// applies, so what is verified might not be what is shown.
const ONCE: [&str; 3] = ["Content-Type", "MIME-Version", "From"];

fn verify_kind(message: &[u8], kind: Kind, trust: &Trust, now: u64, limits: &Limits) -> Result<Valid, Failure> {
    let (fields_end, body_start) = header::split(message);
    let fields = header::fields(&message[..fields_end]);
    for name in ONCE {
        let n = fields.iter().filter(|f| f.is(name)).count();
        if n > 1 {
            return Err(malformed(format!("the message has {n} {name} fields")));
        }
    }
    let ct = header::content_type(&fields);
    let body = &message[body_start..];
    let from = sole_from(&message[..body_start])?;
    match kind {
        Kind::Detached => {
            let boundary = ct.param("boundary").ok_or_else(|| malformed("multipart/signed without a boundary"))?;
            let parts = header::multipart(body, boundary);
            // Exactly the signed part and its signature: a part more (or one never closed) would
            // be shown by mail programs without being signed.
            let [(cs, ce), (ss, se)] = parts.parts[..] else {
                return Err(malformed(format!("multipart/signed with {} parts, not 2", parts.parts.len())));
            };
            if !parts.closed {
                return Err(malformed("multipart/signed without its closing delimiter"));
            }
            let sig_entity = &body[ss..se];
            let (sig_fields_end, sig_body) = header::split(sig_entity);
            let sig_fields = header::fields(&sig_entity[..sig_fields_end]);
            let sig_ct = header::content_type(&sig_fields);
            if !matches!(sig_ct.mime.as_str(), "application/pkcs7-signature" | "application/x-pkcs7-signature") {
                return Err(malformed("the second part is not application/pkcs7-signature"));
            }
            let der = decoded(&sig_fields, &sig_entity[sig_body..], limits)?;
            verify_cms(&der, Some(&body[cs..ce]), trust, now, Some(&from), limits)
        }
        Kind::Opaque => {
            let der = decoded(&fields, body, limits)?;
            verify_cms(&der, None, trust, now, Some(&from), limits)
        }
    }
}

fn malformed(what: impl std::fmt::Display) -> Failure {
    Failure::Malformed(what.to_string())
}

/// The body of a signature part, decoded from its transfer encoding, within the limit.
fn decoded(fields: &[header::Field<'_>], body: &[u8], limits: &Limits) -> Result<Vec<u8>, Failure> {
    let encoding = fields
        .iter()
        .find(|f| f.is("Content-Transfer-Encoding"))
        .map(|f| f.value().to_ascii_lowercase())
        .unwrap_or_default();
    if encoding != "base64" {
        if body.len() > limits.max_signature {
            return Err(Failure::TooLarge);
        }
        return Ok(body.to_vec());
    }
    if body.len() / 4 * 3 > limits.max_signature + limits.max_signature / 8 + 1024 {
        return Err(Failure::TooLarge);
    }
    let text: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(&text).map_err(|e| malformed(format!("base64: {e}")))?;
    if der.len() > limits.max_signature {
        return Err(Failure::TooLarge);
    }
    Ok(der)
}

/// The one address of the header From of a message, lowercased: a message with several From
/// fields, or a From with several mailboxes (or none), cannot be bound to one signer.
pub fn sole_from(head: &[u8]) -> Result<String, Failure> {
    let (fields_end, _) = header::split(head);
    let n = header::fields(&head[..fields_end]).iter().filter(|f| f.is("From")).count();
    if n > 1 {
        return Err(malformed(format!("the message has {n} From fields")));
    }
    let parsed = mail_parser::MessageParser::new().parse_headers(head);
    let from = parsed.as_ref().and_then(|p| p.from());
    let mut all = from.into_iter().flat_map(|f| f.iter());
    match (all.next().and_then(|a| a.address()), all.next()) {
        (Some(address), None) => Ok(address.to_ascii_lowercase()),
        (None, _) => Err(Failure::FromMismatch { from: String::new(), signer: Vec::new() }),
        (Some(_), Some(_)) => Err(malformed("the From field names more than one mailbox")),
    }
}

/// The header From's (first) address of a message or header block, lowercased.
pub fn header_from(head: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(head)?;
    let from = parsed.from()?;
    from.first().and_then(|a| a.address()).map(|a| a.to_ascii_lowercase())
}

/// Verifies a CMS SignedData: over `detached` when given, else over its own content.
fn verify_cms(
    der: &[u8],
    detached: Option<&[u8]>,
    trust: &Trust,
    now: u64,
    from: Option<&str>,
    limits: &Limits,
) -> Result<Valid, Failure> {
    let der = crate::ber::to_der(der).map_err(malformed)?;
    let info = ContentInfo::from_der(&der).map_err(|e| malformed(format!("ContentInfo: {e}")))?;
    if info.content_type != oids::SIGNED_DATA {
        return Err(malformed(format!("content type {} is not signed-data", info.content_type)));
    }
    let signed: SignedData = info.content.decode_as().map_err(|e| malformed(format!("SignedData: {e}")))?;
    let own;
    let content: &[u8] = match detached {
        Some(c) => c,
        None => {
            let econtent = signed.encap_content_info.econtent.as_ref().ok_or_else(|| malformed("no content inside"))?;
            own = econtent.decode_as::<OctetString>().map_err(|e| malformed(format!("content: {e}")))?;
            own.as_bytes()
        }
    };
    let mut pool: Vec<Certificate> = Vec::new();
    if let Some(set) = &signed.certificates {
        if set.0.len() > limits.max_certificates {
            return Err(Failure::TooLarge);
        }
        for choice in set.0.iter() {
            if let cms::cert::CertificateChoices::Certificate(c) = choice {
                pool.push(c.clone());
            }
        }
    }
    let signer_info = signed.signer_infos.0.iter().next().ok_or_else(|| malformed("no signer"))?;
    let cert = find_signer(signer_info, &pool, trust).ok_or(Failure::NoSignerCertificate)?;
    let digest_oid = signer_info.digest_alg.oid;
    let digest_alg = match digest_oid {
        o if o == oids::SHA256 => &ring::digest::SHA256,
        o if o == oids::SHA384 => &ring::digest::SHA384,
        o if o == oids::SHA512 => &ring::digest::SHA512,
        o if o == oids::SHA1 => return Err(Failure::Unsupported("SHA-1 digests are no longer trusted".into())),
        o => return Err(Failure::Unsupported(format!("digest {o}"))),
    };
    let digest = ring::digest::digest(digest_alg, content);
    let mut signing_time = None;
    let signed_bytes = match &signer_info.signed_attrs {
        Some(attrs) => {
            let (mut claimed, mut content_type) = (None, None);
            for attr in attrs.iter() {
                let Some(value) = attr.values.iter().next() else { continue };
                if attr.oid == oids::CONTENT_TYPE {
                    content_type = value.decode_as::<der::oid::ObjectIdentifier>().ok();
                } else if attr.oid == oids::MESSAGE_DIGEST {
                    claimed =
                        Some(value.decode_as::<OctetString>().map_err(|e| malformed(format!("messageDigest: {e}")))?);
                } else if attr.oid == oids::SIGNING_TIME {
                    signing_time = value
                        .to_der()
                        .ok()
                        .and_then(|d| Time::from_der(&d).ok())
                        .map(|t| t.to_unix_duration().as_secs());
                }
            }
            let claimed = claimed.ok_or_else(|| malformed("no messageDigest attribute"))?;
            // RFC 5652 §5.3: the signed content-type attribute names the content signed, and
            // S/MIME signs data.
            let econtent_type = signed.encap_content_info.econtent_type;
            if content_type != Some(econtent_type) || econtent_type != oids::DATA {
                return Err(malformed("the signed content-type attribute is missing or is not id-data"));
            }
            if claimed.as_bytes() != digest.as_ref() {
                return Err(Failure::Tampered);
            }
            attrs.to_der().map_err(|e| malformed(format!("signed attributes: {e}")))?
        }
        None => content.to_vec(),
    };
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let alg = certs::verify_algorithm(signer_info.signature_algorithm.oid, Some(digest_oid), spki)?;
    if !certs::verify_with(spki, alg, &signed_bytes, signer_info.signature.as_bytes()) {
        return Err(Failure::BadSignature);
    }
    certs::chain_to_root(cert, &pool, trust, now)?;
    if let Some(at) = signing_time
        && !certs::valid_at(cert, at)
    {
        return Err(Failure::SignedOutsideValidity);
    }
    if !certs::for_email(cert) {
        return Err(Failure::NotForEmail);
    }
    let emails = certs::signer_emails(cert);
    let from = from.unwrap_or("");
    let Some(signer) = emails.iter().find(|e| !from.is_empty() && e.as_str() == from) else {
        return Err(Failure::FromMismatch { from: from.to_string(), signer: emails });
    };
    Ok(Valid { signer: signer.clone(), subject: certs::subject(cert), issuer: cert.tbs_certificate.issuer.to_string() })
}

/// The certificate `info` names, from the message's certificates or the roots.
fn find_signer<'a>(info: &SignerInfo, pool: &'a [Certificate], trust: &'a Trust) -> Option<&'a Certificate> {
    let mut all = pool.iter().chain(trust.roots.iter());
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            all.find(|c| c.tbs_certificate.issuer == is.issuer && c.tbs_certificate.serial_number == is.serial_number)
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            all.find(|c| certs::key_id(c).as_deref() == Some(ski.0.as_bytes()))
        }
    }
}
