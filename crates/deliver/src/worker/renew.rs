//! Keeping claims while delivering: on a queue shared by several nodes (PostgreSQL) a claim
//! lasts a lease, and the delivery of a message renews its recipients' claims every third of
//! it for as long as it lasts, so the lease can be short (a dead node's recipients go to the
//! others soon) whatever the longest delivery. A claim found taken over is not renewed again;
//! the store then ignores this node's deferral of it, so the new owner's schedule stands.

use std::future::Future;
use std::time::Duration;

use sekisho_store::Queue;

/// How often a claim of `lease` is renewed: a third of it, so two renewals in a row may fail
/// (a pause of the database, a slow round trip) before the claim lapses.
pub(crate) fn renewal_interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// Runs `work`, the delivery of message `id`'s claimed recipients `idxs`, while renewing
/// those claims every [`renewal_interval`] of the queue's lease; without a lease (SQLite: one
/// node), just runs it. The renewal stops when `work` ends or is dropped.
pub(crate) async fn renewing<T>(queue: &Queue, id: &str, idxs: &[i64], work: impl Future<Output = T>) -> T {
    let Some(lease) = queue.claim_lease() else { return work.await };
    let renewal = tokio::spawn(renew_every(queue.clone(), id.to_string(), idxs.to_vec(), renewal_interval(lease)));
    let _stop = AbortOnDrop(renewal);
    work.await
}

/// Aborts the task when dropped: a delivery cancelled at shutdown stops renewing too.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the claims on `idxs` of message `id` every `every`, until none is this node's.
async fn renew_every(queue: Queue, id: String, mut idxs: Vec<i64>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !idxs.is_empty() {
        tick.tick().await;
        match queue.renew_claims(&id, &idxs).await {
            Ok(held) => {
                let lost: Vec<i64> = idxs.iter().copied().filter(|i| !held.contains(i)).collect();
                if !lost.is_empty() {
                    tracing::warn!(
                        queue_id = %id,
                        recipients = ?lost,
                        "claims no longer this node's (their lease ran out and another node took them over, \
                         or they left delivery): not renewed, and a deferral of them from this delivery is ignored"
                    );
                }
                idxs = held;
            }
            // Tried again at the next tick; the lease covers two missed renewals.
            Err(e) => tracing::error!(queue_id = %id, error = %e, "cannot renew the claims of a delivery"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_renewed_three_times_a_lease() {
        assert_eq!(renewal_interval(Duration::from_secs(300)), Duration::from_secs(100));
        assert_eq!(renewal_interval(Duration::from_secs(30)), Duration::from_secs(10));
        assert_eq!(renewal_interval(Duration::from_millis(30)), Duration::from_millis(100), "never busy");
    }
}
