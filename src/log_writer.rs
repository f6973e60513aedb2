//! The log writer thread. Tasks append their lines to one buffer; the thread, once woken by
//! the first line after it went idle, lets lines gather for [`GATHER`] and writes them all
//! with one system call. Under load it wakes at most once per [`GATHER`], not once per line
//! (four to five lines a relayed message, each a wake-up, a switch to this thread and back,
//! and a write). When [`LIMIT`] bytes wait, tasks wait for the writer rather than lose a line;
//! dropping the [`Guard`] writes what is waiting and ends the thread, waiting for it at most
//! [`CLOSE_WAIT`] (stderr may be a pipe nobody reads, the file on a hung mount): after that
//! the thread is left behind and lines beyond [`LIMIT`] are dropped. [`flush_on_panic`] has a
//! panic write the lines queued before it, so the lines that explain a crash are not lost.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError, Weak};
use std::time::{Duration, Instant};

/// How long the writer lets lines gather after the first one woke it.
const GATHER: Duration = Duration::from_millis(10);

/// Bytes waiting for the writer before tasks wait for it.
const LIMIT: usize = 8 << 20;

/// How long dropping the [`Guard`] waits for the writer to write what waits and end.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How long a panic waits for the lines queued before it to be written.
const PANIC_WAIT: Duration = Duration::from_millis(100);

/// The tasks' end: every line written to it goes to the writer thread (`MakeWriter`).
#[derive(Clone)]
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
}

/// Writes what is waiting and ends the writer thread when dropped.
pub(crate) struct Guard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for lines (and for more of them while they gather).
    wake: Condvar,
    /// Tasks wait here while [`LIMIT`] bytes wait.
    room: Condvar,
    /// The writer announces here each write it finished, and its end.
    wrote: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer waits for a first line: the next one wakes it.
    idle: bool,
    /// Write what waits now, without letting more gather (a panic waits for it).
    hurry: bool,
    closed: bool,
    /// Bytes ever appended to `lines`.
    queued: u64,
    /// Bytes ever handed to the output (written or lost to its error).
    written: u64,
    /// The writer thread has ended.
    finished: bool,
}

/// Starts the writer thread, writing to `out`.
pub(crate) fn start<W: Write + Send + 'static>(out: W, name: &str) -> std::io::Result<(LogWriter, Guard)> {
    let shared =
        Arc::new(Shared { state: Mutex::default(), wake: Condvar::new(), room: Condvar::new(), wrote: Condvar::new() });
    let thread = std::thread::Builder::new().name(name.to_string()).spawn({
        let shared = shared.clone();
        move || {
            let _finished = Finished(&shared);
            shared.run(out)
        }
    })?;
    Ok((LogWriter { shared: shared.clone() }, Guard { shared, thread: Some(thread) }))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: waits for a line, lets more gather, writes them together.
    fn run<W: Write>(&self, mut out: W) {
        let mut batch = Vec::new();
        loop {
            let mut state = self.lock();
            while state.lines.is_empty() && !state.closed {
                state.idle = true;
                state = self.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            state.idle = false;
            if !state.closed {
                state = self
                    .wake
                    .wait_timeout_while(state, GATHER, |s| s.lines.len() < LIMIT / 2 && !s.closed && !s.hurry)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            state.hurry = false;
            std::mem::swap(&mut state.lines, &mut batch);
            let closed = state.closed;
            drop(state);
            self.room.notify_all();
            // An error (a full disk, a closed stderr) loses these lines, not the next ones.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            let mut state = self.lock();
            state.written += batch.len() as u64;
            let done = closed && state.lines.is_empty();
            drop(state);
            self.wrote.notify_all();
            batch.clear();
            if done {
                return;
            }
        }
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        while state.lines.len() >= LIMIT && !state.closed {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.lines.len() >= LIMIT {
            // Closed, and the writer is stuck or gone: nothing will take these lines.
            return;
        }
        state.lines.extend_from_slice(line);
        state.queued += line.len() as u64;
        if state.idle || state.lines.len() >= LIMIT / 2 {
            state.idle = false;
            self.wake.notify_one();
        }
    }

    /// Has the writer write the lines queued so far without letting more gather, and waits
    /// for that at most `wait`; true when they were written. Gives up at once when the lock
    /// is held (the panic may have come from its holder, on this very thread).
    fn hurry(&self, wait: Duration) -> bool {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let target = state.queued;
        if state.written >= target {
            return true;
        }
        state.hurry = true;
        state.idle = false;
        self.wake.notify_one();
        let deadline = Instant::now() + wait;
        while state.written < target && !state.finished {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return false;
            };
            state = self.wrote.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.written >= target
    }
}

/// Marks the writer thread ended when it returns (or unwinds), and tells the [`Guard`].
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        self.0.wrote.notify_all();
    }
}

