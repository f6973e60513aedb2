//! SQLite: what the administrator's listener asks of the store: the queue's depth by state
//! (`/metrics`) and whether the store still takes writes (`/readyz`).

use sqlx::Row;

use crate::error::StoreError;
use crate::sqlite::SqliteStore;
use crate::store::QueueDepth;

/// The unfinished states counted, as one range over the `recipients_due` index (state first):
/// SQLite counts index entries and never reads the table, whatever the size of the history.
const DEPTH: &str =
    "SELECT state, COUNT(*) AS n FROM recipients WHERE state IN ('queued', 'active', 'held') GROUP BY state";

impl SqliteStore {
    /// Recipients queued, active and held.
    pub(crate) async fn queue_depth_of(&self) -> Result<QueueDepth, StoreError> {
        let mut depth = QueueDepth::default();
        for row in sqlx::query(DEPTH).fetch_all(&self.reader).await? {
            let n = row.get::<i64, _>("n").max(0) as u64;
            match row.get::<String, _>("state").as_str() {
                "queued" => depth.queued = n,
                "active" => depth.active = n,
                _ => depth.held = n,
            }
        }
        Ok(depth)
    }

    /// Takes the write lock and lets it go (`BEGIN IMMEDIATE`, `ROLLBACK`, in one request that
    /// a caller going away cannot leave half done): fails when the database is read-only,
    /// locked beyond the busy timeout, or gone.
    pub(crate) async fn check_writable_of(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().await?;
        conn.transaction(sqlx::query("BEGIN IMMEDIATE; ROLLBACK")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::sample_message;
    use crate::queue_id::QueueId;
    use crate::sqlite::SqliteStore;
    use crate::store::{MessageStore, QueueDepth, QueueWrites};

    #[tokio::test]
    async fn the_depth_counts_unfinished_recipients_from_the_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let queued = sample_message(&QueueId::generate(), 10, 3);
        let mut held = sample_message(&QueueId::generate(), 10, 2);
        held.held = true;
        let done = sample_message(&QueueId::generate(), 10, 4);
        s.insert_messages(&[queued, held, done.clone()]).await.unwrap();
        sqlx::query("UPDATE recipients SET state = 'delivered' WHERE message_id = ?")
            .bind(&done.info.id)
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        assert_eq!(s.queue_depth().await.unwrap(), QueueDepth { queued: 3, active: 0, held: 2 });
        s.check_writable().await.unwrap();
        let plan = s.query_plan(super::DEPTH).await;
        assert!(
            plan.iter().any(|p| p.contains("COVERING INDEX recipients_due")),
            "the count reads the index only: {plan:?}"
        );
    }

    /// Measurement, not a check: `cargo test -p sekisho-store --release depth_at_scale --
    /// --ignored --nocapture` prints what one scrape's query costs beside a large history.
    #[tokio::test]
    #[ignore]
    async fn depth_at_scale() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let batch: Vec<_> = (0..2000).map(|_| sample_message(&QueueId::generate(), 10, 50)).collect();
        for chunk in batch.chunks(200) {
            s.insert_messages(chunk).await.unwrap();
        }
        sqlx::query("UPDATE recipients SET state = 'delivered' WHERE idx > 0")
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        let start = std::time::Instant::now();
        let depth = s.queue_depth().await.unwrap();
        println!("queue depth {depth:?} of 100000 recipients in {:?}", start.elapsed());
    }
}
