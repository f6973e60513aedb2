//! PostgreSQL: the originals withheld from inbound mail (table `withheld_originals`).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::originals::{OriginalStore, WithheldOriginal};
use crate::rows::withheld_original;

use super::PgStore;

/// The first key of the advisory lock a node holds while it records one message's originals
/// (the second is the message ID's hash): two nodes delivering the same message record them once.
const ORIGINALS_LOCK: i32 = 0x6f72_6967; // "orig"

#[async_trait]
impl OriginalStore for PgStore {
    async fn put_withheld(&self, originals: &[WithheldOriginal]) -> Result<bool, StoreError> {
        let Some(first) = originals.first() else { return Ok(true) };
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(ORIGINALS_LOCK)
            .bind(&first.message_id)
            .execute(&mut *tx)
            .await?;
        let there: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM withheld_originals WHERE message_id = $1")
            .bind(&first.message_id)
            .fetch_one(&mut *tx)
            .await?;
        if there > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for o in originals {
            sqlx::query(
                "INSERT INTO withheld_originals (message_id, idx, file_id, key, name, content_type, size, sha256, \
                 reason, copy_name, copy_sha256, sender, header_from, subject, recipients, received_at, kept_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
            )
            .bind(&o.message_id)
            .bind(o.idx)
            .bind(&o.file_id)
            .bind(&o.key)
            .bind(&o.name)
            .bind(&o.content_type)
            .bind(o.size as i64)
            .bind(&o.sha256)
            .bind(&o.reason)
            .bind(&o.copy_name)
            .bind(&o.copy_sha256)
            .bind(&o.sender)
            .bind(&o.header_from)
            .bind(&o.subject)
            .bind(crate::rows::address_lines(&o.recipients))
            .bind(o.received_at)
            .bind(o.kept_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn withheld(&self, message_id: Option<&str>) -> Result<Vec<WithheldOriginal>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM withheld_originals WHERE $1::TEXT IS NULL OR message_id = $1 \
             ORDER BY kept_at DESC, message_id, idx",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(withheld_original).collect())
    }

    /// Reads the queue's `messages.done_at` (pg-core's step 1).
    async fn withheld_before(&self, before: i64) -> Result<Vec<WithheldOriginal>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM withheld_originals o WHERE o.kept_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = o.message_id AND m.done_at IS NULL) \
             ORDER BY o.kept_at, o.message_id, o.idx",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(withheld_original).collect())
    }

    async fn forget_withheld(&self, message_id: &str, idx: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM withheld_originals WHERE message_id = $1 AND idx = $2")
            .bind(message_id)
            .bind(idx)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
