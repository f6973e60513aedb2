//! One SMTP connection: the session driven over a socket, then over TLS after STARTTLS.

use std::net::SocketAddr;
use std::sync::Arc;

use sekisho_smtp::session::Next;
use sekisho_smtp::{Action, FramedLine, LineReader, Reply, Session};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::message::{self, Abort, Arrival};
use crate::server::{Ctx, ListenerCtx};

enum End {
    Closed,
    StartTls,
}

/// Serves one accepted connection to the end.
pub(crate) async fn serve(ctx: Arc<Ctx>, listener: Arc<ListenerCtx>, mut tcp: TcpStream, peer: SocketAddr) {
    let mut session = Session::new(listener.session_config(&ctx, peer.ip()));
    let mut buf = Vec::with_capacity(4096);
    let mut conn = Conn { ctx: &ctx, listener: &listener, peer, tls: None };
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
                    tracing::info!(client = %peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
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
}

impl Conn<'_> {
    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &mut Session,
        buf: &mut Vec<u8>,
    ) -> End {
        let mut reader = LineReader::new(self.ctx.config.smtp.max_command_line);
        let mut out = String::new();
        let mut line_deadline: Option<Instant> = None;
        let mut auth_failures = 0u32;
        loop {
            let mut pos = 0;
            while let Some(line) = reader.take(buf, &mut pos) {
                line_deadline = None;
                let mut action = self.on_line(session, line);
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
                    };
                }
            }
            buf.drain(..pos);
            if !out.is_empty() && write(stream, &std::mem::take(&mut out), self.write_limit()).await.is_err() {
                return End::Closed;
            }
            let deadline =
                *line_deadline.get_or_insert_with(|| Instant::now() + self.ctx.config.smtp.command_timeout.0);
            buf.reserve(4096);
            match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return End::Closed,
                Ok(Ok(_)) => {}
                Err(_) => {
                    self.timed_out(stream).await;
                    return End::Closed;
                }
            }
        }
    }

    fn write_limit(&self) -> std::time::Duration {
        self.ctx.config.smtp.command_timeout.0
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

    fn storage_low(&self) -> bool {
        self.ctx.queue.spool().free_space().is_some_and(|free| free < self.ctx.config.store.min_free_space)
    }

    async fn receive_data<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &Session,
        buf: &mut Vec<u8>,
    ) -> Result<Reply, Abort> {
        let tx = session.transaction().cloned().expect("DATA is only accepted within a transaction");
        let (helo, esmtp) = session.helo().unwrap_or(("unknown", false));
        let arrival = Arrival {
            helo,
            esmtp,
            client_ip: self.peer.ip(),
            listener: &self.listener.label,
            submission: self.listener.is_submission(),
            tls: self.tls.as_ref(),
            user: session.user(),
        };
        message::receive(self.ctx, stream, buf, &tx, &arrival).await
    }

    async fn timed_out<S: AsyncWrite + Unpin>(&self, stream: &mut S) -> Action {
        tracing::info!(client = %self.peer, "timeout");
        let _ = write(stream, &Session::timeout_reply().to_wire(), self.write_limit()).await;
        Action { replies: vec![], next: Next::Close }
    }
}

/// Writes replies; a client that stops reading is given `limit` before the connection is dropped.
async fn write<S: AsyncWrite + Unpin>(stream: &mut S, text: &str, limit: std::time::Duration) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let io = async {
        stream.write_all(text.as_bytes()).await?;
        stream.flush().await
    };
    tokio::time::timeout(limit, io).await.map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}
