//! PostgreSQL: message bodies and sealed files, each in parts of [`PART`] bytes (a row stays far
//! below PostgreSQL's 1 GB field limit, and no node holds a whole large object in memory).
//! An object is written in one transaction, so a reader sees all of its parts or none.
//! A transfer holds a connection for the whole object: at most [`super::OBJECT_TRANSFERS`] run
//! at once on a node ([`PgStore::transfer`]), the rest of the pool staying free for the queue.

use std::path::Path;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::StoreError;
use crate::objects::{ObjectKind, ObjectStore, StoredObject};

use super::PgStore;

/// Bytes per stored part.
pub(crate) const PART: usize = 1 << 20;

/// Ends an `INSERT INTO objects`: a part already there (an object stored again) is replaced,
/// stored anew at the database's clock.
pub(super) const REPLACING_PART: &str =
    " ON CONFLICT (kind, id, part) DO UPDATE SET data = EXCLUDED.data, stored_at = EXCLUDED.stored_at";

#[async_trait]
impl ObjectStore for PgStore {
    async fn put_object(&self, kind: ObjectKind, id: &str, path: &Path) -> Result<u64, StoreError> {
        let mut file = tokio::fs::File::open(path).await.map_err(|e| StoreError::io("open", path, e))?;
        let _transfer = self.transfer().await;
        let first = read_part(&mut file, path).await?;
        let n = first.len();
        if n < PART {
            // One part (nearly every message body): one statement, its own transaction, one
            // round trip; the parts of an earlier, larger copy go in the same statement. An
            // empty object is still one (empty) part: its presence is what `fetch` finds.
            // `stored_at` is the database's clock (the column's default), never this node's.
            sqlx::query(&format!(
                "WITH gone AS (DELETE FROM objects WHERE kind = $1 AND id = $2 AND part > 0) \
                 INSERT INTO objects (kind, id, part, data) VALUES ($1, $2, 0, $3){REPLACING_PART}"
            ))
            .bind(kind.code())
            .bind(id)
            .bind(first)
            .execute(&self.pool)
            .await?;
            return Ok(n as u64);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM objects WHERE kind = $1 AND id = $2")
            .bind(kind.code())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let (mut part, mut total, mut buf) = (0i32, 0u64, first);
        loop {
            let n = buf.len();
            sqlx::query("INSERT INTO objects (kind, id, part, data) VALUES ($1, $2, $3, $4)")
                .bind(kind.code())
                .bind(id)
                .bind(part)
                .bind(buf)
                .execute(&mut *tx)
                .await?;
            total += n as u64;
            part += 1;
            if n < PART {
                break;
            }
            buf = read_part(&mut file, path).await?;
            // An object of whole parts ends with the last full one.
            if buf.is_empty() {
                break;
            }
        }
        tx.commit().await?;
        Ok(total)
    }

    async fn fetch_object(&self, kind: ObjectKind, id: &str, dest: &Path) -> Result<bool, StoreError> {
        // Removed however this ends: an error, or the future dropped mid-fetch (a portal
        // client that went away).
        let partial = crate::objects::PartialFetch::beside(dest);
        let _transfer = self.transfer().await;
        let Some(file) = fetch_into(self, kind, id, &partial).await? else {
            return Ok(false);
        };
        partial.finish(file, dest).await?;
        Ok(true)
    }

    async fn head_object(&self, kind: ObjectKind, id: &str, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        // The first part alone: a small read, never a transfer of the whole object.
        let max = max.min(PART) as i32;
        Ok(sqlx::query_scalar(
            "SELECT substring(data FROM 1 FOR $3) FROM objects WHERE kind = $1 AND id = $2 AND part = 0",
        )
        .bind(kind.code())
        .bind(id)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn remove_objects(&self, kind: ObjectKind, ids: &[String]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        // One statement: every part goes, and the first parts count the objects there were.
        let parts: Vec<i32> = sqlx::query_scalar("DELETE FROM objects WHERE kind = $1 AND id = ANY($2) RETURNING part")
            .bind(kind.code())
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(parts.iter().filter(|&&p| p == 0).count() as u64)
    }

    async fn object_ids(&self, kind: ObjectKind) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM objects WHERE kind = $1 AND part = 0 ORDER BY id")
            .bind(kind.code())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn stored_objects(&self, kind: ObjectKind) -> Result<Vec<StoredObject>, StoreError> {
        // `octet_length` of a part stored out of line reads its TOAST pointer, not its bytes.
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT id, SUM(octet_length(data))::BIGINT, MIN(stored_at) FROM objects WHERE kind = $1 \
             GROUP BY id ORDER BY id",
        )
        .bind(kind.code())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, size, stored_at)| StoredObject { id, size: size.max(0) as u64, stored_at })
            .collect())
    }

    async fn objects_older_than(&self, kind: ObjectKind, seconds: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM objects WHERE kind = $1 AND part = 0 \
             AND stored_at < (EXTRACT(EPOCH FROM now()))::BIGINT - $2 ORDER BY id",
        )
        .bind(kind.code())
        .bind(seconds)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The next part of `file`: [`PART`] bytes, fewer at its end (none after it).
async fn read_part(file: &mut tokio::fs::File, path: &Path) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::with_capacity(PART);
    file.take(PART as u64).read_to_end(&mut buf).await.map_err(|e| StoreError::io("read", path, e))?;
    Ok(buf)
}

impl PgStore {
    /// Waits for a transfer permit: held for as long as one object is stored or fetched.
    async fn transfer(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.transfers.acquire().await.expect("the transfer semaphore is never closed")
    }
}

/// Writes the parts of (`kind`, `id`) to the partial fetch; `None` when there are none.
/// The parts are read one at a time in one snapshot, so a copy replaced meanwhile is never mixed
/// with the one being read.
async fn fetch_into(
    store: &PgStore,
    kind: ObjectKind,
    id: &str,
    partial: &crate::objects::PartialFetch,
) -> Result<Option<tokio::fs::File>, StoreError> {
    let mut tx = store.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let mut file: Option<tokio::fs::File> = None;
    for part in 0i32.. {
        let data: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT data FROM objects WHERE kind = $1 AND id = $2 AND part = $3")
                .bind(kind.code())
                .bind(id)
                .bind(part)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(data) = data else { break };
        let f = match &mut file {
            Some(f) => f,
            empty => empty.insert(partial.create()?),
        };
        f.write_all(&data).await.map_err(|e| StoreError::io("write", partial.path(), e))?;
    }
    tx.commit().await?;
    Ok(file)
}
