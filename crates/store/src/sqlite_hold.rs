//! SQLite: messages a mis-send rule holds before their first attempt, and cancelling one.
//! A cancel moves every recipient of the message to `cancelled` in one statement, only when
//! none of them has left `queued`/`held` (the moves [`Move::Cancel`] applies to): a claim
//! (`claim_due`) and a cancel are each one atomic statement on the one writer, so whichever
//! comes first wins and the other finds nothing to move.

use sqlx::Row;

use crate::error::StoreError;
use crate::model::{Cancellation, HeldMessage, RecipientState};
use crate::sqlite::{FINISHED, SqliteStore, move_sql};
use crate::state::Move;

impl SqliteStore {
    /// Cancels message `id` for `by` at `now`; false when it was no longer cancellable
    /// (delivery began, it finished, or it does not exist).
    pub(crate) async fn cancel_message(&self, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        if !cancel_in(&mut tx, id, by, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Who cancelled message `id`, and when.
    pub(crate) async fn cancellation_of(&self, id: &str) -> Result<Option<Cancellation>, StoreError> {
        let row = sqlx::query("SELECT by, at FROM cancellations WHERE message_id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| Cancellation { by: r.get("by"), at: r.get("at") }))
    }

    /// Submitted messages a rule holds at `now`: not finished, no attempt yet, every recipient
    /// queued and due later; of one sender (any case) when `sender` is given. Soonest due
    /// first. One sender's list reads only that sender's unfinished messages (the partial
    /// index `messages_pending_sender`), however many others are held.
    pub(crate) async fn held_messages(&self, now: i64, sender: Option<&str>) -> Result<Vec<HeldMessage>, StoreError> {
        let rows = sqlx::query(&held_sql(sender.is_some())).bind(now).bind(sender).fetch_all(&self.reader).await?;
        Ok(rows.iter().map(crate::rows::held).collect())
    }
}

/// Within `tx`: cancels every recipient of message `id` while all of them are still queued or
/// held, records `by` and `now` and finishes the message; false (nothing written) when it was
/// no longer cancellable.
pub(crate) async fn cancel_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
    by: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let (set, from) = move_sql("state", Move::Cancel);
    let moved = sqlx::query(&format!(
        "UPDATE recipients SET state = {set} WHERE message_id = ?1 AND state IN ({from}) \
         AND NOT EXISTS (SELECT 1 FROM recipients a WHERE a.message_id = ?1 AND a.state NOT IN ({from}))"
    ))
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    sqlx::query("INSERT OR REPLACE INTO cancellations (message_id, by, at) VALUES (?, ?, ?)")
        .bind(id)
        .bind(by)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query(&format!("UPDATE messages SET done_at = ? WHERE id = ? AND {FINISHED}"))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// The held list's query: `?1` is now, `?2` the sender when `by_sender`.
fn held_sql(by_sender: bool) -> String {
    let queued = RecipientState::Queued.as_str();
    // `COLLATE NOCASE` on the bare column lets SQLite use the partial index of unfinished
    // messages by sender; `lower(sender)` would read every unfinished message.
    let sender = if by_sender { "AND m.sender = ?2 COLLATE NOCASE" } else { "AND ?2 IS NULL" };
    format!(
        "SELECT m.id, m.sender, m.received_at, m.rules, MIN(r.next_attempt_at) AS due, \
         group_concat(r.address, ' ') AS rcpts \
         FROM messages m JOIN recipients r ON r.message_id = m.id \
         WHERE m.done_at IS NULL AND m.origin = 'submission' AND m.rules IS NOT NULL \
         AND json_extract(m.rules, '$.hold_minutes') IS NOT NULL {sender} \
         GROUP BY m.id \
         HAVING SUM(CASE WHEN r.state = '{queued}' AND r.attempts = 0 THEN 0 ELSE 1 END) = 0 AND due > ?1 \
         ORDER BY due, m.id"
    )
}

#[cfg(test)]
mod tests {
    use crate::RulesRecord;
    use crate::model::{RecipientState, sample_message};
    use crate::queue_id::QueueId;
    use crate::sqlite::SqliteStore;
    use crate::store::{MessageStore, QueueWrites};

    fn held(due: i64) -> crate::model::NewMessage {
        let mut m = sample_message(&QueueId::generate(), 10, 2);
        m.info.rules = Some(RulesRecord { hold_minutes: Some(5), ..Default::default() });
        m.not_before = Some(due);
        m
    }

    #[tokio::test]
    async fn a_held_message_is_listed_until_due_and_a_cancel_finishes_it_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (a, b) = (held(2000), held(3000));
        s.insert_messages(&[a.clone(), b.clone(), sample_message(&QueueId::generate(), 10, 1)]).await.unwrap();
        let list = s.held(1500, None).await.unwrap();
        assert_eq!(list.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), [&a.info.id, &b.info.id]);
        assert_eq!(list[0].due_at, 2000);
        assert_eq!(list[0].recipients, ["r0@example.jp", "r1@example.jp"]);
        assert!(s.held(1500, Some("nobody@example.jp")).await.unwrap().is_empty());
        assert_eq!(s.held(2500, Some("A@Example.com")).await.unwrap().len(), 1, "a is due at 2500");

        assert!(s.cancel(&a.info.id, "console:a@example.com", 1600).await.unwrap());
        assert!(!s.cancel(&a.info.id, "cli:root", 1601).await.unwrap(), "cancelled once");
        let d = s.message(&a.info.id).await.unwrap().unwrap();
        assert!(d.recipients.iter().all(|r| r.state == RecipientState::Cancelled));
        assert_eq!(d.done_at, Some(1600), "finished: nothing left to deliver");
        let c = d.cancelled.unwrap();
        assert_eq!((c.by.as_str(), c.at), ("console:a@example.com", 1600));
        assert_eq!(s.held(1500, None).await.unwrap().len(), 1, "only b is held now");
        assert!(s.claim_due(i64::MAX, 10).await.unwrap().iter().all(|c| c.message_id != a.info.id), "never claimed");
    }

    #[tokio::test]
    async fn one_senders_held_list_reads_only_that_senders_unfinished_messages() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let plan = s.query_plan(&super::held_sql(true)).await;
        assert!(
            plan.iter().any(|d| d.contains("SEARCH m USING INDEX messages_pending_sender (sender=?)")),
            "the console's list must not scan every held message: {plan:?}"
        );
        let mut other = held(2000);
        other.info.sender = "Bob@Example.com".into();
        s.insert_messages(&[held(2000), other]).await.unwrap();
        assert_eq!(s.held(1500, Some("BOB@example.COM")).await.unwrap().len(), 1, "any case");
        assert_eq!(s.held(1500, None).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn cancel_against_the_release_time_exactly_one_wins_a_hundred_times() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (mut cancels, mut claims) = (0, 0);
        for _ in 0..100 {
            let m = held(1000);
            s.insert_messages(std::slice::from_ref(&m)).await.unwrap();
            let id = m.info.id.clone();
            // The release time has come: a delivery scan and the sender's cancel race.
            let (claimer, canceller) = (s.clone(), s.clone());
            let claim = tokio::spawn(async move { claimer.claim_due(1000, 100).await.unwrap() });
            let cancel = tokio::spawn(async move { canceller.cancel(&id, "console:a", 1000).await.unwrap() });
            let (claimed, cancelled) = (claim.await.unwrap(), cancel.await.unwrap());
            let claimed = claimed.iter().filter(|c| c.message_id == m.info.id).count();
            let d = s.message(&m.info.id).await.unwrap().unwrap();
            let states: Vec<RecipientState> = d.recipients.iter().map(|r| r.state).collect();
            if cancelled {
                assert_eq!(claimed, 0, "a cancelled message is never claimed");
                assert_eq!(states, [RecipientState::Cancelled; 2]);
                cancels += 1;
            } else {
                assert_eq!(claimed, 2, "a cancel that lost found the delivery under way");
                assert_eq!(states, [RecipientState::Active; 2]);
                assert!(d.cancelled.is_none());
                claims += 1;
                // The attempt ends; the next round starts clean.
                s.apply_move(Some(&m.info.id), crate::state::Move::Recover, Some(i64::MAX)).await.unwrap();
                s.delete_message(&m.info.id).await.unwrap();
            }
        }
        assert_eq!(cancels + claims, 100);
    }
}
