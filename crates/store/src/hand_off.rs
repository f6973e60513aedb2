//! Messages handed to this node's delivery as they are committed. A message due at once is
//! inserted with its recipients already claimed (queued → active, [`crate::state::Move::Claim`]
//! in the same transaction) and handed over in memory, so delivery neither scans the queue for
//! it nor reads it back. Only where a claim needs no lease (SQLite: one node); a crash leaves
//! such recipients active, and recovery makes them due again, as any claim under way.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{self, OwnedPermit};

use crate::kept::KeptBody;
use crate::model::MessageDetail;
use crate::model::NewMessage;

/// A message handed to delivery, every recipient claimed.
#[derive(Debug)]
pub struct Handed {
    /// The message as delivery would read it back.
    pub detail: MessageDetail,
    /// Its whole body, when the queue kept it in memory ([`crate::FinishedBody::kept`]): the
    /// same bytes as the spooled file.
    pub body: Option<Arc<KeptBody>>,
}

/// The committer's side of the hand-off: empty until delivery asks for messages.
#[derive(Clone, Default)]
pub(crate) struct HandOff {
    to_delivery: Arc<Mutex<Option<mpsc::Sender<Handed>>>>,
}

/// A message handed over once its commit is done.
pub(crate) type Reserved = Option<OwnedPermit<Handed>>;

impl HandOff {
    /// Hands committed messages to the returned receiver from now on, at most `capacity`
    /// waiting: beyond that a message is queued and scanned for as usual.
    pub(crate) fn open(&self, capacity: usize) -> mpsc::Receiver<Handed> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        *self.to_delivery.lock().expect("hand-off lock") = Some(tx);
        rx
    }

    /// Marks as claimed each message of `batch` that is due by `now`, neither held nor waiting,
    /// for which delivery has room, and returns its place in the hand-off (None for the others,
    /// which stay queued).
    pub(crate) fn reserve(&self, batch: &mut [NewMessage], now: i64) -> Vec<Reserved> {
        let tx = self.to_delivery.lock().expect("hand-off lock").clone();
        batch
            .iter_mut()
            .map(|m| {
                let due = !m.held && m.first_attempt_at() <= now && !m.recipients.is_empty();
                let permit = tx.clone().filter(|_| due).and_then(|tx| tx.try_reserve_owned().ok());
                m.claimed = permit.is_some();
                permit
            })
            .collect()
    }
}

/// Hands over the committed messages of `batch` (with the bodies `kept` in memory) whose
/// place was `reserved`.
pub(crate) fn deliver_now(batch: &[NewMessage], kept: Vec<Option<Arc<KeptBody>>>, reserved: Vec<Reserved>) {
    for ((m, body), permit) in batch.iter().zip(kept).zip(reserved) {
        if let Some(permit) = permit {
            permit.send(Handed { detail: m.committed_detail(), body });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RecipientState, sample_message};

    fn batch() -> Vec<NewMessage> {
        let id = crate::QueueId::generate;
        let mut held = sample_message(&id(), 10, 1);
        held.held = true;
        let mut later = sample_message(&id(), 10, 1);
        later.not_before = Some(later.info.received_at + 60);
        vec![sample_message(&id(), 10, 2), held, later, sample_message(&id(), 10, 1)]
    }

    #[test]
    fn without_a_delivery_asking_nothing_is_claimed() {
        let mut b = batch();
        let reserved = HandOff::default().reserve(&mut b, 2000);
        assert!(reserved.iter().all(Option::is_none));
        assert!(b.iter().all(|m| m.initial_state() != RecipientState::Active));
    }

    #[test]
    fn only_messages_due_now_and_not_held_are_claimed_and_only_as_many_as_delivery_has_room_for() {
        let hand_off = HandOff::default();
        let mut rx = hand_off.open(1);
        let mut b = batch();
        let now = b[0].info.received_at;
        let reserved = hand_off.reserve(&mut b, now);
        let claimed: Vec<bool> = b.iter().map(|m| m.claimed).collect();
        // The held one and the one waiting a minute stay queued; the last finds no room.
        assert_eq!(claimed, [true, false, false, false]);
        assert_eq!(b[1].initial_state(), RecipientState::Held);
        assert_eq!(b[3].initial_state(), RecipientState::Queued);
        let kept = vec![Some(KeptBody::of(b"body")), None, None, None];
        deliver_now(&b, kept, reserved);
        let Handed { detail: handed, body } = rx.try_recv().unwrap();
        assert_eq!(body.as_deref().map(|b| &b[..]), Some(&b"body"[..]));
        assert_eq!(handed.info.id, b[0].info.id);
        assert!(handed.recipients.iter().all(|r| r.state == RecipientState::Active));
        assert_eq!(handed.recipients.len(), 2);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_commit_that_fails_hands_nothing_over_and_frees_the_room() {
        let hand_off = HandOff::default();
        let mut rx = hand_off.open(1);
        let mut b = batch();
        let reserved = hand_off.reserve(&mut b, 2000);
        drop(reserved);
        assert!(rx.try_recv().is_err());
        let mut again = batch();
        assert!(hand_off.reserve(&mut again, 2000)[0].is_some(), "the room is free again");
    }

    async fn accept(q: &crate::Queue, m: NewMessage) {
        let id = crate::QueueId::parse(&m.info.id).unwrap();
        let mut body = q.create_body(&id).await.unwrap();
        body.write(b"Subject: a\r\n\r\nbody\r\n").await.unwrap();
        q.commit(body.finish().await.unwrap(), m).await.unwrap();
    }

    #[tokio::test]
    async fn a_handed_over_message_is_what_delivery_would_read_back_and_no_scan_claims_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let handed_id;
        {
            let (q, _) = crate::Queue::open(dir.path(), 16).await.unwrap();
            let mut rx = q.hand_off(8);
            let mut m = sample_message(&crate::QueueId::generate(), 20, 3);
            m.info.rules = Some(crate::RulesRecord { hold_minutes: None, ..Default::default() });
            handed_id = m.info.id.clone();
            accept(&q, m).await;
            let Handed { detail: handed, body } = rx.recv().await.unwrap();
            assert_eq!(body.as_deref().map(|b| &b[..]), Some(&b"Subject: a\r\n\r\nbody\r\n"[..]), "kept whole");
            let stored = q.stores().messages.message_without_history(&handed_id).await.unwrap().unwrap();
            assert_eq!(serde_json::to_value(&handed).unwrap(), serde_json::to_value(&stored).unwrap());
            assert!(stored.recipients.iter().all(|r| r.state == RecipientState::Active));
            assert!(q.claim_due(q.now(), 100).await.unwrap().is_empty(), "claimed once, at commit");
            // A held message is not handed over; the scan never claims it either.
            let mut held = sample_message(&crate::QueueId::generate(), 20, 1);
            held.held = true;
            accept(&q, held).await;
            assert!(rx.try_recv().is_err());
            assert!(q.claim_due(q.now(), 100).await.unwrap().is_empty());
        }
        // A stop before the delivery ended: the next start makes them due again.
        let (q, _) = crate::Queue::open(dir.path(), 16).await.unwrap();
        let claims = q.claim_due(q.now(), 100).await.unwrap();
        assert_eq!(claims.iter().filter(|c| c.message_id == handed_id).count(), 3);
    }
}
