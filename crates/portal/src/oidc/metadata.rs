//! The provider's discovery document (OpenID Connect Discovery 1.0 §3–4), pure: its issuer
//! must be exactly the configured one, and each endpoint `https://`; `http://` on the loopback
//! only when the issuer itself is such (a provider on this machine), so a changed document
//! can never send the client secret in clear text.

use serde_json::Value;

/// Largest discovery document or key set read, bytes.
pub const MAX_DOCUMENT: usize = 64 << 10;

/// What sign-in needs from the discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged for tokens.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
}

/// Why the document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// Not a JSON object.
    #[error("the discovery document is not a JSON object")]
    NotJson,
    /// The issuer differs from the configured one.
    #[error("the discovery document names issuer {found:?}, not the configured {configured:?}")]
    Issuer {
        /// As found.
        found: String,
        /// As configured.
        configured: String,
    },
    /// An endpoint is missing or not usable.
    #[error("the discovery document's {0} is missing or not an https:// URL")]
    Endpoint(&'static str),
}

/// True for an `https://` URL, or an `http://` one on the loopback.
pub fn usable_url(url: &str) -> bool {
    match sekisho_config::url_host(url) {
        Some(host) => url.starts_with("https://") || sekisho_config::loopback_host(host),
        None => false,
    }
}

/// Parses the discovery document of `issuer`.
pub fn parse_metadata(body: &[u8], issuer: &str) -> Result<Metadata, MetadataError> {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else { return Err(MetadataError::NotJson) };
    let found = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if found != issuer {
        return Err(MetadataError::Issuer { found: found.chars().take(200).collect(), configured: issuer.into() });
    }
    let plain_allowed = !issuer.starts_with("https://");
    let endpoint = |key: &'static str| {
        doc.get(key)
            .and_then(Value::as_str)
            .filter(|u| usable_url(u) && (plain_allowed || u.starts_with("https://")) && !u.contains('#'))
            .map(str::to_string)
            .ok_or(MetadataError::Endpoint(key))
    };
    Ok(Metadata {
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_issuer_never_gets_plain_http_endpoints_even_on_the_loopback() {
        let doc = br#"{"issuer": "https://idp.example.jp", "authorization_endpoint": "https://idp.example.jp/auth",
            "token_endpoint": "http://127.0.0.1:9/token", "jwks_uri": "https://idp.example.jp/keys"}"#;
        assert_eq!(parse_metadata(doc, "https://idp.example.jp"), Err(MetadataError::Endpoint("token_endpoint")));
        let local = br#"{"issuer": "http://127.0.0.1:9400", "authorization_endpoint": "http://127.0.0.1:9400/a",
            "token_endpoint": "http://127.0.0.1:9400/t", "jwks_uri": "http://127.0.0.1:9400/k"}"#;
        assert!(parse_metadata(local, "http://127.0.0.1:9400").is_ok(), "a provider on the loopback");
    }

    #[test]
    fn the_issuer_must_be_the_configured_one_and_endpoints_https() {
        let doc = br#"{"issuer": "https://idp.example.jp", "authorization_endpoint": "https://idp.example.jp/auth",
            "token_endpoint": "https://idp.example.jp/token", "jwks_uri": "https://idp.example.jp/keys"}"#;
        let m = parse_metadata(doc, "https://idp.example.jp").unwrap();
        assert_eq!(m.jwks_uri, "https://idp.example.jp/keys");
        assert!(matches!(parse_metadata(doc, "https://other.example.jp"), Err(MetadataError::Issuer { .. })));
        let doc = br#"{"issuer": "https://i", "authorization_endpoint": "http://evil.example/auth",
            "token_endpoint": "https://i/token", "jwks_uri": "https://i/keys"}"#;
        assert_eq!(parse_metadata(doc, "https://i"), Err(MetadataError::Endpoint("authorization_endpoint")));
        let doc = br#"{"issuer": "http://127.0.0.1:9400", "authorization_endpoint": "http://127.0.0.1:9400/a",
            "token_endpoint": "http://127.0.0.1:9400/t"}"#;
        assert_eq!(parse_metadata(doc, "http://127.0.0.1:9400"), Err(MetadataError::Endpoint("jwks_uri")));
        assert_eq!(parse_metadata(b"[]", "https://i"), Err(MetadataError::NotJson));
    }
}
