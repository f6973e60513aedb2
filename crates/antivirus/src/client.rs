//! The handle callers share: bounded concurrency, a pool of clamd sessions, timeouts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncRead;
use tokio::sync::Semaphore;

use crate::address::ClamdAddress;
use crate::error::{ClamdError, Stage};
use crate::reply::{Verdict, parse_scan_reply};
use crate::session::{Failed, Request, Session, Tracked};

/// A session idle longer than this is closed rather than reused: clamd ends sessions that
/// send no command for its `ReadTimeout` (120 s by default), and reusing one just before
/// that would race with clamd closing it.
const POOL_IDLE_LIMIT: Duration = Duration::from_secs(30);

/// How to reach clamd and how long to wait for it.
#[derive(Debug, Clone)]
pub struct ClamdSettings {
    /// clamd's socket.
    pub address: ClamdAddress,
    /// The longest wait for a connection.
    pub connect_timeout: Duration,
    /// The longest wait for one request on a connection: sending the file and clamd's answer.
    pub scan_timeout: Duration,
    /// Most requests in flight at once (and connections open); more wait their turn.
    pub max_concurrent: usize,
    /// The largest file sent, in bytes; larger ones are [`ClamdError::TooLarge`] without being
    /// sent. clamd's `StreamMaxLength` must be at least this.
    pub max_stream: u64,
    /// Over a Unix socket, files in memory go to clamd as descriptors of memory files
    /// (`FILDES`) rather than streamed (`INSTREAM`): clamd then neither receives the bytes
    /// nor writes them to its `TemporaryDirectory`. Streamed over TCP whatever this says.
    pub pass_descriptors: bool,
}

/// A clamd client. Cloning it is cheap; the clones share one pool and one concurrency limit.
#[derive(Clone)]
pub struct Clamd {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ClamdSettings,
    permits: Semaphore,
    /// Sessions between requests, the most recently used last. Locked only to push or pop.
    idle: Mutex<Vec<Session>>,
    /// Whether files in memory go as descriptors: `pass_descriptors` on a Unix socket, until
    /// clamd answers that it takes none and scans the file streamed.
    descriptors: AtomicBool,
}

