//! A fake MX host on loopback: a small SMTP server whose answers a test scripts (greeting,
//! extensions, per-recipient replies, replies after the data, a connection dropped mid-DATA),
//! recording every message and connection.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::pki::TestPki;

/// How the fake MX answers.
pub struct MxBehavior {
    /// Greeting code (220 accepts, 421/554 refuse).
    pub greeting: u16,
    pub pipelining: bool,
    pub dsn: bool,
    pub eight_bit: bool,
    pub smtputf8: bool,
    /// Announced SIZE limit; MAIL with a larger `SIZE=` is refused with 552 5.3.4.
    pub size: Option<u64>,
    /// Reply to MAIL FROM.
    pub mail_reply: String,
    /// Reply to RCPT TO for an address.
    pub rcpt_reply: Box<dyn Fn(&str) -> String + Send + Sync>,
    /// Replies after successive messages' data; when empty, "250 2.0.0 Ok: queued".
    pub data_replies: Mutex<VecDeque<String>>,
    /// Transactions in which the connection is closed in the middle of the data.
    pub drop_in_data: AtomicUsize,
    /// Offer STARTTLS with this certificate.
    pub tls: Option<TestPki>,
    /// While false, STARTTLS is not offered (what a man in the middle stripping it causes).
    pub offer_tls: std::sync::atomic::AtomicBool,
    /// Wait before answering the end of the data (a slow destination).
    pub reply_delay: std::time::Duration,
    /// Wait before the greeting, in milliseconds (a slow host; tests look at sekisho meanwhile).
    pub greeting_delay_ms: std::sync::atomic::AtomicU64,
    /// Advertise REQUIRETLS (RFC 8689) in the EHLO reply after STARTTLS.
    pub requiretls: bool,
}

impl Default for MxBehavior {
    fn default() -> Self {
        MxBehavior {
            greeting: 220,
            pipelining: true,
            dsn: true,
            eight_bit: true,
            smtputf8: true,
            size: Some(50 << 20),
            mail_reply: "250 2.1.0 Ok".into(),
            rcpt_reply: Box::new(|_| "250 2.1.5 Ok".into()),
            data_replies: Mutex::new(VecDeque::new()),
            drop_in_data: AtomicUsize::new(0),
            tls: None,
            offer_tls: std::sync::atomic::AtomicBool::new(true),
            reply_delay: std::time::Duration::ZERO,
            greeting_delay_ms: std::sync::atomic::AtomicU64::new(0),
            requiretls: false,
        }
    }
}

/// Binds `addr`; a host started again at the address of one just dropped may find the port
/// still held for a moment.
pub(crate) async fn bind_retrying(addr: &str) -> TcpListener {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(_) if tries < 40 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind fake server on {addr}: {e}"),
        }
    }
}

/// A message the fake MX accepted.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub mail_from: String,
    /// The MAIL command as sent, with its parameters (without CRLF).
    pub mail_line: String,
    pub rcpt_to: Vec<String>,
    /// The data, dot-unstuffed, as it arrived (CRLF lines).
    pub data: Vec<u8>,
    /// The transaction ran over TLS.
    pub tls: bool,
    /// Which connection (1-based) carried it.
    pub connection: usize,
}

