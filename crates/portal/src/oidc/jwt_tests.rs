//! ID tokens signed here, with RSA keys made by `openssl genpkey` (test-rsa-*.der, PKCS #1) and an
//! ECDSA key made by ring, each checked as sekisho checks the provider's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use super::*;

const ISSUER: &str = "https://idp.example.jp";
const CLIENT: &str = "sekisho-console";
const NONCE: &str = "n0nce-of-this-sign-in";
const NOW: i64 = 1_800_000_000;

fn rsa(which: &str) -> RsaKeyPair {
    let der: &[u8] = match which {
        "a" => include_bytes!("test-rsa-a.der"),
        _ => include_bytes!("test-rsa-b.der"),
    };
    RsaKeyPair::from_der(der).unwrap()
}

fn enc(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let p: signature::RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": enc(&p.n), "e": enc(&p.e)})
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}", enc(header.to_string().as_bytes()), enc(claims.to_string().as_bytes()))
}

fn rs256(key: &RsaKeyPair, header: Value, claims: &Value) -> String {
    let input = unsigned(&header, claims);
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
    format!("{input}.{}", enc(&sig))
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": [CLIENT], "sub": "u-1", "exp": NOW + 300, "iat": NOW - 5, "nonce": NONCE,
        "email": "hanako@example.jp", "email_verified": true, "groups": ["mail-users", "staff"]})
}

fn with(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    let mut c = claims();
    change(c.as_object_mut().unwrap());
    c
}

