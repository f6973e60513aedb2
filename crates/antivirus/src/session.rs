//! One clamd connection in session mode (`zIDSESSION`): commands go one at a time and each
//! reply carries its command's number. The driver of the protocol; the rules it applies are
//! in `frame` and `reply`.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use crate::address::ClamdAddress;
use crate::descriptor::{FILDES, memory_file, send_descriptor};
use crate::error::{ClamdError, Stage};
use crate::frame::{StreamError, write_chunks, write_framed};
use crate::reply::strip_session_id;

/// The longest reply read (clamd's are one short line).
const MAX_REPLY: usize = 4096;

/// A request sent on a session.
pub(crate) enum Request<'a, R> {
    /// A command without data, e.g. `b"zPING\0"`.
    Command(&'static [u8]),
    /// INSTREAM with bytes in memory.
    Bytes(&'a [u8]),
    /// FILDES with the descriptor of a memory file holding the bytes (Unix sockets only).
    Descriptor(&'a [u8]),
    /// INSTREAM with bytes read as they are sent.
    Reader(&'a mut Tracked<R>),
}

impl<R> Request<'_, R> {
    /// Whether the request can go again on another connection: all of it is still at hand.
    pub(crate) fn replayable(&self) -> bool {
        match self {
            Request::Command(_) | Request::Bytes(_) | Request::Descriptor(_) => true,
            Request::Reader(r) => !r.read_any,
        }
    }
}

/// A reader that remembers whether it has given any bytes (then it cannot be sent again).
pub(crate) struct Tracked<R> {
    inner: R,
    read_any: bool,
}

impl<R> Tracked<R> {
    pub(crate) fn new(inner: R) -> Self {
        Tracked { inner, read_any: false }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Tracked<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.read_any = true;
        }
        poll
    }
}

/// How an exchange failed.
pub(crate) enum Failed {
    /// The connection was closed, or reset, before clamd answered (e.g. clamd ended an idle
    /// session): another connection may carry the request if it is still whole.
    Closed,
    /// Anything else.
    Error(ClamdError),
}

impl From<ClamdError> for Failed {
    fn from(e: ClamdError) -> Self {
        Failed::Error(e)
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// An open clamd session.
pub(crate) struct Session {
    stream: Stream,
    /// The number of the last command sent; clamd numbers a session's commands from 1.
    last_id: u64,
    /// When it was last put back in the pool.
    pub(crate) idle_since: Instant,
}

impl Session {
    /// Connects within `timeout` and starts a session.
    pub(crate) async fn open(address: &ClamdAddress, timeout: Duration) -> Result<Session, ClamdError> {
        let unavailable = |source| ClamdError::Unavailable { address: address.clone(), source };
        let connect = async {
            match address {
                ClamdAddress::Unix(path) => UnixStream::connect(path).await.map(Stream::Unix),
                ClamdAddress::Tcp(addr) => {
                    let s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    Ok(Stream::Tcp(s))
                }
            }
        };
        let stream = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| ClamdError::Timeout { stage: Stage::Connect, after: timeout })?
            .map_err(unavailable)?;
        let mut session = Session { stream, last_id: 0, idle_since: Instant::now() };
        session.write_all(b"zIDSESSION\0").await.map_err(ClamdError::Io)?;
        Ok(session)
    }

    /// Whether clamd has closed the connection, or written something unasked (its
    /// `COMMAND READ TIMED OUT` before it closes an idle session). Does not wait.
    pub(crate) fn closed_by_clamd(&self) -> bool {
        let mut byte = [0u8; 1];
        let read = match &self.stream {
            Stream::Unix(s) => s.try_read(&mut byte),
            Stream::Tcp(s) => s.try_read(&mut byte),
        };
        !matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Sends `request` and returns clamd's reply without its session number.
    pub(crate) async fn exchange<R: AsyncRead + Unpin>(
        &mut self,
        request: &mut Request<'_, R>,
        max_stream: u64,
    ) -> Result<String, Failed> {
        self.last_id += 1;
        let sent = match request {
            Request::Command(command) => self.write_all(command).await.map_err(|_| Failed::Closed),
            Request::Bytes(bytes) => self.stream_bytes(bytes).await,
            Request::Reader(reader) => self.stream_from(*reader, max_stream).await,
            Request::Descriptor(bytes) => self.pass_descriptor(bytes).await,
        };
        match sent {
            Ok(()) => {}
            // clamd may have answered and closed (its size limit): read what it said.
            Err(Failed::Closed) => {
                return match self.read_reply().await {
                    Ok(reply) => Ok(strip_session_id(&reply, self.last_id)?.to_string()),
                    Err(_) => Err(Failed::Closed),
                };
            }
            Err(e) => return Err(e),
        }
        let reply = self.read_reply().await?;
        Ok(strip_session_id(&reply, self.last_id)?.to_string())
    }

    async fn stream_from<R: AsyncRead + Unpin + ?Sized>(&mut self, reader: &mut R, max: u64) -> Result<(), Failed> {
        self.write_all(b"zINSTREAM\0").await.map_err(|_| Failed::Closed)?;
        match write_chunks(reader, self, max).await {
            Ok(_) => Ok(()),
            Err(StreamError::TooLarge) => Err(Failed::Error(ClamdError::TooLarge)),
            Err(StreamError::Read(e)) => Err(Failed::Error(ClamdError::Io(e))),
            Err(StreamError::Write(e)) => {
                tracing::debug!(error = %e, "writing to clamd failed; reading what it answered");
                Err(Failed::Closed)
            }
        }
    }

    /// INSTREAM of bytes in memory (their size already checked against `max_stream`).
    async fn stream_bytes(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        write_framed(self, b"zINSTREAM\0", bytes).await.map_err(|e| {
            tracing::debug!(error = %e, "writing to clamd failed; reading what it answered");
            Failed::Closed
        })
    }

    /// FILDES: the command, then one byte carrying the descriptor of a memory file holding
    /// `bytes` (made here, under the request's turn, and closed once sent).
    async fn pass_descriptor(&mut self, bytes: &[u8]) -> Result<(), Failed> {
        if !matches!(self.stream, Stream::Unix(_)) {
            return Err(ClamdError::Protocol("a descriptor can only be passed over a Unix socket".into()).into());
        }
        let file = memory_file(bytes).map_err(|e| Failed::Error(ClamdError::NoMemoryFile(e)))?;
        let closed = |e: io::Error| {
            tracing::debug!(error = %e, "passing a descriptor to clamd failed; reading what it answered");
            Failed::Closed
        };
        self.write_all(FILDES).await.map_err(closed)?;
        let Stream::Unix(stream) = &self.stream else { unreachable!("checked above") };
        loop {
            stream.writable().await.map_err(closed)?;
            match stream.try_io(Interest::WRITABLE, || send_descriptor(stream.as_raw_fd(), &file)) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(closed(e)),
            }
        }
    }

    /// Reads one reply up to its NUL.
    async fn read_reply(&mut self) -> Result<String, Failed> {
        let mut reply = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        loop {
            let n = match self.read(&mut buf).await {
                Ok(n) => n,
                Err(_) if reply.is_empty() => return Err(Failed::Closed),
                Err(e) => return Err(ClamdError::Io(e).into()),
            };
            if n == 0 {
                let text = String::from_utf8_lossy(&reply);
                if reply.is_empty() || text.trim_end() == "COMMAND READ TIMED OUT" {
                    return Err(Failed::Closed);
                }
                return Err(ClamdError::Protocol(format!("reply cut short: `{}`", text.escape_debug())).into());
            }
            reply.extend_from_slice(&buf[..n]);
            if let Some(end) = reply.iter().position(|&b| b == 0) {
                if end + 1 != reply.len() {
                    return Err(ClamdError::Protocol("clamd sent more than one reply".into()).into());
                }
                reply.truncate(end);
                return String::from_utf8(reply).map_err(|_| ClamdError::Protocol("reply is not UTF-8".into()).into());
            }
            if reply.len() > MAX_REPLY {
                return Err(ClamdError::Protocol(format!("reply longer than {MAX_REPLY} bytes")).into());
            }
        }
    }
}

impl AsyncRead for Session {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Session {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
