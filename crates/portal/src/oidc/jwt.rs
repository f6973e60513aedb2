//! ID tokens and the provider's keys, pure: a JWKS document parsed into the keys sekisho can
//! check (RSA, EC P-256), and an ID token (compact JWS) verified against them: RS256 or ES256
//! only (never `none`, never an HMAC), the key named by `kid`, then `iss`, `aud` (and `azp`),
//! `exp`/`iat` with a small leeway and `nonce` (OpenID Connect Core §3.1.3.7). No I/O.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;

/// Most keys kept from one JWKS document.
pub const MAX_KEYS: usize = 32;
/// Clock difference tolerated for `exp` and `iat`, seconds.
pub const LEEWAY: i64 = 60;
/// Longest ID token accepted, bytes.
pub const MAX_TOKEN: usize = 16 << 10;

/// Why a JWKS document or an ID token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// The JWKS document is not a key set.
    #[error("the provider's key set (JWKS) is not usable: {0}")]
    BadKeySet(&'static str),
    /// Not a compact JWS of three base64url parts with JSON header and claims.
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    /// An algorithm sekisho does not accept (`none`, HMAC, ...).
    #[error("the ID token is signed with {0:?}, not RS256 or ES256")]
    Algorithm(String),
    /// No key of the provider's key set has this `kid` (and type).
    #[error("no key of the provider has kid {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the provider's key.
    #[error("the ID token's signature is not valid")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the ID token's issuer {0:?} is not the configured one")]
    Issuer(String),
    /// `aud` does not contain the client ID, or `azp` names another client.
    #[error("the ID token is not meant for this client (aud/azp)")]
    Audience,
    /// `exp` has passed.
    #[error("the ID token expired at {0}")]
    Expired(i64),
    /// `iat` is in the future.
    #[error("the ID token was issued in the future ({0})")]
    IssuedInFuture(i64),
    /// `nonce` is missing or not the one sent.
    #[error("the ID token's nonce is not the one this sign-in sent")]
    Nonce,
}

/// A public key of the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA modulus and exponent (big-endian).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (0x04 ‖ x ‖ y).
    P256(Vec<u8>),
}

/// One key of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// Its `kid`, if any.
    pub kid: Option<String>,
    /// Its `alg`, if stated.
    pub alg: Option<String>,
    /// The key.
    pub material: KeyMaterial,
}

/// The provider's signing keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    /// Usable signature keys (others — encryption keys, other types — are left out).
    pub keys: Vec<Jwk>,
}

fn b64(text: &str, what: &'static str) -> Result<Vec<u8>, &'static str> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| what)
}

impl Jwks {
    /// Parses a JWKS document (RFC 7517 §5), keeping at most [`MAX_KEYS`] signature keys.
    pub fn parse(body: &[u8]) -> Result<Jwks, JwtError> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| JwtError::BadKeySet("not JSON"))?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or(JwtError::BadKeySet("no \"keys\" list"))?;
        let mut out = Vec::new();
        for key in keys {
            let text = |k: &str| key.get(k).and_then(Value::as_str);
            if text("use").is_some_and(|u| u != "sig") {
                continue;
            }
            let material = match (text("kty"), text("crv")) {
                (Some("RSA"), _) => {
                    let (Some(n), Some(e)) = (text("n"), text("e")) else { continue };
                    let (Ok(n), Ok(e)) = (b64(n, "n"), b64(e, "e")) else { continue };
                    KeyMaterial::Rsa { n, e }
                }
                (Some("EC"), Some("P-256")) => {
                    let (Some(x), Some(y)) = (text("x"), text("y")) else { continue };
                    let (Ok(x), Ok(y)) = (b64(x, "x"), b64(y, "y")) else { continue };
                    if x.len() != 32 || y.len() != 32 {
                        continue;
                    }
                    KeyMaterial::P256([&[4u8][..], &x, &y].concat())
                }
                _ => continue,
            };
            out.push(Jwk { kid: text("kid").map(str::to_string), alg: text("alg").map(str::to_string), material });
            if out.len() == MAX_KEYS {
                break;
            }
        }
        Ok(Jwks { keys: out })
    }
}

