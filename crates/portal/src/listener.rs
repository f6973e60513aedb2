//! The portal's listening socket with the limits an outsider cannot grow past:
//! - at most `max_connections` open at once; beyond them a connection is answered
//!   `503 Service Unavailable` and closed;
//! - at most `max_connections_per_client` from one client address (an IPv6 /64; trusted
//!   proxies are not capped); beyond them `429 Too Many Requests` and closed — one client
//!   cannot take every slot;
//! - a request's headers must arrive within `header_timeout` of its first byte (of the
//!   connection, for its first request), else `408 Request Timeout` and the connection is
//!   closed: a client trickling one header line at a time holds its slot for seconds, not
//!   minutes (the rest of the request, its body, is timed by the guard: `request_timeout`);
//! - a connection that moves no byte either way for `idle_timeout` is closed — a client never
//!   reading a download holds nothing for long.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use sekisho_config::PortalConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::guard::client_key;

/// The client's address, as handlers see it (`ConnectInfo<Peer>`): the connection's peer, or
/// the client a trusted proxy named (the guard puts it in every request).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// What the guard learns of a request's connection (`ConnectInfo<Connection>`).
#[derive(Debug, Clone)]
pub struct Connection {
    /// The socket's peer.
    pub addr: SocketAddr,
    /// The connection's request clock.
    pub clock: Arc<RequestClock>,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Guarded>> for Connection {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Guarded>) -> Connection {
        Connection { addr: *stream.remote_addr(), clock: stream.io().clock.clone() }
    }
}

/// Where a connection's current request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its headers are arriving (timed by `header_timeout`).
    Head,
    /// Parsed and handed to the portal, until its response has been sent: its body, if any,
    /// is timed by the guard.
    Handling,
    /// The response was sent; the connection waits for the next request.
    Done,
}

/// When the connection's current request began and where it is.
#[derive(Debug)]
pub struct RequestClock {
    state: Mutex<(Phase, Instant)>,
}

impl RequestClock {
    fn new() -> RequestClock {
        RequestClock { state: Mutex::new((Phase::Head, Instant::now())) }
    }

    /// Marks the request as handed to the portal (its headers are in); returns when its first
    /// byte arrived.
    pub fn handling(&self) -> Instant {
        let mut state = self.state.lock().expect("request clock lock");
        state.0 = Phase::Handling;
        state.1
    }

    fn phase(&self) -> Phase {
        self.state.lock().expect("request clock lock").0
    }

    /// Marks the request's response as sent (its body was dropped by the server).
    pub fn done(&self) {
        let mut state = self.state.lock().expect("request clock lock");
        if state.0 == Phase::Handling {
            state.0 = Phase::Done;
        }
    }

    /// Bytes arrived: after a response, they begin the next request.
    fn read(&self) -> bool {
        let mut state = self.state.lock().expect("request clock lock");
        if state.0 == Phase::Done {
            *state = (Phase::Head, Instant::now());
            return true;
        }
        false
    }
}

/// The limits, from `[portal]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub per_client: usize,
    pub idle: Duration,
    pub header: Duration,
    /// For `trusted_proxies`, which are not capped per client.
    pub portal: PortalConfig,
}

impl Limits {
    /// The limits `portal` configures.
    pub fn new(portal: &PortalConfig) -> Limits {
        Limits {
            max_connections: portal.max_connections,
            per_client: portal.max_connections_per_client,
            idle: portal.idle_timeout.0,
            header: portal.header_timeout.0,
            portal: portal.clone(),
        }
    }
}

/// Open connections per client key.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A listener handing out connections within the limits.
pub struct Guarded {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    counts: Counts,
    refusals: Arc<Semaphore>,
    limits: Limits,
}

impl Guarded {
    /// Limits `inner` as `limits` say.
    pub fn new(inner: TcpListener, limits: Limits) -> Guarded {
        Guarded {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            counts: Arc::default(),
            refusals: Arc::new(Semaphore::new(REFUSALS)),
            limits,
        }
    }

    /// Counts a connection of `ip`; `None` when the client already has its share.
    fn admit(&self, ip: IpAddr) -> Option<Counted> {
        if self.limits.portal.trusted_proxy(ip) {
            return Some(Counted { counts: self.counts.clone(), key: None });
        }
        let key = client_key(ip);
        let mut counts = self.counts.lock().expect("connection counts lock");
        let open = counts.entry(key).or_insert(0);
        if *open >= self.limits.per_client {
            return None;
        }
        *open += 1;
        Some(Counted { counts: self.counts.clone(), key: Some(key) })
    }
}

/// One counted connection of a client, uncounted when dropped.
struct Counted {
    counts: Counts,
    key: Option<IpAddr>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut counts = self.counts.lock().expect("connection counts lock");
        if let Some(open) = counts.get_mut(&key) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// `408`: the request did not arrive in time.
const TIMED_OUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
    Content-Length: 41\r\n\r\nthe request did not arrive in time; retry\n";
/// `429`: this client has its share of connections.
const PER_CLIENT: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: 10\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 50\r\n\r\ntoo many connections from your address; close some\n";
/// `503`: every connection slot is taken.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 10\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 48\r\n\r\nthe portal is busy; try again in a few seconds\n";

/// Refused connections being answered at once; beyond them a refused connection is closed
/// without an answer, so a flood of connections holds few descriptors.
const REFUSALS: usize = 256;

/// Answers `response` on a connection the portal does not serve, and closes it: within a
/// second, reading what the client sent meanwhile so the answer is not lost to a reset.
fn refuse(refusals: &Arc<Semaphore>, mut io: TcpStream, response: &'static [u8]) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else { return };
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            io.write_all(response).await?;
            io.shutdown().await?;
            let mut sink = [0u8; 1024];
            while tokio::io::AsyncReadExt::read(&mut io, &mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
    });
}

