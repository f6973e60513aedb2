//! When the delivery loop scans the queue for due recipients. Messages the queue hands over as
//! it commits them need no scan; a scan is wanted when mail was queued without being handed
//! over, when a delivery the scan started ends (it may leave others of its message due), when
//! the last scan may have left due recipients behind (it claimed all it could take), and at
//! least once every `scan_interval` (retries come due with the clock).

use std::time::Duration;

use sekisho_store::Handed;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Inner;

/// How the message of a delivery task was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Claimed by a scan.
    ByScan,
    /// Handed over by the queue at commit.
    HandedOver,
}

/// Whether the next round of the delivery loop scans.
#[derive(Debug)]
pub(super) struct Scan {
    /// A scan is wanted as soon as there is room.
    pub(super) pending: bool,
    last: Instant,
}

impl Default for Scan {
    fn default() -> Self {
        Scan { pending: true, last: Instant::now() }
    }
}

impl Scan {
    /// Whether to scan now: one is pending, or the last is `interval` old.
    pub(super) fn now(&self, interval: Duration) -> bool {
        self.pending || self.last.elapsed() >= interval
    }

    /// A scan was made; `full` when it claimed all it could, so more may be due.
    pub(super) fn scanned(&mut self, full: bool) {
        self.pending = full;
        self.last = Instant::now();
    }

    /// A delivery task ended.
    pub(super) fn after(&mut self, ended: Found) {
        if ended == Found::ByScan {
            self.pending = true;
        }
    }

    /// When the next scan is due if nothing else wants one.
    pub(super) fn next_due(&self, interval: Duration) -> Instant {
        self.last + interval
    }
}

/// Claims what is due for `room` more deliveries and starts them, one task per message (`want`
/// learns whether more may be due); returns how many recipients were claimed.
pub(super) async fn claim_and_start(
    tasks: &mut JoinSet<Found>,
    inner: &std::sync::Arc<Inner>,
    room: usize,
    want: &mut Scan,
) -> usize {
    let limit = (room * 4) as u32;
    let claims = match inner.queue.claim_due(inner.queue.now(), limit).await {
        Ok(claims) => claims,
        Err(e) => {
            want.scanned(false);
            tracing::error!(error = %e, "cannot read the queue");
            return 0;
        }
    };
    want.scanned(claims.len() >= limit as usize);
    let claimed = claims.len();
    let mut by_message: Vec<(String, Vec<i64>)> = Vec::new();
    for c in claims {
        match by_message.iter_mut().find(|(id, _)| *id == c.message_id) {
            Some((_, idxs)) => idxs.push(c.idx),
            None => by_message.push((c.message_id, vec![c.idx])),
        }
    }
    for (id, idxs) in by_message {
        let inner = inner.clone();
        tasks.spawn(async move {
            inner.deliver_message(&id, &idxs).await;
            Found::ByScan
        });
    }
    claimed
}

/// Starts the delivery of a message the queue handed over.
pub(super) fn spawn_handed(tasks: &mut JoinSet<Found>, inner: &std::sync::Arc<Inner>, message: Handed) {
    let inner = inner.clone();
    tasks.spawn(async move {
        inner.deliver_handed(message).await;
        Found::HandedOver
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_handed_over_delivery_ending_asks_for_no_scan_but_the_interval_still_brings_one() {
        let mut want = Scan::default();
        assert!(want.now(SECOND), "the first round scans");
        want.scanned(false);
        want.after(Found::HandedOver);
        assert!(!want.now(SECOND));
        assert!(want.next_due(SECOND) > Instant::now());
        want.last -= SECOND;
        assert!(want.now(SECOND), "retries come due with the clock");
    }

    #[test]
    fn a_scanned_delivery_ending_or_a_full_scan_asks_for_another() {
        let mut want = Scan::default();
        want.scanned(false);
        want.after(Found::ByScan);
        assert!(want.now(SECOND), "its message may have other recipients due");
        want.scanned(true);
        assert!(want.now(SECOND), "a scan that took all it could may have left some");
        want.scanned(false);
        assert!(!want.now(SECOND));
    }
}
