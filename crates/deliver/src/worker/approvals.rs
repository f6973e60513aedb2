//! Approvals whose timeout has passed are decided as their rule says (released or rejected,
//! by "timeout"), by the queue's clock, when a delivery scan finds nothing due, once in each
//! second of that clock: one indexed query (`approvals_pending`) when none has expired.

use super::Inner;

impl Inner {
    pub(super) async fn expire_approvals(&self) {
        match self.queue.control().expire_approvals(self.queue.now()).await {
            Ok(decided) => {
                for (id, d) in &decided {
                    tracing::info!(queue_id = %id, released = d.approved, "approval timed out");
                }
                if decided.iter().any(|(_, d)| d.approved) {
                    self.queue.wake();
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot decide timed-out approvals"),
        }
    }
}
