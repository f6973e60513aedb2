//! What the delivery loop does besides starting deliveries, each at its own pace: the TLS
//! session counts, idle connections, finished bodies, timed-out approvals and notifications
//! whose queuing failed.

use std::time::Duration;

use tokio::time::Instant;

use super::Inner;

/// How often pending notifications whose queuing failed are tried again.
const NOTICE_SWEEP: Duration = Duration::from_secs(60);

/// How often the TLS session counts are written to the store.
const SESSION_COUNT_INTERVAL: Duration = Duration::from_secs(60);

/// While deliveries are under way, how often the queue is made durable (a checkpoint: two
/// fsyncs) so that the bodies of finished messages can go; a queue commit, which happens
/// with every message received, removes them meanwhile.
const DURABLE_EVERY: Duration = Duration::from_secs(1);

/// When each chore was last done.
pub(super) struct Chores {
    sweep: Instant,
    count: Instant,
    durable: Instant,
    /// The second of the queue's clock in which timed-out approvals were last looked for.
    approvals_seen_at: Option<i64>,
}

impl Default for Chores {
    fn default() -> Self {
        let now = Instant::now();
        Chores { sweep: now, count: now, durable: now, approvals_seen_at: None }
    }
}

impl Chores {
    /// The chores of one round of the loop; those that wait while deliveries are being started
    /// only when this round's scan claimed nothing (`idle`). `settled` when no delivery is
    /// under way.
    pub(super) async fn every_round(&mut self, inner: &Inner, idle: bool, settled: bool) {
        if self.count.elapsed() >= SESSION_COUNT_INTERVAL {
            inner.write_session_counts().await;
            self.count = Instant::now();
        }
        for conn in inner.pool.expire(inner.config.delivery.connection_reuse_time.0) {
            tokio::spawn(conn.quit());
        }
        if !idle {
            return;
        }
        // Not at every round (one follows every finished delivery): when nothing is in flight
        // any more, or once in a while.
        if settled || self.durable.elapsed() >= DURABLE_EVERY {
            inner.queue.remove_finished_bodies().await;
            self.durable = Instant::now();
        }
        // Deadlines are whole seconds of the queue's clock: looked for once in each of them,
        // not at every round.
        let second = inner.queue.now();
        if self.approvals_seen_at != Some(second) {
            inner.expire_approvals().await;
            self.approvals_seen_at = Some(second);
        }
        if self.sweep.elapsed() >= NOTICE_SWEEP {
            inner.sweep_notices().await;
            self.sweep = Instant::now();
        }
    }
}