impl Clamd {
    /// A client for `settings`; it connects at the first request.
    pub fn new(settings: ClamdSettings) -> Clamd {
        let permits = Semaphore::new(settings.max_concurrent.max(1));
        let descriptors =
            AtomicBool::new(settings.pass_descriptors && matches!(settings.address, ClamdAddress::Unix(_)));
        Clamd { inner: Arc::new(Inner { settings, permits, idle: Mutex::new(Vec::new()), descriptors }) }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &ClamdSettings {
        &self.inner.settings
    }

    /// Scans bytes in memory: passed as a descriptor ([`Clamd::passes_descriptors`]; the memory
    /// file is made once the request has its turn under `max_concurrent`) or streamed. A file
    /// clamd fails to scan as a descriptor is sent again streamed; when clamd's answer says it
    /// takes no descriptors at all, every later file is streamed.
    pub async fn scan(&self, bytes: &[u8]) -> Result<Verdict, ClamdError> {
        if bytes.len() as u64 > self.inner.settings.max_stream {
            return Err(ClamdError::TooLarge);
        }
        if self.passes_descriptors() {
            match self.run(Request::<tokio::io::Empty>::Descriptor(bytes), parse_scan_reply).await {
                Err(ClamdError::NoMemoryFile(e)) => {
                    tracing::debug!(error = %e, "no memory file for a descriptor; streaming the file");
                }
                Err(failed @ (ClamdError::Refused(_) | ClamdError::Protocol(_))) => {
                    let streamed = self.run(Request::<tokio::io::Empty>::Bytes(bytes), parse_scan_reply).await;
                    if streamed.is_ok() && descriptors_unsupported(&failed) {
                        self.stop_passing_descriptors(&failed.to_string());
                    }
                    return streamed;
                }
                other => return other,
            }
        }
        self.run(Request::<tokio::io::Empty>::Bytes(bytes), parse_scan_reply).await
    }

    /// Whether files in memory go to clamd as descriptors now: `pass_descriptors` on a Unix
    /// socket, unless clamd answered that it takes none and then scanned the file streamed.
    pub fn passes_descriptors(&self) -> bool {
        self.inner.descriptors.load(Ordering::Relaxed)
    }

    /// From now on files are streamed, said once in the log.
    fn stop_passing_descriptors(&self, why: &str) {
        if self.inner.descriptors.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                address = %self.inner.settings.address,
                why,
                "clamd did not scan a file passed as a descriptor (FILDES) but scanned it streamed; \
                 files are streamed (INSTREAM) from now on"
            );
        }
    }

    /// Scans what `reader` yields, sent as it is read, one 64 KiB chunk at a time.
    /// `len_hint`, when known, refuses a file over `max_stream` before anything is sent.
    pub async fn scan_reader<R: AsyncRead + Unpin>(
        &self,
        reader: R,
        len_hint: Option<u64>,
    ) -> Result<Verdict, ClamdError> {
        if len_hint.is_some_and(|len| len > self.inner.settings.max_stream) {
            return Err(ClamdError::TooLarge);
        }
        let mut reader = Tracked::new(reader);
        self.run(Request::Reader(&mut reader), parse_scan_reply).await
    }

    /// Checks that clamd answers `PONG`.
    pub async fn ping(&self) -> Result<(), ClamdError> {
        self.run(Request::<tokio::io::Empty>::Command(b"zPING\0"), |reply| match reply {
            "PONG" => Ok(()),
            other => Err(ClamdError::Refused(other.to_string())),
        })
        .await
    }

    /// clamd's version line, e.g. `ClamAV 1.4.6/27480/Thu Dec  3 09:25:01 2026` (engine,
    /// database version and date; without an official database, only the engine).
    pub async fn version(&self) -> Result<String, ClamdError> {
        self.run(Request::<tokio::io::Empty>::Command(b"zVERSION\0"), |reply| match reply {
            v if v.starts_with("ClamAV ") => Ok(v.to_string()),
            other => Err(ClamdError::Refused(other.to_string())),
        })
        .await
    }

    /// Runs one request under the concurrency limit: on a pooled session when one is open,
    /// again once on a fresh one if clamd had closed it, and puts the session back when
    /// the answer was a good one.
    async fn run<R: AsyncRead + Unpin, T>(
        &self,
        mut request: Request<'_, R>,
        interpret: impl Fn(&str) -> Result<T, ClamdError>,
    ) -> Result<T, ClamdError> {
        let s = &self.inner.settings;
        let _permit = self.inner.permits.acquire().await.expect("the semaphore is never closed");
        let pooled = self.take_idle();
        let reused = pooled.is_some();
        let mut session = match pooled {
            Some(session) => session,
            None => Session::open(&s.address, s.connect_timeout).await?,
        };
        let mut outcome = self.attempt(&mut session, &mut request).await;
        if reused && matches!(outcome, Err(Failed::Closed)) && request.replayable() {
            tracing::debug!(address = %s.address, "clamd closed a pooled session; retrying on a fresh connection");
            session = Session::open(&s.address, s.connect_timeout).await?;
            outcome = self.attempt(&mut session, &mut request).await;
        }
        let reply = outcome.map_err(|failed| match failed {
            Failed::Closed => ClamdError::Protocol("clamd closed the connection before it answered".into()),
            Failed::Error(e) => e,
        })?;
        let answer = interpret(&reply)?;
        self.put_back(session);
        Ok(answer)
    }

    async fn attempt<R: AsyncRead + Unpin>(
        &self,
        session: &mut Session,
        request: &mut Request<'_, R>,
    ) -> Result<String, Failed> {
        let s = &self.inner.settings;
        tokio::time::timeout(s.scan_timeout, session.exchange(request, s.max_stream))
            .await
            .map_err(|_| Failed::Error(ClamdError::Timeout { stage: Stage::Scan, after: s.scan_timeout }))?
    }

    /// The most recently used session that clamd has not closed; older or closed ones are
    /// dropped on the way.
    fn take_idle(&self) -> Option<Session> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(session) = idle.pop() {
            if session.idle_since.elapsed() < POOL_IDLE_LIMIT && !session.closed_by_clamd() {
                return Some(session);
            }
        }
        None
    }

    fn put_back(&self, mut session: Session) {
        session.idle_since = Instant::now();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.inner.settings.max_concurrent.max(1) {
            idle.push(session);
        }
    }
}

/// Whether clamd's answer to `FILDES` says it cannot take descriptors at all (rather than
/// failing on one file): it got none (something between drops them), or does not know the
/// command.
fn descriptors_unsupported(failed: &ClamdError) -> bool {
    let (ClamdError::Refused(reply) | ClamdError::Protocol(reply)) = failed else { return false };
    ["No file descriptor received", "ancillary data", "UNKNOWN COMMAND", "FILDES"]
        .iter()
        .any(|sign| reply.contains(sign))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: T) {}

    /// Callers box these futures as `dyn Future + Send` and spawn them.
    #[test]
    fn every_request_is_a_send_future() {
        let clamd = Clamd::new(ClamdSettings {
            address: "127.0.0.1:9".parse().unwrap(),
            connect_timeout: Duration::from_secs(1),
            scan_timeout: Duration::from_secs(1),
            max_concurrent: 1,
            max_stream: 1,
            pass_descriptors: true,
        });
        send(clamd.scan(b""));
        send(clamd.scan_reader(&b""[..], None));
        send(clamd.ping());
        send(clamd.version());
        send(clamd.clone());
    }

    #[test]
    fn only_answers_about_descriptors_themselves_stop_their_use() {
        for reply in [
            "No file descriptor received. ERROR",
            "PROTOCOL ERROR: ancillary data sent without FILDES. ERROR",
            "UNKNOWN COMMAND",
        ] {
            assert!(descriptors_unsupported(&ClamdError::Refused(reply.into())), "{reply}");
        }
        for failed in [
            ClamdError::Refused("fd[12]: Can't allocate memory ERROR".into()),
            ClamdError::Protocol("clamd closed the connection before it answered".into()),
            ClamdError::TooLarge,
        ] {
            assert!(!descriptors_unsupported(&failed), "{failed}");
        }
    }
}
