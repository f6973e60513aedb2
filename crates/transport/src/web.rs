//! GET and form POST to a URL, for what the portal asks of other web services (the OpenID
//! Provider of console sign-in): `https://` through [`crate::https::exchange`] (sekisho's DNS
//! view, WebPKI roots plus `[tls] extra_roots`), `http://` only to a loopback address; each
//! request within a timeout and a body limit, redirects not followed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use sekisho_dns::Dns;

use crate::https::{HttpsError, exchange, exchange_loopback};
use crate::public::Reach;
use crate::sts::http::Response;
use crate::tls::TlsClient;

/// Why a request got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    /// The URL cannot be used.
    #[error("{0}: not a usable http(s) URL")]
    BadUrl(String),
    /// A plain `http://` URL whose host is not on the loopback.
    #[error("{0}: plain http:// is used only for a host on the loopback")]
    PlainHttp(String),
    /// No complete response within the time allowed.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout {
        /// The URL asked.
        url: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The connection or the exchange failed.
    #[error(transparent)]
    Exchange(#[from] HttpsError),
}

/// An `http(s)://host[:port]/path?query` URL, split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUrl {
    /// `https://`.
    pub secure: bool,
    /// The host name or address (an IPv6 address without brackets).
    pub host: String,
    /// The port (443 or 80 unless written).
    pub port: u16,
    /// `host[:port]` as written, for the `Host` header.
    pub authority: String,
    /// The path and query, at least `/`.
    pub target: String,
}

impl WebUrl {
    /// Parses `url`; no user info, no fragment, no spaces or control characters.
    pub fn parse(url: &str) -> Result<WebUrl, WebError> {
        let bad = || WebError::BadUrl(url.chars().take(200).collect());
        let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => return Err(bad()),
        };
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) || url.contains('#') {
            return Err(bad());
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad()),
            };
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if secure => 443,
            None => 80,
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_')) {
            return Err(bad());
        }
        Ok(WebUrl { secure, host: host.to_ascii_lowercase(), port, authority: authority.to_string(), target })
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v))).collect::<Vec<_>>().join("&")
}

/// One value, form-urlencoded (RFC 6749 appendix B).
pub fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A client for `get` and `post_form`.
pub struct WebClient {
    dns: Box<dyn Dns>,
    tls: TlsClient,
}

impl WebClient {
    /// Over sekisho's resolver (`[dns]`) and root set (`[tls] extra_roots`).
    pub fn new(config: &sekisho_config::Config) -> Result<WebClient, crate::SetupError> {
        Ok(WebClient {
            dns: Box::new(sekisho_dns::Resolver::new(&config.dns)?),
            tls: TlsClient::new(&config.tls.extra_roots)?,
        })
    }

    /// `GET url`, accepting `accept`; the body at most `max_body` bytes.
    pub async fn get(&self, url: &str, accept: &str, max_body: usize, timeout: Duration) -> Result<Response, WebError> {
        let u = WebUrl::parse(url)?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sekisho\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
            u.target, u.authority
        );
        self.send(url, &u, request.as_bytes(), max_body, timeout).await
    }

    /// `POST url` with the form `pairs`, authenticated with HTTP Basic as `basic` (user and
    /// password each form-urlencoded first, as OAuth 2.0 client authentication asks, RFC 6749
    /// §2.3.1); the body at most `max_body` bytes.
    pub async fn post_form(
        &self,
        url: &str,
        pairs: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        max_body: usize,
        timeout: Duration,
    ) -> Result<Response, WebError> {
        let u = WebUrl::parse(url)?;
        let body = form_encode(pairs);
        let authorization = basic
            .map(|(user, password)| {
                let pair = format!("{}:{}", form_escape(user), form_escape(password));
                format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(pair))
            })
            .unwrap_or_default();
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sekisho\r\nAccept: application/json\r\n{authorization}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            u.target,
            u.authority,
            body.len()
        );
        self.send(url, &u, request.as_bytes(), max_body, timeout).await
    }

    async fn send(
        &self,
        url: &str,
        u: &WebUrl,
        request: &[u8],
        max_body: usize,
        timeout: Duration,
    ) -> Result<Response, WebError> {
        let exchanged = async {
            if u.secure {
                return exchange(self.dns.as_ref(), &self.tls, &u.host, u.port, Reach::Any, request, max_body).await;
            }
            let ip = match u.host.parse::<IpAddr>() {
                Ok(ip) if ip.is_loopback() => ip,
                Err(_) if u.host == "localhost" => IpAddr::from([127, 0, 0, 1]),
                _ => return Err(HttpsError::Unreachable(WebError::PlainHttp(url.to_string()).to_string())),
            };
            exchange_loopback(SocketAddr::new(ip, u.port), request, max_body).await
        };
        let short: String = url.chars().take(200).collect();
        Ok(tokio::time::timeout(timeout, exchanged).await.map_err(|_| WebError::Timeout { url: short, timeout })??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_for_a_request_and_odd_ones_refused() {
        let u = WebUrl::parse("https://login.example.jp/realms/x/.well-known/openid-configuration").unwrap();
        assert_eq!((u.secure, u.host.as_str(), u.port), (true, "login.example.jp", 443));
        assert_eq!(u.target, "/realms/x/.well-known/openid-configuration");
        let u = WebUrl::parse("http://127.0.0.1:9400?x=1").unwrap();
        assert_eq!(
            (u.secure, u.port, u.authority.as_str(), u.target.as_str()),
            (false, 9400, "127.0.0.1:9400", "/?x=1")
        );
        let u = WebUrl::parse("http://[::1]:8080/jwks").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        for bad in [
            "ftp://x/",
            "https://u@h/",
            "https://h/a b",
            "https://h/#f",
            "https://h:99999/",
            "https:///x",
            "https://h\r\n/",
        ] {
            assert!(WebUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms_are_urlencoded() {
        assert_eq!(form_encode(&[("a b", "x&y=z/é"), ("c", "")]), "a+b=x%26y%3Dz%2F%C3%A9&c=");
    }

    #[tokio::test]
    async fn plain_http_goes_only_to_the_loopback() {
        let config = sekisho_config::Config::default();
        let client = WebClient::new(&config).unwrap();
        let e = client.get("http://192.0.2.1/", "*/*", 100, Duration::from_secs(1)).await.unwrap_err();
        assert!(e.to_string().contains("only for a host on the loopback"), "{e}");
        // A loopback port nobody listens on: the connection is refused, not a TLS failure.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = client.get(&format!("http://127.0.0.1:{port}/"), "*/*", 100, Duration::from_secs(2)).await.unwrap_err();
        assert!(e.to_string().contains("cannot connect"), "{e}");
    }
}
