//! The log writer thread. Tasks append their lines to one buffer; the thread, once woken by
//! the first line after it went idle, lets lines gather for [`GATHER`] and writes them all
//! with one system call. Under load it wakes at most once per [`GATHER`], not once per line
//! (four to five lines a relayed message, each a wake-up, a switch to this thread and back,
//! and a write). When [`LIMIT`] bytes wait, tasks wait for the writer rather than lose a line;
//! dropping the [`Guard`] writes what is waiting and ends the thread.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// How long the writer lets lines gather after the first one woke it.
const GATHER: Duration = Duration::from_millis(10);

/// Bytes waiting for the writer before tasks wait for it.
const LIMIT: usize = 8 << 20;

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
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer waits for a first line: the next one wakes it.
    idle: bool,
    closed: bool,
}

/// Starts the writer thread, writing to `out`.
pub(crate) fn start<W: Write + Send + 'static>(out: W, name: &str) -> std::io::Result<(LogWriter, Guard)> {
    let shared = Arc::new(Shared { state: Mutex::default(), wake: Condvar::new(), room: Condvar::new() });
    let thread = std::thread::Builder::new().name(name.to_string()).spawn({
        let shared = shared.clone();
        move || shared.run(out)
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
                    .wait_timeout_while(state, GATHER, |s| s.lines.len() < LIMIT / 2 && !s.closed)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut state.lines, &mut batch);
            let closed = state.closed;
            drop(state);
            self.room.notify_all();
            // An error (a full disk, a closed stderr) loses these lines, not the next ones.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            if closed && self.lock().lines.is_empty() {
                return;
            }
        }
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.lock();
        while state.lines.len() >= LIMIT && !state.closed {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.lines.extend_from_slice(line);
        if state.idle || state.lines.len() >= LIMIT / 2 {
            state.idle = false;
            self.wake.notify_one();
        }
    }
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
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
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
}
