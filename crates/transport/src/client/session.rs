//! One outbound SMTP connection: connect, greeting, EHLO (HELO fallback), STARTTLS, AUTH, then
//! any number of transactions. Every step has its RFC 5321 §4.5.3.2 timeout.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::DotStuffer;
use super::ehlo::Capabilities;
use super::envelope::{self, Envelope, Unsendable};
use super::reply::{self, ServerReply};
use crate::tls::dane::{DaneEvidence, DaneResult};
use crate::tls::verifier::Slots;
use crate::tls::{TlsClient, TlsEvidence};

/// What a session's certificate must prove, decided before the connection opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    /// A certificate not valid for the host name aborts the handshake.
    pub authenticate: bool,
    /// The host's usable, DNSSEC-validated TLSA records: when given, a certificate matching
    /// none of them aborts the handshake (RFC 7672).
    pub tlsa: Vec<sekisho_dns::Tlsa>,
}

/// RFC 5321 §4.5.3.2 timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub greeting: Duration,
    pub mail: Duration,
    pub rcpt: Duration,
    pub data_init: Duration,
    pub block: Duration,
    pub done: Duration,
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host name (MX name or next hop) or IP text.
    pub host: String,
    pub ip: IpAddr,
    pub port: u16,
}

/// A failure of the connection or protocol (not a reply to a command).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    #[error("timeout {0}")]
    Timeout(&'static str),
    #[error("connection lost {0}")]
    Lost(&'static str),
    #[error("greeting: {}", .0.one_line())]
    Greeting(ServerReply),
    #[error("EHLO/HELO refused: {}", .0.one_line())]
    Helo(ServerReply),
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The certificate did not prove the host name and the policy requires it: the handshake
    /// was aborted before any mail was sent. The evidence says why.
    #[error("certificate refused ({}): {}", .0.failure.as_deref().unwrap_or("validation-failure"), .0.detail.as_deref().unwrap_or(""))]
    CertificateRefused(Box<TlsEvidence>),
    #[error("authentication failed: {}", .0.one_line())]
    Auth(ServerReply),
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl SessionError {
    /// A permanent verdict on the whole destination (5xx greeting or HELO). A refused AUTH is
    /// never one: a wrong relay password is the administrator's to fix, and mail waits for it.
    pub fn permanent_reply(&self) -> Option<&ServerReply> {
        match self {
            SessionError::Greeting(r) | SessionError::Helo(r) if r.is_permanent() => Some(r),
            _ => None,
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open SMTP connection, ready for MAIL.
pub struct Connection {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    pub target: Target,
    pub caps: Capabilities,
    /// What this session proves about its transport.
    pub evidence: TlsEvidence,
    /// Transactions completed on this connection.
    pub transactions: usize,
    /// The recipient domains this session was counted for in their TLS reports (a pooled
    /// connection may carry mail for several).
    pub reported_for: Vec<String>,
    /// An RSET failed or a reply went missing: the dialogue may be out of step.
    broken: bool,
    /// The current transaction began sending the message data.
    data_started: bool,
    t: Timeouts,
}

/// One recipient of a transaction.
#[derive(Debug, Clone)]
pub struct RcptSpec<'a> {
    pub address: &'a str,
    pub notify: Option<&'a str>,
    pub orcpt: Option<&'a str>,
}

/// The message data of a transaction: the spooled body, or a variant made for it.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
    /// `head`, then the spooled body from byte `resume_at` on (a rewritten header block in
    /// front of the body as spooled).
    Spliced {
        head: &'a [u8],
        path: &'a Path,
        resume_at: u64,
    },
    /// `head`, then `rest` (a rewritten header block in front of the rest of a body held in
    /// memory).
    Joined {
        head: &'a [u8],
        rest: &'a [u8],
    },
}

/// What the server said about one transaction.
#[derive(Debug, Clone)]
pub enum Transaction {
    /// The message cannot go to this server as it is.
    Unsendable(Unsendable),
    /// MAIL FROM was refused: applies to every recipient.
    MailRefused(ServerReply),
    /// Per recipient: its RCPT reply, then (if accepted) the reply after the data, if any.
    Done { rcpts: Vec<ServerReply>, data: Option<ServerReply> },
}

impl Connection {
    /// Connects, reads the greeting, says EHLO, upgrades with STARTTLS when offered and `tls`
    /// is given, and authenticates when `auth` is given (only ever over TLS). `checks` say
    /// which certificates abort the handshake.
    pub async fn open(
        target: &Target,
        helo: &str,
        tls: Option<&TlsClient>,
        auth: Option<(&str, &str)>,
        t: Timeouts,
        checks: &Checks,
    ) -> Result<Connection, SessionError> {
        let addr = SocketAddr::new(target.ip, target.port);
        let tcp = tokio::time::timeout(t.connect, TcpStream::connect(addr))
            .await
            .map_err(|_| SessionError::Timeout("connecting"))?
            .map_err(|e| SessionError::Connect(addr, e))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Connection {
            io: Box::new(tcp),
            buf: Vec::with_capacity(4096),
            target: target.clone(),
            caps: Capabilities::default(),
            evidence: TlsEvidence::plaintext(false, None),
            transactions: 0,
            reported_for: Vec::new(),
            broken: false,
            data_started: false,
            t,
        };
        let greeting = c.read_reply(t.greeting, "waiting for the greeting").await?;
        if !greeting.is_positive() {
            return Err(SessionError::Greeting(greeting));
        }
        c.hello(helo).await?;
        c.evidence = TlsEvidence::plaintext(c.caps.starttls, None);
        if let Some(tls) = tls.filter(|_| c.caps.starttls) {
            c.command("STARTTLS\r\n", t.mail, "after STARTTLS")
                .await
                .and_then(|r| if r.code == 220 { Ok(()) } else { Err(SessionError::Tls(r.one_line())) })?;
            // Anything the server pipelined before the handshake is discarded (CVE-2021-38371).
            c.buf.clear();
            c = c.upgrade(tls, checks).await?;
            c.hello(helo).await?;
        }
        if let Some((user, password)) = auth {
            if c.evidence.version.is_none() {
                return Err(SessionError::Protocol("refusing to send a password without TLS".into()));
            }
            let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
            let r = c.command(&format!("AUTH PLAIN {token}\r\n"), t.mail, "after AUTH").await?;
            if r.code != 235 {
                return Err(SessionError::Auth(r));
            }
        }
        Ok(c)
    }

    async fn hello(&mut self, helo: &str) -> Result<(), SessionError> {
        let r = self.command(&format!("EHLO {helo}\r\n"), self.t.mail, "after EHLO").await?;
        if r.is_positive() {
            self.caps = Capabilities::from_ehlo(&r);
            return Ok(());
        }
        let r = self.command(&format!("HELO {helo}\r\n"), self.t.mail, "after HELO").await?;
        if !r.is_positive() {
            return Err(SessionError::Helo(r));
        }
        self.caps = Capabilities::default();
        Ok(())
    }

    async fn upgrade(self, tls: &TlsClient, checks: &Checks) -> Result<Connection, SessionError> {
        let name = match self.target.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(self.target.host.clone()).map_err(|e| SessionError::Tls(e.to_string()))?,
        };
        let slots = Slots::default();
        let connector = tls.connector(slots.clone(), checks.authenticate, checks.tlsa.clone());
        let dane_evidence = |result: Option<DaneResult>| {
            (!checks.tlsa.is_empty()).then(|| {
                let (matched, failure) = match result {
                    Some(Ok(r)) => (Some(r), None),
                    Some(Err(f)) => (None, Some(f)),
                    None => (None, Some(("tlsa-invalid".to_string(), "no certificate was checked".to_string()))),
                };
                DaneEvidence {
                    dnssec: "secure".into(),
                    records: checks.tlsa.clone(),
                    matched,
                    detail: failure.as_ref().map(|f| f.1.clone()),
                    failure: failure.map(|f| f.0),
                }
            })
        };
        let stream = tokio::time::timeout(self.t.mail, connector.connect(name, self.io))
            .await
            .map_err(|_| SessionError::Timeout("in the TLS handshake"))?
            .map_err(|e| {
                let pkix = slots.pkix.lock().expect("verification slot").take();
                let dane = slots.dane.lock().expect("verification slot").take();
                let refused = match (&dane, &pkix) {
                    (Some(Err(f)), _) => Some(f.clone()),
                    (None, Some(Err(f))) if checks.authenticate => Some(f.clone()),
                    _ => None,
                };
                match refused {
                    Some((kind, detail)) => {
                        let mut evidence = TlsEvidence::plaintext(true, Some((&kind, detail)));
                        evidence.dane = dane_evidence(dane);
                        SessionError::CertificateRefused(Box::new(evidence))
                    }
                    None => SessionError::Tls(e.to_string()),
                }
            })?;
        let (_, conn) = stream.get_ref();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".into(),
        };
        let cipher = conn.negotiated_cipher_suite().map_or("unknown".into(), |s| format!("{:?}", s.suite()));
        let leaf = conn.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
        let pkix = slots.pkix.lock().expect("verification slot").take();
        let mut evidence = TlsEvidence::established(&version, &cipher, leaf.as_deref(), pkix);
        evidence.set_dane(dane_evidence(slots.dane.lock().expect("verification slot").take()));
        if self.target.host.parse::<IpAddr>().is_ok() && evidence.assurance == crate::tls::Assurance::Authenticated {
            // A certificate for an IP address proves no name: authentication needs the MX (or
            // next hop) host name.
            evidence.limit(
                crate::tls::Assurance::Encrypted,
                "validation-failure",
                "the next hop is an IP address: there is no host name to authenticate".into(),
            );
        }
        Ok(Connection {
            io: Box::new(stream),
            buf: Vec::with_capacity(4096),
            target: self.target,
            caps: Capabilities::default(),
            evidence,
            transactions: 0,
            reported_for: Vec::new(),
            broken: false,
            data_started: false,
            t: self.t,
        })
    }

    /// Sends one message to `rcpts`, its data from `body`.
    pub async fn send(
        &mut self,
        env: &Envelope<'_>,
        rcpts: &[RcptSpec<'_>],
        body: Body<'_>,
    ) -> Result<Transaction, SessionError> {
        self.data_started = false;
        let addresses: Vec<&str> = rcpts.iter().map(|r| r.address).collect();
        let mail = match envelope::mail_from(env, &addresses, &self.caps) {
            Ok(m) => m,
            Err(u) => return Ok(Transaction::Unsendable(u)),
        };
        let rcpt_cmds: Vec<String> =
            rcpts.iter().map(|r| envelope::rcpt_to(r.address, r.notify, r.orcpt, &self.caps)).collect();
        let (mail_reply, rcpt_replies, data_reply) = if self.caps.pipelining {
            let mut batch = mail.clone();
            for c in &rcpt_cmds {
                batch.push_str(c);
            }
            batch.push_str("DATA\r\n");
            self.write(batch.as_bytes(), self.t.mail).await?;
            let m = self.read_reply(self.t.mail, "after MAIL FROM").await?;
            let mut rs = Vec::with_capacity(rcpts.len());
            for _ in rcpts {
                rs.push(self.read_reply(self.t.rcpt, "after RCPT TO").await?);
            }
            let d = self.read_reply(self.t.data_init, "after DATA").await?;
            (m, rs, Some(d))
        } else {
            let m = self.command(&mail, self.t.mail, "after MAIL FROM").await?;
            let mut rs = Vec::with_capacity(rcpts.len());
            if m.is_positive() {
                for c in &rcpt_cmds {
                    rs.push(self.command(c, self.t.rcpt, "after RCPT TO").await?);
                }
            }
            let d = if m.is_positive() && rs.iter().any(ServerReply::is_positive) {
                Some(self.command("DATA\r\n", self.t.data_init, "after DATA").await?)
            } else {
                None
            };
            (m, rs, d)
        };
        let accepted = rcpt_replies.iter().any(ServerReply::is_positive);
        if !mail_reply.is_positive() {
            if data_reply.as_ref().is_some_and(|d| d.code == 354) {
                self.abort_data().await?;
            }
            if !self.rset().await {
                self.broken = true;
            }
            return Ok(Transaction::MailRefused(mail_reply));
        }
        let data = match data_reply {
            Some(d) if d.code == 354 && accepted => {
                self.data_started = true;
                self.stream_body(body).await?;
                let done = self.read_reply(self.t.done, "after the end of data").await?;
                if done.is_positive() {
                    self.transactions += 1;
                }
                Some(done)
            }
            Some(d) if d.code == 354 => {
                // No recipient was accepted, yet the server wants data: send an empty end.
                self.abort_data().await?;
                None
            }
            Some(d) if accepted => Some(d),
            _ => None,
        };
        if data.as_ref().is_none_or(|d| !d.is_positive()) && !self.rset().await {
            self.broken = true;
        }
        Ok(Transaction::Done { rcpts: rcpt_replies, data })
    }

    async fn abort_data(&mut self) -> Result<(), SessionError> {
        self.write(b".\r\n", self.t.block).await?;
        self.read_reply(self.t.done, "after an empty DATA").await.map(|_| ())
    }

    async fn stream_body(&mut self, body: Body<'_>) -> Result<(), SessionError> {
        use std::io::Read;
        // Reads come from the page cache (the body was just written or is small): done in
        // place, they cost no thread hop.
        let lost = |_| SessionError::Lost("reading the spooled body");
        let (mut file, len): (Box<dyn Read + Send>, u64) = match body {
            Body::File(path) => {
                let file = std::fs::File::open(path).map_err(lost)?;
                let len = file.metadata().map_err(lost)?.len();
                (Box::new(file), len)
            }
            Body::Bytes(bytes) => (Box::new(bytes), bytes.len() as u64),
            Body::Spliced { head, path, resume_at } => {
                use std::io::Seek as _;
                let mut rest = std::fs::File::open(path).map_err(lost)?;
                let len = rest.metadata().map_err(lost)?.len().saturating_sub(resume_at);
                rest.seek(std::io::SeekFrom::Start(resume_at)).map_err(lost)?;
                (Box::new(std::io::Read::chain(head, rest)), head.len() as u64 + len)
            }
            Body::Joined { head, rest } => {
                (Box::new(std::io::Read::chain(head, rest)), head.len() as u64 + rest.len() as u64)
            }
        };
        // As large as the body, up to 64 KiB: a small message does not fill a large buffer.
        let mut chunk = vec![0u8; len.clamp(1, 64 << 10) as usize];
        let mut out = Vec::with_capacity(70 << 10);
        let mut stuffer = DotStuffer::default();
        loop {
            let n = file.read(&mut chunk).map_err(|_| SessionError::Lost("reading the spooled body"))?;
            if n == 0 {
                break;
            }
            stuffer.encode(&chunk[..n], &mut out);
            if out.len() >= 64 << 10 {
                self.write(&out, self.t.block).await?;
                out.clear();
            }
        }
        stuffer.finish(&mut out);
        self.write(&out, self.t.block).await
    }

    /// "TLSv1.3 CIPHER" when the session runs over TLS, as recorded with each attempt.
    pub fn tls_summary(&self) -> Option<String> {
        Some(format!("{} {}", self.evidence.version.as_ref()?, self.evidence.cipher.as_deref().unwrap_or("unknown")))
    }

    /// True when the connection can carry another message: every reply was read in step.
    pub fn reusable(&self) -> bool {
        !self.broken && self.buf.is_empty()
    }

    /// True when the last `send` began sending the message data (resending could duplicate it).
    pub fn data_started(&self) -> bool {
        self.data_started
    }

    /// RSET, so the connection can carry another message; false if it is no longer usable.
    pub async fn rset(&mut self) -> bool {
        matches!(self.command("RSET\r\n", self.t.mail, "after RSET").await, Ok(r) if r.is_positive())
    }

    /// The timeouts this connection runs with.
    pub fn timeouts(&self) -> Timeouts {
        self.t
    }

    /// QUIT and close.
    pub async fn quit(mut self) {
        let _ = self.command("QUIT\r\n", Duration::from_secs(5), "after QUIT").await;
        let _ = self.io.shutdown().await;
    }

    pub(crate) async fn command(
        &mut self,
        cmd: &str,
        limit: Duration,
        what: &'static str,
    ) -> Result<ServerReply, SessionError> {
        self.write(cmd.as_bytes(), limit).await?;
        self.read_reply(limit, what).await
    }

    async fn write(&mut self, bytes: &[u8], limit: Duration) -> Result<(), SessionError> {
        let io = async {
            self.io.write_all(bytes).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(limit, io).await {
            Err(_) => Err(SessionError::Timeout("sending")),
            Ok(Err(_)) => Err(SessionError::Lost("while sending")),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read_reply(&mut self, limit: Duration, what: &'static str) -> Result<ServerReply, SessionError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match reply::parse(&self.buf) {
                Ok(Some((r, used))) => {
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
            }
            self.buf.reserve(4096);
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                Err(_) => return Err(SessionError::Timeout(what)),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(SessionError::Lost(what)),
                Ok(Ok(_)) => {}
            }
        }
    }
}
