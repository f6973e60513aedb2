//! SQLite: what the quarantine digest told whom, and which scheduled digests ran.

use async_trait::async_trait;
use sqlx::Row;

use crate::error::StoreError;
use crate::quarantine::{DigestStore, HeldRecipient};
use crate::sqlite::SqliteStore;

#[async_trait]
impl DigestStore for SqliteStore {
    async fn untold(&self) -> Result<Vec<HeldRecipient>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.message_id, r.idx, r.address FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE r.state = 'held' AND m.done_at IS NULL \
             AND (json_extract(m.inspection, '$.action') = 'quarantined' \
                  OR json_extract(m.sender_record, '$.authentication.dmarc_action') LIKE 'quarantine:%') \
             AND NOT EXISTS (SELECT 1 FROM quarantine_digests d WHERE d.message_id = r.message_id AND d.idx = r.idx) \
             ORDER BY m.received_at, m.id, r.idx",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .iter()
            .map(|r| HeldRecipient { message_id: r.get("message_id"), idx: r.get("idx"), address: r.get("address") })
            .collect())
    }

    async fn mark_told(&self, told: &[HeldRecipient], at: i64) -> Result<Vec<HeldRecipient>, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let mut marked = Vec::with_capacity(told.len());
        for t in told {
            let done =
                sqlx::query("INSERT OR IGNORE INTO quarantine_digests (message_id, idx, told_at) VALUES (?, ?, ?)")
                    .bind(&t.message_id)
                    .bind(t.idx)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            if done.rows_affected() == 1 {
                marked.push(t.clone());
            }
        }
        tx.commit().await?;
        Ok(marked)
    }

    async fn unmark_told(&self, told: &[HeldRecipient]) -> Result<(), StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for t in told {
            sqlx::query("DELETE FROM quarantine_digests WHERE message_id = ? AND idx = ?")
                .bind(&t.message_id)
                .bind(t.idx)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_digest_slot(&self, slot: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT OR IGNORE INTO quarantine_digest_runs (slot, ran_at) VALUES (?, ?)")
            .bind(slot)
            .bind(now)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_digest_slot(&self, slot: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM quarantine_digest_runs WHERE slot = ?")
            .bind(slot)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample_message;
    use crate::queue_id::QueueId;
    use crate::store::QueueWrites;

    #[tokio::test]
    async fn each_held_recipient_is_told_once_and_each_slot_claimed_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let mut held = sample_message(&QueueId::generate(), 10, 2);
        held.held = true;
        held.info.inspection = Some(sekisho_policy::inbound::InspectionRecord {
            action: sekisho_policy::inbound::Outcome::Quarantined,
            rule: "danger file → quarantine (inbound.danger)".into(),
            files: Vec::new(),
            antivirus: "test".into(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        });
        let mut plain = sample_message(&QueueId::generate(), 10, 1);
        plain.held = true;
        s.insert_messages(&[held.clone(), plain]).await.unwrap();
        let untold = s.untold().await.unwrap();
        assert_eq!(untold.len(), 2, "only the quarantined message's recipients: {untold:?}");
        assert!(untold.iter().all(|u| u.message_id == held.info.id));
        assert_eq!(s.mark_told(&untold[..1], 5).await.unwrap(), untold[..1].to_vec());
        assert_eq!(s.untold().await.unwrap(), untold[1..].to_vec());
        assert_eq!(s.mark_told(&untold, 6).await.unwrap(), untold[1..].to_vec(), "a run that came second");
        s.unmark_told(&untold[1..]).await.unwrap();
        s.unmark_told(&untold[..1]).await.unwrap();
        assert_eq!(s.untold().await.unwrap().len(), 2);
        assert!(s.claim_digest_slot(100, 101).await.unwrap());
        assert!(!s.claim_digest_slot(100, 102).await.unwrap(), "a slot runs once");
        s.release_digest_slot(100).await.unwrap();
        assert!(s.claim_digest_slot(100, 103).await.unwrap(), "a failed run is given back and runs again");
        assert!(s.claim_digest_slot(200, 201).await.unwrap());

        // Retention forgets only what no longer matters: a recipient still held stays told.
        s.mark_told(&untold, 5).await.unwrap();
        let rows = async || -> (i64, i64) {
            let told =
                sqlx::query_scalar("SELECT COUNT(*) FROM quarantine_digests").fetch_one(&s.reader).await.unwrap();
            let runs =
                sqlx::query_scalar("SELECT COUNT(*) FROM quarantine_digest_runs").fetch_one(&s.reader).await.unwrap();
            (told, runs)
        };
        s.purge_rows(1000).await.unwrap();
        assert_eq!(rows().await, (2, 0), "held recipients stay told; old runs go");
        assert!(s.delete_message(&held.info.id).await.unwrap());
        s.purge_rows(1000).await.unwrap();
        assert_eq!(rows().await, (0, 0), "a deleted message's rows go");
        assert!(s.untold().await.unwrap().is_empty());
    }
}