/// What the ID token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The configured issuer (exactly).
    pub issuer: &'a str,
    /// sekisho's client ID.
    pub client_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
}

/// The claims of a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `sub`.
    pub subject: String,
    /// `email`, if present.
    pub email: Option<String>,
    /// `email_verified` is true (a JSON true, or the string "true" some providers send).
    pub email_verified: bool,
    /// All claims, for the groups claim.
    pub all: serde_json::Map<String, Value>,
}

impl Claims {
    /// The values of claim `name`: a list of strings or one string.
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.all.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        }
    }
}

fn json_part(part: &str, what: &'static str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed(what)),
    }
}

/// Verifies `token` with `keys` and checks its claims against `expected`.
pub fn verify_id_token(token: &str, keys: &Jwks, expected: &Expected<'_>) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN {
        return Err(JwtError::Malformed("too long"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(JwtError::Malformed("not three parts"));
    };
    let header = json_part(header_b64, "the header is not base64url JSON")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("").to_string();
    if header.contains_key("crit") {
        return Err(JwtError::Malformed("a critical header extension"));
    }
    let (rsa, verification): (bool, &'static dyn signature::VerificationAlgorithm) = match alg.as_str() {
        "RS256" => (true, &signature::RSA_PKCS1_2048_8192_SHA256),
        "ES256" => (false, &signature::ECDSA_P256_SHA256_FIXED),
        _ => return Err(JwtError::Algorithm(alg)),
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| matches!(k.material, KeyMaterial::Rsa { .. }) == rsa)
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == alg))
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey(kid.unwrap_or("(none)").chars().take(100).collect()));
    }
    let signature =
        URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| JwtError::Malformed("the signature is not base64url"))?;
    let signed = &token.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    // Without a kid, any of the provider's keys of the right type may have signed it.
    let verified = candidates.iter().any(|k| match &k.material {
        KeyMaterial::Rsa { n, e } => signature::RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
            .is_ok(),
        KeyMaterial::P256(point) => UnparsedPublicKey::new(verification, point).verify(signed, &signature).is_ok(),
    });
    if !verified {
        return Err(JwtError::BadSignature);
    }
    let claims = json_part(claims_b64, "the claims are not base64url JSON")?;
    check_claims(claims, expected)
}

fn check_claims(all: serde_json::Map<String, Value>, expected: &Expected<'_>) -> Result<Claims, JwtError> {
    let text = |k: &str| all.get(k).and_then(Value::as_str);
    let issuer = text("iss").unwrap_or("");
    if issuer != expected.issuer {
        return Err(JwtError::Issuer(issuer.chars().take(200).collect()));
    }
    let audiences: Vec<&str> = match all.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(JwtError::Audience);
    }
    // Several audiences: the authorized party must be named, and be this client.
    match text("azp") {
        Some(azp) if azp != expected.client_id => return Err(JwtError::Audience),
        None if audiences.len() > 1 => return Err(JwtError::Audience),
        _ => {}
    }
    let number = |k: &str| all.get(k).and_then(Value::as_i64);
    let exp = number("exp").ok_or(JwtError::Malformed("no exp"))?;
    if exp + LEEWAY <= expected.now {
        return Err(JwtError::Expired(exp));
    }
    let iat = number("iat").ok_or(JwtError::Malformed("no iat"))?;
    if iat - LEEWAY > expected.now {
        return Err(JwtError::IssuedInFuture(iat));
    }
    let nonce = text("nonce").unwrap_or("");
    if !crate::session::same(nonce, expected.nonce) || expected.nonce.is_empty() {
        return Err(JwtError::Nonce);
    }
    let subject = text("sub").ok_or(JwtError::Malformed("no sub"))?.to_string();
    let email = text("email").map(str::to_string);
    let email_verified = matches!(all.get("email_verified"), Some(Value::Bool(true)))
        || matches!(all.get("email_verified"), Some(Value::String(s)) if s == "true");
    Ok(Claims { subject, email, email_verified, all })
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
