//! Fetching a policy over HTTPS (RFC 8461 §3.3): `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`,
//! the certificate validated for that name, no redirects, `text/plain`, at most 64 KiB, within
//! a timeout. The address comes from sekisho's DNS view, so tests and private networks work.

use std::time::Duration;

use sekisho_dns::Dns;

use super::policy::Policy;
use crate::https::{HttpsError, exchange};
use crate::public::Reach;
use crate::tls::TlsClient;

/// Largest policy accepted (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY: usize = 64 << 10;

/// Why no policy could be had, as an RFC 8460 result type and a readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct FetchError {
    /// `sts-policy-fetch-error`, `sts-webpki-invalid` or `sts-policy-invalid`.
    pub kind: &'static str,
    pub detail: String,
}

impl FetchError {
    fn fetch(detail: impl Into<String>) -> FetchError {
        FetchError { kind: "sts-policy-fetch-error", detail: detail.into() }
    }

    fn invalid(detail: impl Into<String>) -> FetchError {
        FetchError { kind: "sts-policy-invalid", detail: detail.into() }
    }
}

/// Where and how long to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchSettings {
    /// 443; tests point it elsewhere.
    pub port: u16,
    /// For the whole fetch: connection, handshake, request and response.
    pub timeout: Duration,
    /// Which addresses of the policy host may be contacted (public ones only for the
    /// portal's checker).
    pub reach: Reach,
}

/// Fetches and parses the policy of `domain`; returns it with its text.
pub async fn fetch(
    dns: &dyn Dns,
    tls: &TlsClient,
    domain: &str,
    settings: FetchSettings,
) -> Result<(Policy, String), FetchError> {
    let host = format!("mta-sts.{domain}");
    let text = tokio::time::timeout(settings.timeout, get(dns, tls, &host, settings.port, settings.reach))
        .await
        .map_err(|_| FetchError::fetch(format!("https://{host}/: no answer within {:?}", settings.timeout)))??;
    let policy = Policy::parse(&text).map_err(|e| FetchError::invalid(e.to_string()))?;
    Ok((policy, text))
}

async fn get(dns: &dyn Dns, tls: &TlsClient, host: &str, port: u16, reach: Reach) -> Result<String, FetchError> {
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sekisho\r\nAccept: text/plain\r\n\
         Connection: close\r\n\r\n"
    );
    let response =
        exchange(dns, tls, host, port, reach, request.as_bytes(), MAX_POLICY).await.map_err(|e| match e {
            HttpsError::Certificate(d) => FetchError { kind: "sts-webpki-invalid", detail: d },
            HttpsError::TooLarge(d) => FetchError::invalid(d),
            HttpsError::Unreachable(d) | HttpsError::Failed(d) => FetchError::fetch(d),
        })?;
    if response.status != 200 {
        let why =
            if (300..400).contains(&response.status) { " (redirects are not followed, RFC 8461 §3.3)" } else { "" };
        return Err(FetchError::fetch(format!("https://{host}/: HTTP status {}{why}", response.status)));
    }
    let media = response.header("content-type").unwrap_or("");
    if !media.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/plain") {
        return Err(FetchError::invalid(format!("served as `{media}`, not text/plain")));
    }
    String::from_utf8(response.body).map_err(|_| FetchError::invalid("the policy is not UTF-8 text"))
}
