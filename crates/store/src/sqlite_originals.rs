//! SQLite: the originals withheld from inbound mail (table `withheld_originals`).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::originals::{OriginalStore, WithheldOriginal};
use crate::sqlite::SqliteStore;

use crate::rows::withheld_original as original;

#[async_trait]
impl OriginalStore for SqliteStore {
    async fn put_withheld(&self, originals: &[WithheldOriginal]) -> Result<bool, StoreError> {
        let Some(first) = originals.first() else { return Ok(true) };
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let there: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM withheld_originals WHERE message_id = ?")
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
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            "SELECT * FROM withheld_originals WHERE ?1 IS NULL OR message_id = ?1 \
             ORDER BY kept_at DESC, message_id, idx",
        )
        .bind(message_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(original).collect())
    }

    async fn withheld_before(&self, before: i64) -> Result<Vec<WithheldOriginal>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM withheld_originals o WHERE o.kept_at < ? \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = o.message_id AND m.done_at IS NULL) \
             ORDER BY o.kept_at, o.message_id, o.idx",
        )
        .bind(before)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(original).collect())
    }

    async fn forget_withheld(&self, message_id: &str, idx: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM withheld_originals WHERE message_id = ? AND idx = ?")
            .bind(message_id)
            .bind(idx)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }
}

/// A withheld original for tests.
#[cfg(test)]
pub(crate) fn sample_original(message_id: &str, idx: i64, kept_at: i64) -> WithheldOriginal {
    tests::sample(message_id, idx, kept_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sample(message_id: &str, idx: i64, kept_at: i64) -> WithheldOriginal {
        WithheldOriginal {
            message_id: message_id.into(),
            idx,
            file_id: "ab".repeat(16),
            key: "k".into(),
            name: "figures.xlsm".into(),
            content_type: "application/vnd.ms-excel.sheet.macroEnabled.12".into(),
            size: 10,
            sha256: "00".into(),
            reason: "Office document with macros".into(),
            copy_name: "figures.xlsx".into(),
            copy_sha256: "11".into(),
            sender: "a@outside.example".into(),
            header_from: "A <a@outside.example>".into(),
            subject: "Figures".into(),
            recipients: vec!["bob@example.jp".into(), "carol@example.jp".into()],
            received_at: kept_at - 1,
            kept_at,
        }
    }
}
