//! One HTTPS request and its response, for what sekisho fetches or posts itself (MTA-STS
//! policies, TLS-RPT reports): the host's addresses from sekisho's DNS view (each checked
//! against the reach), the certificate validated for the host name, HTTP/1.1 with
//! `Connection: close`, the response read within limits. Plain HTTP only to the loopback
//! (`exchange_loopback`).

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use sekisho_dns::Dns;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::public::{NOT_PUBLIC, Reach};
use crate::sts::http::{self, HttpError, Response};
use crate::tls::TlsClient;

/// Time to connect to one address of the host, so a black-holed address leaves time for the
/// next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpsError {
    /// No address of the host could be reached (or none may be).
    #[error("{0}")]
    Unreachable(String),
    /// The server's certificate is not valid for the host name.
    #[error("{0}")]
    Certificate(String),
    /// The response is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The TLS session or the HTTP exchange failed.
    #[error("{0}")]
    Failed(String),
}

/// Sends `request` (a whole HTTP/1.1 request) to `host`:`port` and reads the response, its
/// body at most `max_body` bytes.
pub async fn exchange(
    dns: &dyn Dns,
    tls: &TlsClient,
    host: &str,
    port: u16,
    reach: Reach,
    request: &[u8],
    max_body: usize,
) -> Result<Response, HttpsError> {
    let ips = dns.addresses(host).await.map_err(|e| HttpsError::Unreachable(e.to_string()))?;
    let mut last = HttpsError::Unreachable(format!("{host} has no address"));
    for ip in ips.into_iter().take(crate::resolve::MAX_TARGETS) {
        if !reach.allows(ip) {
            last = HttpsError::Unreachable(format!("https://{host}/ ({ip}): {NOT_PUBLIC}"));
            continue;
        }
        match exchange_with(tls, host, SocketAddr::new(ip, port), request, max_body).await {
            // Only a failure to connect moves on to the next address.
            Err(e @ HttpsError::Unreachable(_)) => last = e,
            other => return other,
        }
    }
    Err(last)
}

async fn exchange_with(
    tls: &TlsClient,
    host: &str,
    addr: SocketAddr,
    request: &[u8],
    max_body: usize,
) -> Result<Response, HttpsError> {
    let tcp = connect(host, addr).await?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| HttpsError::Failed(e.to_string()))?;
    let stream = tls.https_connector().connect(name, tcp).await.map_err(|e| {
        let detail = format!("https://{host}/ ({addr}): TLS: {e}");
        match &e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(_)) => HttpsError::Certificate(detail),
            _ => HttpsError::Failed(detail),
        }
    })?;
    send_and_read(stream, &format!("https://{host}/"), request, max_body).await
}

/// Sends `request` in plain HTTP to `addr`, which must be a loopback address (a local test
/// provider or a sidecar; nothing else is spoken to without TLS), and reads the response.
pub async fn exchange_loopback(addr: SocketAddr, request: &[u8], max_body: usize) -> Result<Response, HttpsError> {
    if !addr.ip().is_loopback() {
        return Err(HttpsError::Unreachable(format!("http://{addr}/: plain HTTP only to the loopback")));
    }
    let host = addr.ip().to_string();
    let tcp = connect(&host, addr).await?;
    send_and_read(tcp, &format!("http://{addr}/"), request, max_body).await
}

async fn connect(host: &str, addr: SocketAddr) -> Result<tokio::net::TcpStream, HttpsError> {
    tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| HttpsError::Unreachable(format!("cannot connect to {host} ({addr}): no answer")))?
        .map_err(|e| HttpsError::Unreachable(format!("cannot connect to {host} ({addr}): {e}")))
}

async fn send_and_read<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    url: &str,
    request: &[u8],
    max_body: usize,
) -> Result<Response, HttpsError> {
    let lost = |e: std::io::Error| HttpsError::Failed(format!("{url}: {e}"));
    stream.write_all(request).await.map_err(lost)?;
    let max_raw = http::MAX_HEAD + 2 * max_body;
    let mut buf = Vec::with_capacity(4096);
    let mut parsed_at = 0;
    loop {
        let n = stream.read_buf(&mut buf).await;
        // A server closing without TLS close_notify after a complete response is common.
        let eof = matches!(n, Ok(0) | Err(_));
        if let Err(e) = &n
            && e.kind() != std::io::ErrorKind::UnexpectedEof
        {
            return Err(lost(std::io::Error::new(e.kind(), e.to_string())));
        }
        if buf.len() > max_raw {
            return Err(HttpsError::TooLarge(format!("the response exceeds {max_raw} bytes")));
        }
        // Parsed again only after a good part more arrived (or at the end): a server trickling
        // tiny records cannot make the parsing quadratic.
        if !eof && buf.len() > 16 << 10 && buf.len() - parsed_at < 16 << 10 {
            continue;
        }
        parsed_at = buf.len();
        match http::parse(&buf, eof, max_body) {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(e @ HttpError::BodyTooLarge(_)) => return Err(HttpsError::TooLarge(e.to_string())),
            Err(e) => return Err(HttpsError::Failed(e.to_string())),
        }
    }
}
