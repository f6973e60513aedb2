//! The threads submitted messages are inspected on: a few long-lived threads with a large
//! stack (a stack overflow cannot be caught, and a runtime thread's stack is small), instead of
//! a new 64 MiB thread per message, whose creation and unmapping cost every message a
//! system-wide TLB shootdown. An inspection that outlives its time gets a replacement thread,
//! so a message that makes a parser loop never holds up the others.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use sekisho_inspect::mime::{MessageLimits, MimeError, PartReport, inspect_message};

/// Stack of each inspection thread. The limits keep the walk shallow, but a stack overflow
/// cannot be caught: inspection never runs on a runtime thread's small stack.
const INSPECTION_STACK: usize = 64 << 20;

/// What inspecting one message found.
pub(crate) type Answer = Result<Vec<PartReport>, MimeError>;

struct Job {
    raw: Vec<u8>,
    answer: tokio::sync::oneshot::Sender<Answer>,
}

/// The inspection threads and their queue.
pub(crate) struct Inspectors {
    jobs: Sender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
}

/// One thread per core (at least two), as many as inspections run at once.
pub(crate) static INSPECTORS: LazyLock<Inspectors> = LazyLock::new(|| {
    let (jobs, queue) = channel();
    let pool = Inspectors { jobs, queue: Arc::new(Mutex::new(queue)) };
    for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get().max(2)) {
        if let Err(e) = pool.add_thread() {
            tracing::error!(error = %e, "cannot start an inspection thread");
        }
    }
    pool
});

impl Inspectors {
    /// Queues `raw` for inspection; the answer comes on the channel (closed without one if the
    /// inspection panicked).
    pub(crate) fn inspect(&self, raw: Vec<u8>) -> Result<tokio::sync::oneshot::Receiver<Answer>, std::io::Error> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.jobs.send(Job { raw, answer }).map_err(|_| std::io::Error::other("no inspection thread is running"))?;
        Ok(answered)
    }

    /// Starts one more thread, in place of one held by an inspection that did not end in time.
    pub(crate) fn add_thread(&self) -> Result<(), std::io::Error> {
        let queue = self.queue.clone();
        std::thread::Builder::new().name("sekisho-inspect".into()).stack_size(INSPECTION_STACK).spawn(move || {
            loop {
                let job = queue.lock().expect("inspection queue").recv();
                let Ok(Job { raw, answer }) = job else { return };
                let inspected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    inspect_message(&raw, &MessageLimits::default())
                }));
                // A panic drops the answer: the waiting session hears the inspection failed.
                if let Ok(result) = inspected {
                    let _ = answer.send(result);
                }
            }
        })?;
        Ok(())
    }
}
