//! PostgreSQL: the stored file keys of kept files and withheld originals, read and replaced
//! for wrapping and rotation (`crate::files::rewrap`).

use crate::error::StoreError;
use crate::files::{FileKeyChange, FileKeyRow};

use super::PgStore;

/// Every kept (not purged) file's stored key, and every withheld original's.
pub(super) async fn file_keys(s: &PgStore) -> Result<Vec<FileKeyRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT message_id, idx, file_id, key, 0::BIGINT AS original FROM link_files WHERE NOT purged \
         UNION ALL SELECT message_id, idx, file_id, key, 1::BIGINT AS original FROM withheld_originals \
         ORDER BY original, message_id, idx",
    )
    .fetch_all(&s.pool)
    .await?;
    Ok(rows.iter().map(crate::rows::file_key_row).collect())
}

/// Replaces stored keys in one transaction; rolls back when one no longer holds its old value.
pub(super) async fn replace_file_keys(s: &PgStore, changes: &[FileKeyChange]) -> Result<(), StoreError> {
    let mut tx = s.pool.begin().await?;
    for c in changes {
        let sql = if c.original {
            "UPDATE withheld_originals SET key = $1 WHERE message_id = $2 AND idx = $3 AND key = $4"
        } else {
            "UPDATE link_files SET key = $1 WHERE message_id = $2 AND idx = $3 AND key = $4"
        };
        let changed =
            sqlx::query(sql).bind(&c.new).bind(&c.message_id).bind(c.idx).bind(&c.old).execute(&mut *tx).await?;
        if changed.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(crate::rows::key_changed(c));
        }
    }
    tx.commit().await?;
    Ok(())
}
