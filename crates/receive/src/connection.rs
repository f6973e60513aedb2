//! One SMTP connection: the session driven over a socket, then over TLS after STARTTLS.
//!
//! Besides the session's own rules, the driver enforces what only it can see:
//! - the connection's slot in the listener's limits is given back before the last reply is
//!   written, so a client may reconnect as soon as it read the 221;
//! - the time to send a command, shortened before MAIL while the listener is under stress
//!   (`stress_command_timeout`, re-evaluated as soon as stress begins);
//! - on the MX listener, message content that arrived together with DATA, before the 354 was
//!   sent, is a pipelining violation (Postfix's `smtpd_forbid_unauth_pipelining`):
//!   `554 5.5.0` and close. Authenticated sessions may pipeline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sekisho_smtp::session::Next;
use sekisho_smtp::{Action, FramedLine, LineReader, Reply, Session};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::limits::ConnectionSlot;
use crate::message::{self, Abort, Arrival};
use crate::server::{Ctx, ListenerCtx};

enum End {
    Closed,
    StartTls,
}

/// Serves one accepted connection to the end; `slot` is its place in the listener's limits.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: Arc<Ctx>,
    listener: Arc<ListenerCtx>,
    mut tcp: S,
    peer: SocketAddr,
    slot: ConnectionSlot,
) {
    let mut session = Session::new(listener.session_config(&ctx, peer.ip()));
    let mut buf = Vec::with_capacity(4096);
    // The blocklists are asked now, while the client speaks (MX listeners, untrusted clients).
    let applies = !listener.is_submission() && !listener.config.trusts(peer.ip());
    let reputation = crate::reputation::ClientLookup::start(&ctx, peer.ip(), applies);
    let mut conn = Conn { ctx: &ctx, listener: &listener, peer, tls: None, slot: Some(slot), reputation };
    let limit = ctx.config.smtp.command_timeout.0;
    if write(&mut tcp, &session.greeting().to_wire(), limit).await.is_err() {
        return;
    }
    match conn.drive(&mut tcp, &mut session, &mut buf).await {
        End::Closed => {}
        End::StartTls => {
            if !buf.is_empty() {
                tracing::warn!(client = %peer, bytes = buf.len(), "discarded plaintext pipelined after STARTTLS");
                buf.clear();
            }
            let acceptor = ctx.tls.acceptor();
            let handshake = tokio::time::timeout(ctx.config.smtp.command_timeout.0, acceptor.accept(tcp)).await;
            let mut tls = match handshake {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    ctx.metrics.tls_failure(sekisho_metrics::Direction::Inbound);
                    tracing::info!(client = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    ctx.metrics.tls_failure(sekisho_metrics::Direction::Inbound);
                    tracing::info!(client = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let info = crate::tls::describe(tls.get_ref().1);
            tracing::info!(client = %peer, version = %info.0, cipher = %info.1, "TLS established");
            conn.tls = Some(info);
            session.tls_established();
            conn.drive(&mut tls, &mut session, &mut buf).await;
        }
    }
    tracing::info!(client = %peer, "disconnect");
}

struct Conn<'a> {
    ctx: &'a Ctx,
    listener: &'a ListenerCtx,
    peer: SocketAddr,
    tls: Option<(String, String)>,
    /// Held until the session ends.
    slot: Option<ConnectionSlot>,
    /// The client's DNS blocklists, asked at connect; None when they do not apply.
    reputation: Option<crate::reputation::ClientLookup>,
}

/// The reply to message content sent before the 354.
fn synchronization_error() -> Reply {
    Reply::new(554, "5.5.0", "Error: SMTP protocol synchronization")
}

impl Conn<'_> {
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        session: &mut Session,
        buf: &mut Vec<u8>,
    ) -> End {
        let mut reader = LineReader::new(self.ctx.config.smtp.max_command_line);
        let mut out = String::new();
        let mut line_started: Option<Instant> = None;
        let mut stress = self.listener.limiter.stress();
        let mut auth_failures = 0u32;
        loop {
            let mut pos = 0;
            while let Some(line) = reader.take(buf, &mut pos) {
                line_started = None;
                let mut action = match self.listed_at_rcpt(session, &line).await {
                    Some(reply) => session.refuse(reply),
                    None => self.on_line(session, line),
                };
                if action.next == Next::ReceiveData && pos < buf.len() && self.forbids_pipelining(session) {
                    tracing::info!(client = %self.peer, bytes = buf.len() - pos, "message content sent before 354");
                    action = Action { replies: vec![synchronization_error()], next: Next::Close };
                }
                loop {
                    for r in &action.replies {
                        if r.is_error() {
                            tracing::info!(client = %self.peer, reply = %r.summary(), "refused");
                        }
                        out.push_str(&r.to_wire());
                    }
                    action = match action.next {
                        Next::Continue => break,
                        Next::Close => {
                            self.release();
                            let _ = write(stream, &out, self.write_limit()).await;
                            let _ = tokio::time::timeout(self.write_limit(), stream.shutdown()).await;
                            return End::Closed;
                        }
                        Next::StartTls => {
                            buf.drain(..pos);
                            if write(stream, &out, self.write_limit()).await.is_err() {
                                return End::Closed;
                            }
                            return End::StartTls;
                        }
                        Next::ReceiveData => {
                            // The message content starts right after the DATA line.
                            buf.drain(..std::mem::take(&mut pos));
                            if write(stream, &std::mem::take(&mut out), self.write_limit()).await.is_err() {
                                return End::Closed;
                            }
                            match self.receive_data(stream, session, buf).await {
                                Ok(reply) => session.data_finished(reply),
                                Err(Abort::Timeout) => self.timed_out(stream).await,
                                Err(Abort::Disconnected) => return End::Closed,
                            }
                        }
                        Next::VerifyAuth { user, password } => {
                            let outcome = self.ctx.auth.verify(self.peer.ip(), &user, &password, auth_failures).await;
                            tracing::info!(client = %self.peer, user = %user, outcome = ?outcome, "AUTH");
                            if outcome != sekisho_smtp::AuthOutcome::Success {
                                auth_failures += 1;
                            }
                            session.auth_result(user, outcome)
                        }
                        Next::VerifyRecipient { address } => {
                            session.recipient_verdict(self.ctx.recipients.verify(self.peer.ip(), &address).await)
                        }
                        Next::VerifySender { user, address } => {
                            session.sender_verdict(crate::senders::check(self.ctx, user.as_deref(), &address).await)
                        }
                    };
                }
            }
            buf.drain(..pos);
            if !out.is_empty() && write(stream, &std::mem::take(&mut out), self.write_limit()).await.is_err() {
                return End::Closed;
            }
            let started = *line_started.get_or_insert_with(Instant::now);
            buf.reserve(4096);
            let read = loop {
                let deadline = started + self.command_limit(session, *stress.borrow_and_update());
                tokio::select! {
                    read = tokio::time::timeout_at(deadline, stream.read_buf(buf)) => break read,
                    // Stress began or ended: the deadline changes.
                    Ok(()) = stress.changed() => {}
                }
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return End::Closed,
                Ok(Ok(_)) => {}
                Err(_) => {
                    self.timed_out(stream).await;
                    return End::Closed;
                }
            }
        }
    }

    fn write_limit(&self) -> Duration {
        self.ctx.config.smtp.command_timeout.0
    }

    /// Time to send the next command line: `command_timeout`, or before MAIL while the listener
    /// is under stress, `stress_command_timeout` if shorter.
    fn command_limit(&self, session: &Session, stressed: bool) -> Duration {
        let smtp = &self.ctx.config.smtp;
        if stressed && session.transaction().is_none() {
            smtp.command_timeout.0.min(smtp.stress_command_timeout.0)
        } else {
            smtp.command_timeout.0
        }
    }

    /// True when message content must not arrive before the 354: unauthenticated sessions on
    /// the MX listener.
    fn forbids_pipelining(&self, session: &Session) -> bool {
        !self.listener.is_submission() && session.user().is_none()
    }

    /// Gives the connection's slot back: called before the last reply is written.
    fn release(&mut self) {
        self.slot = None;
    }

    fn on_line(&self, session: &mut Session, line: FramedLine) -> Action {
        if let FramedLine::Line(bytes) = &line
            && bytes.len() >= 4
            && bytes[..4].eq_ignore_ascii_case(b"MAIL")
            && self.storage_low()
        {
            return session.refuse(Reply::new(452, "4.3.1", "Insufficient system storage; try again later"));
        }
        session.on_line(line)
    }

    /// The 550 for a RCPT line of a client whose blocklists' score alone reaches
    /// `[reputation] reject_score` (waiting for their answers, at most `timeout`).
    async fn listed_at_rcpt(&mut self, session: &Session, line: &FramedLine) -> Option<Reply> {
        let FramedLine::Line(bytes) = line else { return None };
        if bytes.len() < 4 || !bytes[..4].eq_ignore_ascii_case(b"RCPT") || session.transaction().is_none() {
            return None;
        }
        if session.user().is_some() {
            return None;
        }
        let reply = self.reputation.as_mut()?.refusal(&self.ctx.config.reputation, self.peer.ip()).await?;
        tracing::info!(client = %self.peer, "refused at RCPT: the client is on DNS blocklists ([reputation] reject_score)");
        Some(reply)
    }

    fn storage_low(&self) -> bool {
        self.ctx.queue.spool().free_space().is_some_and(|free| free < self.ctx.config.store.min_free_space)
    }

    async fn receive_data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        session: &Session,
        buf: &mut Vec<u8>,
    ) -> Result<Reply, Abort> {
        let tx = session.transaction().cloned().expect("DATA is only accepted within a transaction");
        let (helo, esmtp) = session.helo().unwrap_or(("unknown", false));
        let reputation = match (&mut self.reputation, session.user()) {
            (Some(lookup), None) => Some(lookup.record().await.clone()),
            _ => None,
        };
        let arrival = Arrival {
            reputation: reputation.as_ref(),
            helo,
            esmtp,
            client_ip: self.peer.ip(),
            listener: &self.listener.label,
            submission: self.listener.is_submission(),
            max_message_size: self.listener.config.max_message_size(&self.ctx.config.smtp),
            tls: self.tls.as_ref(),
            user: session.user(),
        };
        message::receive(self.ctx, stream, buf, &tx, &arrival).await
    }

    async fn timed_out<S: AsyncWrite + Unpin>(&mut self, stream: &mut S) -> Action {
        tracing::info!(client = %self.peer, "timeout");
        self.release();
        let _ = write(stream, &Session::timeout_reply().to_wire(), self.write_limit()).await;
        Action { replies: vec![], next: Next::Close }
    }
}