fn keys() -> Jwks {
    let doc = json!({"keys": [rsa_jwk(&rsa("a"), "key-a"), {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"}]});
    Jwks::parse(doc.to_string().as_bytes()).unwrap()
}

fn expected() -> Expected<'static> {
    Expected { issuer: ISSUER, client_id: CLIENT, nonce: NONCE, now: NOW }
}

fn check(token: &str) -> Result<Claims, JwtError> {
    verify_id_token(token, &keys(), &expected())
}

fn signed_a(claims: &Value) -> String {
    rs256(&rsa("a"), json!({"alg": "RS256", "kid": "key-a", "typ": "JWT"}), claims)
}

#[test]
fn a_token_the_provider_signed_for_this_sign_in_is_accepted() {
    let c = check(&signed_a(&claims())).unwrap();
    assert_eq!((c.subject.as_str(), c.email.as_deref(), c.email_verified), ("u-1", Some("hanako@example.jp"), true));
    assert_eq!(c.strings("groups"), ["mail-users", "staff"]);
    assert_eq!(keys().keys.len(), 1, "the encryption key is left out");
    // One audience as a string, and a provider that names no kid (one key of the type).
    let token = rs256(&rsa("a"), json!({"alg": "RS256"}), &with(|c| drop(c.insert("aud".into(), json!(CLIENT)))));
    assert!(check(&token).is_ok());
    // email_verified as the string some providers send.
    let token = signed_a(&with(|c| drop(c.insert("email_verified".into(), json!("true")))));
    assert!(check(&token).unwrap().email_verified);
    let token = signed_a(&with(|c| drop(c.remove("email_verified"))));
    assert!(!check(&token).unwrap().email_verified);
}

#[test]
fn a_token_for_another_client_is_refused() {
    let token = signed_a(&with(|c| drop(c.insert("aud".into(), json!(["another-app"])))));
    assert_eq!(check(&token), Err(JwtError::Audience));
    // Several audiences without azp naming this client.
    let token = signed_a(&with(|c| drop(c.insert("aud".into(), json!([CLIENT, "another-app"])))));
    assert_eq!(check(&token), Err(JwtError::Audience));
    let token = signed_a(&with(|c| {
        c.insert("aud".into(), json!([CLIENT, "another-app"]));
        c.insert("azp".into(), json!("another-app"));
    }));
    assert_eq!(check(&token), Err(JwtError::Audience));
    let token = signed_a(&with(|c| {
        c.insert("aud".into(), json!([CLIENT, "another-app"]));
        c.insert("azp".into(), json!(CLIENT));
    }));
    assert!(check(&token).is_ok());
}

#[test]
fn an_expired_or_future_token_is_refused_beyond_the_leeway() {
    let token = signed_a(&with(|c| drop(c.insert("exp".into(), json!(NOW - LEEWAY - 1)))));
    assert_eq!(check(&token), Err(JwtError::Expired(NOW - LEEWAY - 1)));
    let token = signed_a(&with(|c| drop(c.insert("exp".into(), json!(NOW - 10)))));
    assert!(check(&token).is_ok(), "within the leeway");
    let token = signed_a(&with(|c| drop(c.insert("iat".into(), json!(NOW + LEEWAY + 5)))));
    assert_eq!(check(&token), Err(JwtError::IssuedInFuture(NOW + LEEWAY + 5)));
    let token = signed_a(&with(|c| drop(c.remove("exp"))));
    assert_eq!(check(&token), Err(JwtError::Malformed("no exp")));
}

#[test]
fn a_token_from_another_issuer_or_with_another_nonce_is_refused() {
    let token = signed_a(&with(|c| drop(c.insert("iss".into(), json!("https://evil.example")))));
    assert_eq!(check(&token), Err(JwtError::Issuer("https://evil.example".into())));
    let token = signed_a(&with(|c| drop(c.insert("iss".into(), json!("https://idp.example.jp/")))));
    assert!(matches!(check(&token), Err(JwtError::Issuer(_))), "exactly the configured issuer");
    let token = signed_a(&with(|c| drop(c.insert("nonce".into(), json!("another")))));
    assert_eq!(check(&token), Err(JwtError::Nonce));
    let token = signed_a(&with(|c| drop(c.remove("nonce"))));
    assert_eq!(check(&token), Err(JwtError::Nonce));
}

#[test]
fn a_bad_signature_or_an_unknown_key_is_refused() {
    // Signed by another key under the provider's kid.
    let token = rs256(&rsa("b"), json!({"alg": "RS256", "kid": "key-a"}), &claims());
    assert_eq!(check(&token), Err(JwtError::BadSignature));
    // The claims changed after signing.
    let good = signed_a(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let forged = enc(with(|c| drop(c.insert("email".into(), json!("boss@example.jp")))).to_string().as_bytes());
    assert_eq!(check(&format!("{}.{forged}.{}", parts[0], parts[2])), Err(JwtError::BadSignature));
    // A kid the key set does not have (the caller fetches the set again, once).
    let token = rs256(&rsa("b"), json!({"alg": "RS256", "kid": "key-b"}), &claims());
    assert_eq!(check(&token), Err(JwtError::UnknownKey("key-b".into())));
    // After the refresh, the new key verifies it.
    let both = json!({"keys": [rsa_jwk(&rsa("a"), "key-a"), rsa_jwk(&rsa("b"), "key-b")]});
    let both = Jwks::parse(both.to_string().as_bytes()).unwrap();
    assert!(verify_id_token(&token, &both, &expected()).is_ok());
    for bad in ["", "a.b", "a.b.c.d", "!!.e30.e30", &"x".repeat(MAX_TOKEN + 1)] {
        assert!(matches!(check(bad), Err(JwtError::Malformed(_))), "{bad:.20}");
    }
}

#[test]
fn none_and_hmac_are_never_accepted() {
    let none = format!("{}.", unsigned(&json!({"alg": "none"}), &claims()));
    assert_eq!(check(&none), Err(JwtError::Algorithm("none".into())));
    let none = format!("{}.", unsigned(&json!({"alg": "none", "kid": "key-a"}), &claims()));
    assert_eq!(check(&none), Err(JwtError::Algorithm("none".into())));
    // HS256 keyed with the public key (the classic confusion): refused before any key is used.
    let input = unsigned(&json!({"alg": "HS256", "kid": "key-a"}), &claims());
    let secret = rsa("a").public().as_ref().to_vec();
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret), input.as_bytes());
    assert_eq!(check(&format!("{input}.{}", enc(tag.as_ref()))), Err(JwtError::Algorithm("HS256".into())));
    let token = rs256(&rsa("a"), json!({"alg": "RS256", "kid": "key-a", "crit": ["exp"]}), &claims());
    assert!(matches!(check(&token), Err(JwtError::Malformed(_))));
}

#[test]
fn es256_tokens_verify_with_the_providers_ec_key() {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = key.public_key().as_ref();
    let doc = json!({"keys": [rsa_jwk(&rsa("a"), "key-a"),
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": enc(&point[1..33]), "y": enc(&point[33..])}]});
    let keys = Jwks::parse(doc.to_string().as_bytes()).unwrap();
    let input = unsigned(&json!({"alg": "ES256", "kid": "ec"}), &claims());
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    let token = format!("{input}.{}", enc(sig.as_ref()));
    assert!(verify_id_token(&token, &keys, &expected()).is_ok());
    // The RSA key's kid with ES256: no EC key of that kid.
    let input = unsigned(&json!({"alg": "ES256", "kid": "key-a"}), &claims());
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    let token = format!("{input}.{}", enc(sig.as_ref()));
    assert_eq!(verify_id_token(&token, &keys, &expected()), Err(JwtError::UnknownKey("key-a".into())));
}

#[test]
fn key_sets_are_bounded_and_odd_ones_refused() {
    let many: Vec<Value> = (0..100).map(|i| rsa_jwk(&rsa("a"), &format!("k{i}"))).collect();
    let set = Jwks::parse(json!({ "keys": many }).to_string().as_bytes()).unwrap();
    assert_eq!(set.keys.len(), MAX_KEYS);
    assert!(Jwks::parse(b"not json").is_err());
    assert!(Jwks::parse(b"{\"keys\": 3}").is_err());
}
