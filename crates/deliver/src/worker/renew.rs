//! Keeping claims while delivering: on a queue shared by several nodes (PostgreSQL) a claim
//! lasts a lease, and the delivery of a message renews its recipients' claims every third of
//! it for as long as it lasts, so the lease can be short (a dead node's recipients go to the
//! others soon) whatever the longest delivery. A claim found taken over is not renewed again;
//! the store then ignores this node's deferral of it, so the new owner's schedule stands, and
//! the delivery sends no further transaction to it ([`Held`]): the node that took it over
//! delivers it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sekisho_store::Queue;

/// How often a claim of `lease` is renewed: a third of it, so two renewals in a row may fail
/// (a pause of the database, a slow round trip) before the claim lapses.
pub(crate) fn renewal_interval(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(100))
}

/// The claims of one delivery this node still holds, as its last renewal found them: shared
/// by the renewal task, which drops the claims it finds lost, and the delivery, which starts
/// no transaction for a recipient no longer in it.
#[derive(Clone, Debug)]
pub(crate) struct Held(Arc<Mutex<Vec<i64>>>);

impl Held {
    /// Every claim of `idxs`, held.
    pub(crate) fn new(idxs: &[i64]) -> Held {
        Held(Arc::new(Mutex::new(idxs.to_vec())))
    }

    /// Whether the claim on recipient `idx` is still this node's.
    pub(crate) fn holds(&self, idx: i64) -> bool {
        self.0.lock().expect("held claims").contains(&idx)
    }

    /// Keeps only the claims in `held`; returns those dropped.
    fn keep_only(&self, held: &[i64]) -> Vec<i64> {
        let mut claims = self.0.lock().expect("held claims");
        let lost = claims.iter().copied().filter(|i| !held.contains(i)).collect();
        claims.retain(|i| held.contains(i));
        lost
    }

    /// The claims still held.
    fn idxs(&self) -> Vec<i64> {
        self.0.lock().expect("held claims").clone()
    }
}

/// Runs `work`, the delivery of message `id`'s claimed recipients `idxs`, while renewing
/// those claims every [`renewal_interval`] of the queue's lease; `work` is given the claims
/// still held, which the renewals keep up to date. Without a lease (SQLite: one node) every
/// claim stays held and `work` just runs. The renewal stops when `work` ends or is dropped.
pub(crate) async fn renewing<T, F: Future<Output = T>>(
    queue: &Queue,
    id: &str,
    idxs: &[i64],
    work: impl FnOnce(Held) -> F,
) -> T {
    let held = Held::new(idxs);
    let Some(lease) = queue.claim_lease() else { return work(held).await };
    let renewal = tokio::spawn(renew_every(queue.clone(), id.to_string(), held.clone(), renewal_interval(lease)));
    let _stop = AbortOnDrop(renewal);
    work(held).await
}

/// Aborts the task when dropped: a delivery cancelled at shutdown stops renewing too.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the claims `held` of message `id` every `every`, until none is this node's.
async fn renew_every(queue: Queue, id: String, held: Held, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let idxs = held.idxs();
        if idxs.is_empty() {
            break;
        }
        tick.tick().await;
        match queue.renew_claims(&id, &idxs).await {
            Ok(renewed) => {
                let lost = held.keep_only(&renewed);
                if !lost.is_empty() {
                    tracing::warn!(
                        queue_id = %id,
                        recipients = ?lost,
                        "claims no longer this node's (their lease ran out and another node took them over, \
                         or they left delivery): not renewed, no further transaction of this delivery goes to \
                         them, and a deferral of them from it is ignored"
                    );
                }
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

    #[test]
    fn a_claim_found_lost_is_no_longer_held_by_any_clone() {
        let held = Held::new(&[0, 1, 2]);
        let delivery = held.clone();
        assert_eq!(held.keep_only(&[0, 2]), [1]);
        assert!(delivery.holds(0) && !delivery.holds(1) && delivery.holds(2));
        assert_eq!(held.keep_only(&[0, 2]), Vec::<i64>::new(), "lost once");
        assert_eq!(held.idxs(), [0, 2]);
    }
}
