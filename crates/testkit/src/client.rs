//! A deliberately simple SMTP client for tests: it sends exactly the bytes it is given, so
//! tests can pipeline, smuggle and misbehave, and it parses multi-line replies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// One SMTP reply as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The reply code.
    pub code: u16,
    /// Text lines without the code and separator.
    pub lines: Vec<String>,
}

impl Response {
    /// All text lines joined with newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A test SMTP client over plain TCP or TLS.
pub struct Client {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    /// Subject CN of the server certificate after STARTTLS.
    pub peer_cn: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> (Client, Response) {
        let mut c = Self::connect_raw(addr).await;
        let greeting = c.read().await;
        (c, greeting)
    }

    /// Connects without reading anything.
    pub async fn connect_raw(addr: SocketAddr) -> Client {
        Self::try_connect(addr).await.expect("connect")
    }

    /// Connects from the local address `source` (e.g. 127.0.0.2, another loopback client) and
    /// reads the greeting.
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> (Client, Response) {
        let socket = match source {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("socket");
        socket.bind(SocketAddr::new(source, 0)).expect("bind the source address");
        let tcp = tokio::time::timeout(TIMEOUT, socket.connect(addr)).await.expect("connect in time").expect("connect");
        let mut c = Client { io: Box::new(tcp), buf: Vec::new(), peer_cn: None };
        let greeting = c.read().await;
        (c, greeting)
    }

    /// Connects without reading anything; `None` if nothing listens (a server being restarted).
    pub async fn try_connect(addr: SocketAddr) -> Option<Client> {
        let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr)).await.ok()?.ok()?;
        Some(Client { io: Box::new(tcp), buf: Vec::new(), peer_cn: None })
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("send");
        self.io.flush().await.expect("flush");
    }

    /// Sends raw bytes; false if the server already closed.
    pub async fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.io.write_all(bytes).await.is_ok() && self.io.flush().await.is_ok()
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> Response {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.read().await
    }

    /// Reads one (possibly multi-line) reply; panics on timeout or close.
    pub async fn read(&mut self) -> Response {
        self.try_read(TIMEOUT).await.expect("a reply from the server")
    }

    /// Reads one reply, or `None` if the connection closed or nothing came within `wait`.
    pub async fn try_read(&mut self, wait: Duration) -> Option<Response> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line(wait).await?;
            let code: u16 = line.get(..3)?.parse().ok()?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Some(Response { code, lines });
            }
        }
    }

    async fn read_line(&mut self, wait: Duration) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string());
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(wait, self.io.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// True when the server closed the connection (EOF within `wait`).
    pub async fn is_closed(&mut self, wait: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match tokio::time::timeout(wait, self.io.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    /// Runs the TLS handshake trusting `ca_pem` (after a 220 to STARTTLS). Bytes already
    /// buffered from the plaintext phase are dropped, as a careful client does.
    pub async fn upgrade_tls(mut self, ca_pem: &str) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.expect("CA pem")).expect("add root");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        self.buf.clear();
        let tls =
            connector.connect(ServerName::try_from("localhost").expect("name"), self.io).await.expect("TLS handshake");
        let peer_cn = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| common_name(c.as_ref()));
        Client { io: Box::new(tls), buf: Vec::new(), peer_cn }
    }

    /// EHLO, STARTTLS, handshake, EHLO again.
    pub async fn starttls(mut self, ca_pem: &str) -> Client {
        self.cmd("EHLO client.test").await;
        let r = self.cmd("STARTTLS").await;
        assert_eq!(r.code, 220, "STARTTLS refused: {r:?}");
        let mut c = self.upgrade_tls(ca_pem).await;
        let r = c.cmd("EHLO client.test").await;
        assert_eq!(r.code, 250);
        c
    }

    /// MAIL, RCPT for each recipient, DATA, content (dot-stuffed here), final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], content: &str) -> Response {
        self.send_mail_with(from, "", to, content).await
    }

    /// Like `send_mail`, with `params` after the reverse path (e.g. " REQUIRETLS").
    pub async fn send_mail_with(&mut self, from: &str, params: &str, to: &[&str], content: &str) -> Response {
        let r = self.cmd(&format!("MAIL FROM:<{from}>{params}")).await;
        if r.code != 250 {
            return r;
        }
        let mut accepted = 0;
        for rcpt in to {
            if self.cmd(&format!("RCPT TO:<{rcpt}>")).await.code == 250 {
                accepted += 1;
            }
        }
        let r = self.cmd("DATA").await;
        if r.code != 354 {
            return r;
        }
        assert!(accepted > 0);
        let mut data = String::new();
        for line in content.split("\r\n") {
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        if content.ends_with("\r\n") {
            data.truncate(data.len() - 2);
        }
        data.push_str(".\r\n");
        self.send(data.as_bytes()).await;
        self.read().await
    }
}

/// The subject CN of a DER certificate, found by its OID (2.5.4.3) — enough for tests.
fn common_name(der: &[u8]) -> String {
    let oid = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut last = String::new();
    let mut i = 0;
    while i + oid.len() + 2 < der.len() {
        if der[i..i + oid.len()] == oid {
            let len = der[i + oid.len() + 1] as usize;
            let start = i + oid.len() + 2;
            if let Some(v) = der.get(start..start + len) {
                last = String::from_utf8_lossy(v).into_owned();
            }
        }
        i += 1;
    }
    last
}
