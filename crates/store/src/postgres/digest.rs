//! PostgreSQL: what the quarantine digest told whom, and which scheduled digests ran. Two
//! nodes running the digest at once never tell anyone twice: a mark is an insert that only one
//! of them makes, and a slot is claimed the same way.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::quarantine::{DigestStore, HeldRecipient};
use crate::rows::Cols as _;

use super::PgStore;

#[async_trait]
impl DigestStore for PgStore {
    /// Reads the queue's `messages` and `recipients` (pg-core's step 1) as the SQLite store
    /// does; `inspection` and `sender_record` are JSON (as text or `jsonb`).
    async fn untold(&self) -> Result<Vec<HeldRecipient>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.message_id, r.idx, r.address FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE r.state = 'held' AND m.done_at IS NULL \
             AND ((m.inspection::jsonb ->> 'action') = 'quarantined' \
                  OR (m.sender_record::jsonb -> 'authentication' ->> 'dmarc_action') LIKE 'quarantine:%') \
             AND NOT EXISTS (SELECT 1 FROM quarantine_digests d WHERE d.message_id = r.message_id AND d.idx = r.idx) \
             ORDER BY m.received_at, m.id, r.idx",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| HeldRecipient { message_id: r.text("message_id"), idx: r.int("idx"), address: r.text("address") })
            .collect())
    }

    async fn mark_told(&self, told: &[HeldRecipient], at: i64) -> Result<Vec<HeldRecipient>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut marked = Vec::with_capacity(told.len());
        for t in told {
            let done = sqlx::query(
                "INSERT INTO quarantine_digests (message_id, idx, told_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (message_id, idx) DO NOTHING",
            )
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
        let mut tx = self.pool.begin().await?;
        for t in told {
            sqlx::query("DELETE FROM quarantine_digests WHERE message_id = $1 AND idx = $2")
                .bind(&t.message_id)
                .bind(t.idx)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn claim_digest_slot(&self, slot: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO quarantine_digest_runs (slot, ran_at) VALUES ($1, $2) ON CONFLICT (slot) DO NOTHING",
        )
        .bind(slot)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_digest_slot(&self, slot: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM quarantine_digest_runs WHERE slot = $1").bind(slot).execute(&self.pool).await?;
        Ok(())
    }
}