/// Writes replies; a client that stops reading is given `limit` before the connection is dropped.
async fn write<S: AsyncWrite + Unpin>(stream: &mut S, text: &str, limit: Duration) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let io = async {
        stream.write_all(text.as_bytes()).await?;
        stream.flush().await
    };
    tokio::time::timeout(limit, io).await.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll};

    use tokio::io::{DuplexStream, ReadBuf};

    use super::*;
    use crate::limits::ConnectionLimiter;

    /// The server's side of a connection that notes, for every write, the text written and how
    /// many connections the listener had open at that moment.
    struct Recording {
        inner: DuplexStream,
        limiter: Arc<ConnectionLimiter>,
        writes: Arc<Mutex<Vec<(String, usize)>>>,
    }

    impl AsyncRead for Recording {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Recording {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            let open = self.limiter.open();
            let written = Pin::new(&mut self.inner).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = written {
                self.writes.lock().unwrap().push((String::from_utf8_lossy(&buf[..n]).into_owned(), open));
            }
            written
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// Runs one session of `input` on listener `index` of a test server; returns each write
    /// with the listener's open connections at the time.
    async fn session(index: usize, input: &[u8]) -> Vec<(String, usize)> {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, listeners) = crate::server::test_server(dir.path()).await;
        let listener = listeners[index].clone();
        let peer: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let slot = listener.limiter.acquire(peer.ip(), false).unwrap();
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let stream = Recording { inner: server, limiter: listener.limiter.clone(), writes: writes.clone() };
        let task = tokio::spawn(serve(ctx, listener, stream, peer, slot));
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        task.await.unwrap();
        writes.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn the_slot_is_given_back_before_the_221_is_written() {
        let writes = session(0, b"EHLO client.test\r\nQUIT\r\n").await;
        assert!(writes[0].0.starts_with("220 ") && writes[0].1 == 1, "{writes:?}");
        let last = writes.last().unwrap();
        assert!(last.0.contains("221 "), "{writes:?}");
        assert_eq!(last.1, 0, "the client may reconnect as soon as it reads 221");
    }

    #[tokio::test]
    async fn content_before_354_on_the_mx_listener_is_a_synchronization_error() {
        let writes = session(1, b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nSubject: early\r\n\r\nx\r\n.\r\n").await;
        let all: String = writes.iter().map(|w| w.0.as_str()).collect();
        assert!(all.contains("554 5.5.0 Error: SMTP protocol synchronization\r\n"), "{all}");
        assert!(!all.contains("354"), "{all}");
        assert!(!all.contains("queued"), "{all}");
    }

    #[tokio::test]
    async fn data_on_its_own_on_the_mx_listener_is_fine() {
        let writes =
            session(1, b"EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\n").await;
        let all: String = writes.iter().map(|w| w.0.as_str()).collect();
        assert!(all.contains("354 "), "{all}");
        assert!(!all.contains("554"), "{all}");
    }
}
