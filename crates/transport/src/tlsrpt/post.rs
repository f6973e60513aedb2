//! Uploading a report to an `https:` rua (RFC 8460 §5.2): `POST` of the gzip-compressed JSON
//! as `application/tlsrpt+gzip`; any 2xx status is success.

use std::time::Duration;

use sekisho_dns::Dns;

use crate::https::exchange;
use crate::public::Reach;
use crate::tls::TlsClient;

/// Most bytes of a response body read (the answer is not used beyond its status).
const MAX_ANSWER: usize = 16 << 10;

/// Posts `report_gz` to `url` (`https://host[:port]/path`) within `timeout`; Err says why it
/// did not arrive.
pub async fn post_report(
    dns: &dyn Dns,
    tls: &TlsClient,
    url: &str,
    report_gz: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let rest = url.strip_prefix("https://").ok_or_else(|| format!("{url}: not an https URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.trim_matches(['[', ']']), p.parse::<u16>().map_err(|_| format!("{url}: bad port"))?)
        }
        _ => (authority, 443),
    };
    let unsafe_text = |s: &str| s.chars().any(|c| c.is_control() || c.is_whitespace());
    if host.is_empty() || unsafe_text(path) || unsafe_text(authority) || host.contains('@') {
        return Err(format!("{url}: not a usable URL"));
    }
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: sekisho\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        report_gz.len()
    )
    .into_bytes();
    request.extend_from_slice(report_gz);
    let response = tokio::time::timeout(timeout, exchange(dns, tls, host, port, Reach::Any, &request, MAX_ANSWER))
        .await
        .map_err(|_| format!("{url}: no answer within {timeout:?}"))?
        .map_err(|e| e.to_string())?;
    if (200..300).contains(&response.status) { Ok(()) } else { Err(format!("{url}: HTTP status {}", response.status)) }
}