/// A running fake MX.
pub struct FakeMx {
    pub addr: SocketAddr,
    behavior: Arc<MxBehavior>,
    received: Arc<Mutex<Vec<Delivered>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeMx {
    /// Starts on `addr` (e.g. "127.0.0.2:0" or a fixed port shared by several fake hosts).
    pub async fn start(addr: &str, behavior: MxBehavior) -> FakeMx {
        let listener = bind_retrying(addr).await;
        let addr = listener.local_addr().expect("addr");
        let behavior = Arc::new(behavior);
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (b, r, n) = (behavior.clone(), received.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let number = n.fetch_add(1, Ordering::SeqCst) + 1;
                let (b, r) = (b.clone(), r.clone());
                tokio::spawn(async move {
                    let _ = serve(tcp, number, &b, &r).await;
                });
            }
        });
        FakeMx { addr, behavior, received, connections, task }
    }

    /// Messages accepted so far.
    pub fn received(&self) -> Vec<Delivered> {
        self.received.lock().expect("received").clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The behaviour, to change it while running.
    pub fn behavior(&self) -> &MxBehavior {
        &self.behavior
    }

    /// Waits until at least `n` messages arrived (up to `secs` seconds); returns them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for FakeMx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn serve(
    tcp: tokio::net::TcpStream,
    number: usize,
    b: &MxBehavior,
    received: &Mutex<Vec<Delivered>>,
) -> std::io::Result<()> {
    let mut io: BufReader<Box<dyn Io>> = BufReader::new(Box::new(tcp));
    let mut tls = false;
    tokio::time::sleep(std::time::Duration::from_millis(b.greeting_delay_ms.load(Ordering::SeqCst))).await;
    send(&mut io, &format!("{} fake-mx.test ESMTP\r\n", b.greeting)).await?;
    if b.greeting != 220 {
        return Ok(());
    }
    let mut from = String::new();
    let mut mail_line = String::new();
    let mut rcpts: Vec<String> = Vec::new();
    loop {
        let mut line = String::new();
        if io.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.trim_end().to_ascii_uppercase();
        let verb = upper.split([' ', ':']).next().unwrap_or("").to_string();
        match verb.as_str() {
            "EHLO" => {
                let mut caps = vec!["fake-mx.test".to_string()];
                if b.pipelining {
                    caps.push("PIPELINING".into());
                }
                if let Some(s) = b.size {
                    caps.push(format!("SIZE {s}"));
                }
                if b.eight_bit {
                    caps.push("8BITMIME".into());
                }
                if b.smtputf8 {
                    caps.push("SMTPUTF8".into());
                }
                if b.dsn {
                    caps.push("DSN".into());
                }
                if b.tls.is_some() && !tls && b.offer_tls.load(Ordering::SeqCst) {
                    caps.push("STARTTLS".into());
                }
                if b.requiretls && tls {
                    caps.push("REQUIRETLS".into());
                }
                caps.push("ENHANCEDSTATUSCODES".into());
                let n = caps.len();
                let text: String = caps
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("250{}{c}\r\n", if i + 1 == n { ' ' } else { '-' }))
                    .collect();
                send(&mut io, &text).await?;
            }
            "HELO" => send(&mut io, "250 fake-mx.test\r\n").await?,
            "STARTTLS" if b.tls.is_some() && !tls && b.offer_tls.load(Ordering::SeqCst) => {
                send(&mut io, "220 2.0.0 go ahead\r\n").await?;
                let pki = b.tls.as_ref().expect("checked");
                let acceptor = acceptor(pki);
                let inner = io.into_inner();
                let stream = acceptor.accept(inner).await?;
                io = BufReader::new(Box::new(stream));
                tls = true;
            }
            "MAIL" => {
                from = between(&line, '<', '>');
                mail_line = line.trim_end().to_string();
                rcpts.clear();
                // As RFC 1870 says: a declared size above the announced limit is refused.
                let declared = upper.split_whitespace().find_map(|w| w.strip_prefix("SIZE=")?.parse::<u64>().ok());
                if let (Some(limit), Some(size)) = (b.size.filter(|&l| l > 0), declared)
                    && size > limit
                {
                    send(&mut io, "552 5.3.4 Message size exceeds fixed maximum message size\r\n").await?;
                    continue;
                }
                send(&mut io, &format!("{}\r\n", b.mail_reply)).await?;
            }
            "RCPT" => {
                let to = between(&line, '<', '>');
                let reply = (b.rcpt_reply)(&to);
                if reply.starts_with('2') {
                    rcpts.push(to);
                }
                send(&mut io, &format!("{reply}\r\n")).await?;
            }
            "DATA" => {
                if rcpts.is_empty() {
                    send(&mut io, "554 5.5.1 no valid recipients\r\n").await?;
                    continue;
                }
                send(&mut io, "354 go ahead\r\n").await?;
                let mut data = Vec::new();
                let dropping =
                    b.drop_in_data.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                loop {
                    let mut l = Vec::new();
                    if io.read_until(b'\n', &mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == b".\r\n" {
                        break;
                    }
                    if dropping && data.len() > 10 {
                        return Ok(()); // the connection drops in the middle of the data
                    }
                    let l = if l.starts_with(b"..") { l[1..].to_vec() } else { l };
                    data.extend_from_slice(&l);
                }
                tokio::time::sleep(b.reply_delay).await;
                let reply = b
                    .data_replies
                    .lock()
                    .expect("replies")
                    .pop_front()
                    .unwrap_or_else(|| "250 2.0.0 Ok: queued".into());
                if reply.starts_with('2') {
                    received.lock().expect("received").push(Delivered {
                        mail_from: from.clone(),
                        mail_line: mail_line.clone(),
                        rcpt_to: rcpts.clone(),
                        data,
                        tls,
                        connection: number,
                    });
                }
                send(&mut io, &format!("{reply}\r\n")).await?;
            }
            "RSET" => {
                rcpts.clear();
                send(&mut io, "250 2.0.0 Ok\r\n").await?;
            }
            "NOOP" => send(&mut io, "250 2.0.0 Ok\r\n").await?,
            "QUIT" => {
                send(&mut io, "221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => send(&mut io, "502 5.5.2 unknown\r\n").await?,
        }
    }
}

fn between(line: &str, open: char, close: char) -> String {
    let start = line.find(open).map_or(0, |i| i + 1);
    let end = line[start..].find(close).map_or(line.len(), |i| start + i);
    line[start..end].to_string()
}

async fn send(io: &mut BufReader<Box<dyn Io>>, text: &str) -> std::io::Result<()> {
    io.get_mut().write_all(text.as_bytes()).await?;
    io.get_mut().flush().await
}

pub(crate) fn acceptor(pki: &TestPki) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(&pki.cert_path)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("cert");
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&pki.key_path).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
