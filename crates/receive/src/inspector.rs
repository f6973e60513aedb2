//! The threads messages are inspected on (submitted and inbound): a few long-lived threads with a large
//! stack (a stack overflow cannot be caught, and a runtime thread's stack is small), instead of
//! a new 64 MiB thread per message, whose creation and unmapping cost every message a
//! system-wide TLB shootdown. An inspection that outlives its time gets a replacement thread,
//! so a message that makes a parser loop never holds up the others.

use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

use crossbeam_channel::{Receiver, Sender, unbounded};

use sekisho_inspect::buffers::Spare;

/// Stack of each inspection thread. The limits keep the walk shallow, but a stack overflow
/// cannot be caught: inspection never runs on a runtime thread's small stack.
const INSPECTION_STACK: usize = 64 << 20;

/// One inspection: it sends its own answer.
type Job = Box<dyn FnOnce() + Send>;

/// The inspection threads and their queue: every idle thread waits on the queue itself, so a
/// job wakes one thread (a queue behind a lock woke a second one to take the lock).
pub(crate) struct Inspectors {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
}

/// Messages inspected at once in this process: one per core (at least two). An inspection
/// holds a message and its decoded parts in memory and uses a core.
pub(crate) static INSPECTIONS: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get().max(2))));

/// One thread per core (at least two), as many as inspections run at once.
pub(crate) static INSPECTORS: LazyLock<Inspectors> = LazyLock::new(|| {
    let (jobs, queue) = unbounded();
    let pool = Inspectors { jobs, queue };
    for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get().max(2)) {
        if let Err(e) = pool.add_thread() {
            tracing::error!(error = %e, "cannot start an inspection thread");
        }
    }
    pool
});

impl Inspectors {
    /// Queues the inspection `work`; its answer comes on the channel (closed without one if
    /// the inspection panicked).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, std::io::Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.send(job).map_err(|_| std::io::Error::other("no inspection thread is running"))?;
        Ok(answered)
    }

    /// Starts one more thread, in place of one held by an inspection that did not end in time.
    pub(crate) fn add_thread(&self) -> Result<(), std::io::Error> {
        let queue = self.queue.clone();
        std::thread::Builder::new().name("sekisho-inspect".into()).stack_size(INSPECTION_STACK).spawn(move || {
            loop {
                let job = queue.recv();
                let Ok(job) = job else { return };
                // A panic drops the answer: the waiting session hears the inspection failed.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
        Ok(())
    }
}

thread_local! {
    /// The buffer spooled messages are read into on this thread, kept between messages.
    static READ_BUFFER: Spare = const { Spare::new() };
}

/// `f` over the whole file at `path`, read into this thread's buffer. The buffer is kept for
/// the next message when it is at most [`sekisho_inspect::buffers::KEPT`] (so a message of a few megabytes lands in
/// memory already mapped, not in pages the system maps, zeroes and takes back for each one:
/// see [`sekisho_inspect::buffers`]), and freed after a larger one.
pub(crate) fn with_file<T>(path: &Path, f: impl FnOnce(&[u8]) -> T) -> std::io::Result<T> {
    // Taken out while in use: `f` may read another file on this thread.
    let mut buf = READ_BUFFER.with(|spare| spare.take(0));
    let read = read_into(path, &mut buf);
    let result = read.map(|()| f(&buf));
    READ_BUFFER.with(|spare| spare.keep(buf));
    result
}

/// A received message as an inspection thread reads it: the bytes the queue kept in memory,
/// else its spooled file.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Kept(std::sync::Arc<sekisho_store::KeptBody>),
    File(std::path::PathBuf),
}

impl Source {
    /// Where the finished `body` is read from.
    pub(crate) fn of(body: &sekisho_store::FinishedBody) -> Source {
        match body.kept() {
            Some(kept) => Source::Kept(kept.clone()),
            None => Source::File(body.path().to_path_buf()),
        }
    }

    /// `f` over the whole message (a file is read with [`with_file`]).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&[u8]) -> T) -> std::io::Result<T> {
        match self {
            Source::Kept(bytes) => Ok(f(bytes)),
            Source::File(path) => with_file(path, f),
        }
    }
}

fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    buf.reserve(usize::try_from(size).unwrap_or(0));
    file.read_to_end(buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_inspect::buffers::KEPT;

    #[test]
    fn each_file_is_read_whole_into_the_reused_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let (big, small) = (dir.path().join("big"), dir.path().join("small"));
        std::fs::write(&big, vec![b'a'; 300_000]).unwrap();
        std::fs::write(&small, b"short").unwrap();
        assert_eq!(with_file(&big, |raw| raw.to_vec()).unwrap(), vec![b'a'; 300_000]);
        // The second, shorter file is not followed by what is left of the first.
        assert_eq!(with_file(&small, |raw| raw.to_vec()).unwrap(), b"short");
        let kept = READ_BUFFER.with(|b| b.take(0));
        assert!(kept.capacity() >= 300_000);
        READ_BUFFER.with(|b| b.keep(kept));
        // Nested reads on one thread each see their own file.
        let nested = with_file(&small, |outer| (outer.to_vec(), with_file(&big, |inner| inner.len()).unwrap()));
        assert_eq!(nested.unwrap(), (b"short".to_vec(), 300_000));
        assert!(with_file(&dir.path().join("missing"), |raw| raw.len()).is_err());
    }

    #[test]
    fn a_buffer_over_the_kept_size_is_freed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large");
        std::fs::write(&path, vec![0u8; KEPT + 1]).unwrap();
        assert_eq!(with_file(&path, |raw| raw.len()).unwrap(), KEPT + 1);
        assert_eq!(READ_BUFFER.with(|b| b.take(0).capacity()), 0);
    }
}
