//! Fetching a policy over HTTPS (RFC 8461 §3.3): `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`,
//! the certificate validated for that name, no redirects, `text/plain`, at most 64 KiB, within
//! a timeout. The address comes from sekisho's DNS view, so tests and private networks work.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use sekisho_dns::Dns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::http;
use super::policy::Policy;
use crate::public::{NOT_PUBLIC, Reach};
use crate::tls::TlsClient;

/// Largest policy accepted (RFC 8461 §3.3 suggests 64 KiB).
pub const MAX_POLICY: usize = 64 << 10;

/// Most bytes of a whole response read (headers, chunk framing and body).
const MAX_RAW: usize = http::MAX_HEAD + 2 * MAX_POLICY;

/// Time to connect to one address of the policy host, so a black-holed address leaves time
/// for the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
    let ips = dns.addresses(host).await.map_err(|e| FetchError::fetch(e.to_string()))?;
    let mut last = FetchError::fetch(format!("{host} has no address"));
    for ip in ips.into_iter().take(crate::resolve::MAX_TARGETS) {
        if !reach.allows(ip) {
            last = FetchError::fetch(format!("https://{host}/ ({ip}): {NOT_PUBLIC}"));
            continue;
        }
        match get_from(tls, host, SocketAddr::new(ip, port)).await {
            Ok(text) => return Ok(text),
            // Only a failure to connect moves on to the next address.
            Err((true, e)) => last = e,
            Err((false, e)) => return Err(e),
        }
    }
    Err(last)
}

/// One address; the flag says whether the connection itself failed.
async fn get_from(tls: &TlsClient, host: &str, addr: SocketAddr) -> Result<String, (bool, FetchError)> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| (true, FetchError::fetch(format!("cannot connect to {host} ({addr}): no answer"))))?
        .map_err(|e| (true, FetchError::fetch(format!("cannot connect to {host} ({addr}): {e}"))))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| (false, FetchError::fetch(e.to_string())))?;
    let mut stream = tls.https_connector().connect(name, tcp).await.map_err(|e| {
        let kind = match &e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(_)) => "sts-webpki-invalid",
            _ => "sts-policy-fetch-error",
        };
        (false, FetchError { kind, detail: format!("https://{host}/ ({addr}): TLS: {e}") })
    })?;
    let request = format!(
        "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sekisho\r\nAccept: text/plain\r\n\
         Connection: close\r\n\r\n"
    );
    let lost = |e: std::io::Error| (false, FetchError::fetch(format!("https://{host}/: {e}")));
    stream.write_all(request.as_bytes()).await.map_err(lost)?;
    let mut buf = Vec::with_capacity(4096);
    let mut parsed_at = 0;
    let response = loop {
        let n = stream.read_buf(&mut buf).await;
        // A server closing without TLS close_notify after a complete response is common.
        let eof = matches!(n, Ok(0) | Err(_));
        if let Err(e) = &n
            && e.kind() != std::io::ErrorKind::UnexpectedEof
        {
            return Err(lost(std::io::Error::new(e.kind(), e.to_string())));
        }
        if buf.len() > MAX_RAW {
            return Err((false, FetchError::invalid(format!("the response exceeds {MAX_RAW} bytes"))));
        }
        // Parsed again only after a good part more arrived (or at the end): a server trickling
        // tiny records cannot make the parsing quadratic.
        if !eof && buf.len() > 16 << 10 && buf.len() - parsed_at < 16 << 10 {
            continue;
        }
        parsed_at = buf.len();
        match http::parse(&buf, eof, MAX_POLICY) {
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(e @ http::HttpError::BodyTooLarge(_)) => return Err((false, FetchError::invalid(e.to_string()))),
            Err(e) => return Err((false, FetchError::fetch(e.to_string()))),
        }
    };
    if response.status != 200 {
        let why =
            if (300..400).contains(&response.status) { " (redirects are not followed, RFC 8461 §3.3)" } else { "" };
        return Err((false, FetchError::fetch(format!("https://{host}/: HTTP status {}{why}", response.status))));
    }
    let media = response.header("content-type").unwrap_or("");
    if !media.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/plain") {
        return Err((false, FetchError::invalid(format!("served as `{media}`, not text/plain"))));
    }
    String::from_utf8(response.body).map_err(|_| (false, FetchError::invalid("the policy is not UTF-8 text")))
}