/// A connection holding its slot until it is dropped.
pub struct GuardedStream {
    io: TcpStream,
    _slot: OwnedSemaphorePermit,
    _counted: Counted,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    header: Duration,
    header_deadline: Pin<Box<Sleep>>,
    clock: Arc<RequestClock>,
    /// A write is waiting for the client to read.
    writing: bool,
}

impl GuardedStream {
    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// An error once the connection has been idle too long, or a request's headers took too
    /// long (then `408` is sent first), else pending.
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        if self.clock.phase() == Phase::Head && self.header_deadline.as_mut().poll(cx).is_ready() {
            // The last response was sent whole: the 408 is an answer of its own (unless the
            // client has not even read that one yet).
            if !self.writing {
                let _ = self.io.try_write(TIMED_OUT);
            }
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request's headers took too long");
            return Poll::Ready(e);
        }
        self.deadline
            .as_mut()
            .poll(cx)
            .map(|()| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client moved no byte for too long"))
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                    if self.clock.read() {
                        let at = Instant::now() + self.header;
                        self.header_deadline.as_mut().reset(at);
                    }
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.expired(cx).map(Err),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.writing = false;
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.writing = true;
                self.expired(cx).map(Err)
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for Guarded {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "portal accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                refuse(&self.refusals, io, FULL);
                continue;
            };
            let Some(counted) = self.admit(addr.ip()) else {
                tracing::info!(client = %addr.ip(), "portal connection refused: too many from this client");
                refuse(&self.refusals, io, PER_CLIENT);
                continue;
            };
            let _ = io.set_nodelay(true);
            let now = Instant::now();
            let stream = GuardedStream {
                io,
                _slot: slot,
                _counted: counted,
                idle: self.limits.idle,
                deadline: Box::pin(tokio::time::sleep_until(now + self.limits.idle)),
                header: self.limits.header,
                header_deadline: Box::pin(tokio::time::sleep_until(now + self.limits.header)),
                clock: Arc::new(RequestClock::new()),
                writing: false,
            };
            return (stream, addr);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits(max: usize, per_client: usize, idle_ms: u64, header_ms: u64) -> Limits {
        let portal = PortalConfig { trusted_proxies: vec!["127.0.0.9/32".parse().unwrap()], ..PortalConfig::default() };
        Limits {
            max_connections: max,
            per_client,
            idle: Duration::from_millis(idle_ms),
            header: Duration::from_millis(header_ms),
            portal,
        }
    }

    async fn answer(addr: SocketAddr, from: &str) -> String {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut client = socket.connect(addr).await.unwrap();
        let mut text = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), client.read_to_string(&mut text)).await;
        text
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_frees_its_slot() {
        use axum::serve::Listener as _;
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = Guarded::new(inner, limits(1, 8, 300, 60_000));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = listener.accept().await;
        client.write_all(b"G").await.unwrap();
        let mut one = [0u8; 1];
        conn.read_exact(&mut one).await.unwrap();
        let started = std::time::Instant::now();
        let err = conn.read(&mut one).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(250));
        // The only slot is taken until the connection is dropped: the next client is told so.
        let second = tokio::spawn(answer(addr, "127.0.0.1"));
        let waiting = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(waiting.is_err(), "no second connection while the first holds the slot");
        assert!(second.await.unwrap().starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        drop(conn);
        let _third = TcpStream::connect(addr).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(2), listener.accept()).await.is_ok());
    }

    #[tokio::test]
    async fn headers_too_slow_get_408_and_one_client_gets_its_share_only() {
        use axum::serve::Listener as _;
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = Guarded::new(inner, limits(10, 2, 60_000, 300));
        let mut slow = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = listener.accept().await;
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        let started = std::time::Instant::now();
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(conn);
        let mut text = String::new();
        slow.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{text}");

        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let (_ca, _) = listener.accept().await;
        let (_cb, _) = listener.accept().await;
        let third = tokio::spawn(answer(addr, "127.0.0.1"));
        assert!(tokio::time::timeout(Duration::from_millis(300), listener.accept()).await.is_err());
        assert!(third.await.unwrap().starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        // Another client, and a trusted proxy beyond the per-client cap, are served.
        let connect_from = |from: &'static str| async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
            socket.connect(addr).await.unwrap()
        };
        let _other = connect_from("127.0.0.2").await;
        let (_co, peer) = listener.accept().await;
        assert_eq!(peer.ip().to_string(), "127.0.0.2");
        let mut proxied = Vec::new();
        for _ in 0..3 {
            let c = connect_from("127.0.0.9").await;
            let (conn, peer) = listener.accept().await;
            assert_eq!(peer.ip().to_string(), "127.0.0.9");
            proxied.push((c, conn));
        }
    }

    #[tokio::test]
    async fn only_a_request_whose_headers_are_arriving_is_timed_as_headers() {
        use axum::serve::Listener as _;
        let inner = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let mut listener = Guarded::new(inner, limits(10, 8, 60_000, 200));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = listener.accept().await;
        let mut buf = [0u8; 64];
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        conn.clock.handling();
        let handled = tokio::time::timeout(Duration::from_millis(500), conn.read(&mut buf)).await;
        assert!(handled.is_err(), "a request being handled (or its response sent) has no header deadline");
        conn.clock.done();
        let quiet = tokio::time::timeout(Duration::from_millis(500), conn.read(&mut buf)).await;
        assert!(quiet.is_err(), "a quiet keep-alive connection waits for idle_timeout only");
        client.write_all(b"GET / HT").await.unwrap();
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        let started = std::time::Instant::now();
        assert_eq!(conn.read(&mut buf).await.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(conn);
        let mut text = String::new();
        client.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{text}");
    }
}
