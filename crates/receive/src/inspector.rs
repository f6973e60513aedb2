//! The threads messages are inspected on (submitted and inbound): a few long-lived threads with a large
//! stack (a stack overflow cannot be caught, and a runtime thread's stack is small), instead of
//! a new 64 MiB thread per message, whose creation and unmapping cost every message a
//! system-wide TLB shootdown. An inspection that outlives its time gets a replacement thread,
//! so a message that makes a parser loop never holds up the others.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

/// Stack of each inspection thread. The limits keep the walk shallow, but a stack overflow
/// cannot be caught: inspection never runs on a runtime thread's small stack.
const INSPECTION_STACK: usize = 64 << 20;

/// One inspection: it sends its own answer.
type Job = Box<dyn FnOnce() + Send>;

/// The inspection threads and their queue.
pub(crate) struct Inspectors {
    jobs: Sender<Job>,
    queue: Arc<Mutex<Receiver<Job>>>,
}

/// Messages inspected at once in this process: one per core (at least two). An inspection
/// holds a message and its decoded parts in memory and uses a core.
pub(crate) static INSPECTIONS: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get().max(2))));

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
                let job = queue.lock().expect("inspection queue").recv();
                let Ok(job) = job else { return };
                // A panic drops the answer: the waiting session hears the inspection failed.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
        })?;
        Ok(())
    }
}