/// Installs a panic hook that, before the hook in place now runs (printing the panic), has
/// `writer`'s lines queued before the panic written, waiting at most [`PANIC_WAIT`].
pub(crate) fn flush_on_panic(writer: &LogWriter) {
    let shared: Weak<Shared> = Arc::downgrade(&writer.shared);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(shared) = shared.upgrade() {
            shared.hurry(PANIC_WAIT);
        }
        previous(info);
    }));
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        self.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        self.shared.wake.notify_one();
        self.shared.room.notify_all();
        let (state, _) =
            self.shared.wrote.wait_timeout_while(state, CLOSE_WAIT, |s| !s.finished).unwrap_or_else(|e| e.into_inner());
        let finished = state.finished;
        drop(state);
        // Unless it ended, the writer is stuck in a write: it is left behind, not waited for.
        if let Some(thread) = self.thread.take()
            && finished
        {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Records each write it is given; the first one waits until the test lets it go.
    struct Sink {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        first: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some((started, go)) = self.first.take() {
                started.send(()).unwrap();
                go.recv().unwrap();
            }
            self.writes.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_that_arrive_while_the_writer_writes_go_out_together_and_none_is_lost() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let (started, started_rx) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let sink = Sink { writes: writes.clone(), first: Some((started, go_rx)) };
        let (mut writer, guard) = start(sink, "test-log").unwrap();
        writer.write_all(b"first\n").unwrap();
        started_rx.recv().unwrap();
        // The writer is busy with the first line: these wait for it, without waking it each.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..250 {
                        w.write_all(format!("{t} {n}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        go.send(()).unwrap();
        drop(guard);
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 2, "one write for the first line, one for the thousand after it");
        assert_eq!(writes[0], b"first\n");
        let text = String::from_utf8(writes[1].clone()).unwrap();
        assert_eq!(text.lines().count(), 1000);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.split_once(' ').filter(|(a, _)| *a == t.to_string()).map(|(_, n)| n.parse().unwrap()))
                .collect();
            assert_eq!(mine, (0..250).collect::<Vec<_>>(), "each task's lines whole and in order");
        }
    }

    #[test]
    fn dropping_the_guard_writes_what_waits() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, guard) = start(Sink { writes: writes.clone(), first: None }, "test-log").unwrap();
        writer.write_all(b"last words\n").unwrap();
        drop(guard);
        assert_eq!(writes.lock().unwrap().concat(), b"last words\n");
    }

    /// Output that never returns from a write until the test is over (a stalled pipe reader,
    /// a hung mount); counts the writes it was given.
    struct Stalled {
        started: Arc<Mutex<usize>>,
        release: mpsc::Receiver<()>,
    }

    impl Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            *self.started.lock().unwrap() += 1;
            let _ = self.release.recv();
            Err(std::io::Error::other("released"))
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        what()
    }

    #[test]
    fn a_stalled_output_neither_hangs_the_exit_nor_grows_the_queue_after_it() {
        let started = Arc::new(Mutex::new(0));
        let (release, release_rx) = mpsc::channel();
        let (mut writer, guard) = start(Stalled { started: started.clone(), release: release_rx }, "test-log").unwrap();
        writer.write_all(b"stuck\n").unwrap();
        assert!(wait_for(|| *started.lock().unwrap() == 1), "the writer took the line");
        writer.write_all(b"waiting\n").unwrap();
        let (dropped, dropped_rx) = mpsc::channel();
        std::thread::spawn(move || {
            drop(guard);
            dropped.send(()).unwrap();
        });
        // Generous: the guard gives up after about a second.
        dropped_rx.recv_timeout(Duration::from_secs(20)).expect("dropping the guard returned");
        let line = [b'x'; 1023];
        for _ in 0..(LIMIT / 1024 + 2048) {
            writer.write_all(&line).unwrap();
            writer.write_all(b"\n").unwrap();
        }
        let queued = writer.shared.lock().lines.len();
        assert!((LIMIT - 1024..LIMIT + 1024).contains(&queued), "{queued} bytes wait");
        drop(release);
    }

    #[test]
    fn a_lone_line_is_written_while_the_program_runs() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, _guard) = start(Sink { writes: writes.clone(), first: None }, "test-log").unwrap();
        writer.write_all(b"only line\n").unwrap();
        assert!(wait_for(|| writes.lock().unwrap().concat() == b"only line\n"), "{:?}", writes.lock().unwrap());
    }

    #[test]
    fn a_panic_writes_the_lines_queued_before_it_first() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, _guard) = start(Sink { writes: writes.clone(), first: None }, "test-log").unwrap();
        writer.write_all(b"an earlier line\n").unwrap();
        writer.write_all(b"what led to the panic\n").unwrap();
        assert!(writer.shared.hurry(Duration::from_secs(10)));
        // Written by the time the hook returns, not some milliseconds later.
        assert_eq!(writes.lock().unwrap().concat(), b"an earlier line\nwhat led to the panic\n");
    }

    #[test]
    fn a_panic_while_the_lock_is_held_does_not_wait_for_it() {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let (mut writer, guard) = start(Sink { writes: writes.clone(), first: None }, "test-log").unwrap();
        writer.write_all(b"queued\n").unwrap();
        let held = writer.shared.lock();
        assert!(!writer.shared.hurry(Duration::from_secs(3600)), "gave up at once");
        drop(held);
        drop(guard);
        assert_eq!(writes.lock().unwrap().concat(), b"queued\n");
    }
}
