//! The conversation with the OpenID Provider: its discovery document and key set (fetched on
//! first use, kept an hour, the keys fetched again when a token names a `kid` they lack), the
//! authorization URL a browser is sent to, and the code exchanged at the token endpoint
//! (`client_secret_basic`, PKCE `code_verifier`) for an ID token verified by [`super::jwt`].

use std::sync::Mutex;
use std::time::Duration;

use sekisho_config::ConsoleOidc;
use sekisho_transport::web::{WebClient, WebError, form_encode};
use serde_json::Value;

use super::jwt::{self, Claims, Expected, Jwks, JwtError};
use super::metadata::{MAX_DOCUMENT, Metadata, MetadataError, parse_metadata};
use super::pending::Pending;

/// How long the discovery document and the keys are kept, seconds.
const KEEP: i64 = 3600;
/// Least time between two fetches of the keys for an unknown `kid`, seconds.
const REFETCH_AFTER: i64 = 10;
/// Largest token endpoint response read, bytes.
const MAX_TOKEN_RESPONSE: usize = 64 << 10;

/// Why the provider gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached, or answered out of bounds.
    #[error("the OpenID Provider did not answer: {0}")]
    Unreachable(#[from] WebError),
    /// A document or response that is not what the protocol says.
    #[error("the OpenID Provider's {what} is not usable: {detail}")]
    BadResponse {
        /// Which one.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The discovery document.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The token endpoint refused the code (wrong client secret, used code, ...).
    #[error("the OpenID Provider refused the code: HTTP {status} {error} {description}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// OAuth `error_description`.
        description: String,
    },
    /// The ID token failed verification.
    #[error(transparent)]
    Token(#[from] JwtError),
}

#[derive(Default)]
struct Cache {
    metadata: Option<(Metadata, i64)>,
    keys: Option<(Jwks, i64)>,
}

/// The configured provider.
pub struct Provider {
    config: ConsoleOidc,
    secret: String,
    redirect_uri: String,
    web: WebClient,
    cache: Mutex<Cache>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Text from the provider, cut short and stripped of control characters, for the log.
fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

impl Provider {
    /// For `[console.oidc]` with the client secret read, answering at `redirect_uri`.
    pub fn new(config: ConsoleOidc, secret: String, redirect_uri: String, web: WebClient) -> Provider {
        Provider { config, secret, redirect_uri, web, cache: Mutex::new(Cache::default()) }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsoleOidc {
        &self.config
    }

    fn timeout(&self) -> Duration {
        self.config.timeout.0
    }

    async fn metadata(&self) -> Result<Metadata, ProviderError> {
        let kept = self.cache.lock().unwrap_or_else(|p| p.into_inner()).metadata.clone();
        if let Some((m, _)) = kept.filter(|(_, at)| at + KEEP > now()) {
            return Ok(m);
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let r = self.web.get(&url, "application/json", MAX_DOCUMENT, self.timeout()).await?;
        if r.status != 200 {
            return Err(ProviderError::BadResponse {
                what: "discovery document",
                detail: format!("HTTP {}", r.status),
            });
        }
        let m = parse_metadata(&r.body, &self.config.issuer)?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).metadata = Some((m.clone(), now()));
        Ok(m)
    }

    async fn keys(&self, jwks_uri: &str, fresh: bool) -> Result<Jwks, ProviderError> {
        let kept = self.cache.lock().unwrap_or_else(|p| p.into_inner()).keys.clone();
        match kept {
            Some((keys, at)) if !fresh && at + KEEP > now() => return Ok(keys),
            Some((keys, at)) if fresh && at + REFETCH_AFTER > now() => return Ok(keys),
            _ => {}
        }
        let r = self.web.get(jwks_uri, "application/json", MAX_DOCUMENT, self.timeout()).await?;
        if r.status != 200 {
            return Err(ProviderError::BadResponse { what: "key set", detail: format!("HTTP {}", r.status) });
        }
        let keys = Jwks::parse(&r.body)?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).keys = Some((keys.clone(), now()));
        Ok(keys)
    }

    /// The provider's authorization URL for the sign-in `pending`.
    pub async fn authorization_url(&self, pending: &Pending) -> Result<String, ProviderError> {
        let m = self.metadata().await?;
        let scope = self.config.scopes.join(" ");
        let challenge = pending.challenge();
        let query = form_encode(&[
            ("response_type", "code"),
            ("client_id", &self.config.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &scope),
            ("state", &pending.state),
            ("nonce", &pending.nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let joiner = if m.authorization_endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{}{joiner}{query}", m.authorization_endpoint))
    }

    /// Exchanges `code` of the sign-in `pending` for its ID token, verified.
    pub async fn redeem(&self, code: &str, pending: &Pending) -> Result<Claims, ProviderError> {
        let m = self.metadata().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let basic = Some((self.config.client_id.as_str(), self.secret.as_str()));
        let r = self.web.post_form(&m.token_endpoint, &form, basic, MAX_TOKEN_RESPONSE, self.timeout()).await?;
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(shown).unwrap_or_default();
        if r.status != 200 {
            return Err(ProviderError::Refused {
                status: r.status,
                error: field("error"),
                description: field("error_description"),
            });
        }
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::BadResponse { what: "token response", detail: "no id_token".into() })?;
        let expected = Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce: &pending.nonce,
            now: now(),
        };
        let keys = self.keys(&m.jwks_uri, false).await?;
        match jwt::verify_id_token(id_token, &keys, &expected) {
            // A key the set lacks: the provider may have rotated its keys; fetch them again, once.
            Err(JwtError::UnknownKey(_)) => {
                let keys = self.keys(&m.jwks_uri, true).await?;
                Ok(jwt::verify_id_token(id_token, &keys, &expected)?)
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A provider on the loopback that publishes its discovery document and refuses every code
    /// as a provider does for a wrong client secret; the requests it got.
    async fn refusing_provider() -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let doc = serde_json::json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/auth"),
            "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks")})
        .to_string();
        let served = tokio::spawn(async move {
            let mut requests = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 8192];
                let n = s.read(&mut buf).await.unwrap();
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if request.starts_with("GET /.well-known/openid-configuration ") {
                    ("200 OK", doc.clone())
                } else {
                    ("401 Unauthorized", r#"{"error": "invalid_client", "error_description": "bad secret"}"#.into())
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(answer.as_bytes()).await.unwrap();
                requests.push(request);
            }
            requests
        });
        (issuer, served)
    }

    #[tokio::test]
    async fn a_refused_code_carries_the_providers_error_for_the_log() {
        let (issuer, served) = refusing_provider().await;
        let config = ConsoleOidc { issuer, client_id: "sekisho".into(), ..Default::default() };
        let web = WebClient::new(&sekisho_config::Config::default()).unwrap();
        let provider =
            Provider::new(config, "wrong secret".into(), "https://portal.test/sent/oidc/callback".into(), web);
        let pending = super::super::PendingFlows::default().begin(0).1;
        let e = provider.redeem("the-code", &pending).await.unwrap_err();
        assert!(matches!(&e, ProviderError::Refused { status: 401, error, .. } if error == "invalid_client"), "{e:?}");
        assert!(e.to_string().contains("HTTP 401 invalid_client bad secret"), "{e}");
        let requests = served.await.unwrap();
        let token = &requests[1];
        // client_secret_basic of "sekisho" and "wrong secret" (form-encoded: "wrong+secret").
        assert!(token.contains("Authorization: Basic c2VraXNobzp3cm9uZytzZWNyZXQ=\r\n"), "{token}");
        assert!(token.contains("grant_type=authorization_code&code=the-code&redirect_uri="), "{token}");
        assert!(token.contains(&format!("code_verifier={}", pending.verifier)), "{token}");
    }
}
