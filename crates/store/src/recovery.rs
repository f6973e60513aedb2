//! Start-up recovery: make the spool and the database agree again after a crash.
//!
//! - recipients claimed by a delivery that never finished become due again;
//! - temp bodies (never acknowledged) are removed;
//! - committed bodies without a database row (crash between rename and commit: never
//!   acknowledged either) are swept;
//! - rows whose body is missing or has the wrong size, and rows without recipients, are moved
//!   aside to `quarantine/` with a JSON note and logged: never delivered truncated.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::StoreError;
use crate::spool::{Spool, sync_dir};
use crate::store::Backend;

/// What recovery found and did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecoveryReport {
    /// Recipients whose unfinished claim was released.
    pub claims_released: u64,
    /// Temp bodies removed.
    pub temp_removed: u64,
    /// Bodies without a database row, removed.
    pub orphans_swept: u64,
    /// Messages moved to quarantine, with the reason.
    pub quarantined: Vec<(String, String)>,
    /// Messages in the queue after recovery.
    pub messages: u64,
    /// Messages found finished but not yet marked done.
    pub finished: u64,
}

pub(crate) async fn recover(spool: &Spool, store: &dyn Backend) -> Result<RecoveryReport, StoreError> {
    let now = crate::sqlite::now();
    let claims_released = store.apply_move(None, crate::state::Move::Recover, Some(now)).await?;
    let mut report = RecoveryReport { claims_released, ..Default::default() };
    // Messages whose last outcome was recorded just before a crash; their bodies are swept below.
    report.finished = store.finish_all_done(now).await?.len() as u64;

    for entry in read_dir(spool.tmp_dir())? {
        if std::fs::remove_file(entry.path()).is_ok() {
            report.temp_removed += 1;
        }
    }

    let mut bodies: HashMap<String, u64> = HashMap::new();
    for entry in read_dir(spool.msg_dir())? {
        let len = entry.metadata().map_or(u64::MAX, |m| m.len());
        bodies.insert(entry.file_name().to_string_lossy().into_owned(), len);
    }

    for (id, size, recipients) in store.message_sizes().await? {
        let reason = match bodies.remove(&id) {
            None => Some("body file is missing".to_string()),
            Some(len) if len != size => Some(format!("body has {len} bytes, the queue recorded {size}")),
            Some(_) if recipients == 0 => Some("message has no recipients".to_string()),
            Some(_) => None,
        };
        match reason {
            Some(reason) => {
                // Never a crash loop: a message that cannot even be moved aside is logged and
                // left for the administrator; delivery checks the body size again before sending.
                if let Err(e) = quarantine(spool, store, &id, &reason).await {
                    tracing::error!(queue_id = %id, error = %e, reason, "cannot quarantine a damaged message");
                }
                report.quarantined.push((id, reason));
            }
            None => report.messages += 1,
        }
    }

    for id in bodies.keys() {
        if std::fs::remove_file(spool.msg_dir().join(id)).is_ok() {
            report.orphans_swept += 1;
        }
    }
    let _ = sync_dir(spool.msg_dir());
    let _ = sync_dir(spool.tmp_dir());
    Ok(report)
}

async fn quarantine(spool: &Spool, store: &dyn Backend, id: &str, reason: &str) -> Result<(), StoreError> {
    let dir = spool.quarantine_dir();
    let record = store.message(id).await.ok().flatten();
    let note = serde_json::json!({ "id": id, "reason": reason, "message": record });
    let note_path = dir.join(format!("{id}.json"));
    std::fs::write(&note_path, serde_json::to_vec_pretty(&note).unwrap_or_default())
        .map_err(|e| StoreError::io("write", &note_path, e))?;
    let body = spool.msg_dir().join(id);
    if body.exists() {
        let to = dir.join(id);
        std::fs::rename(&body, &to).map_err(|e| StoreError::io("move to quarantine", &to, e))?;
    }
    let _ = sync_dir(dir);
    store.delete_message(id).await?;
    tracing::error!(queue_id = id, reason, "damaged message moved to quarantine");
    Ok(())
}

fn read_dir(dir: &std::path::Path) -> Result<Vec<std::fs::DirEntry>, StoreError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| StoreError::io("list", dir, e))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::committer::Queue;
    use crate::model::sample_message;
    use crate::queue_id::QueueId;

    async fn accept(q: &Queue, content: &[u8]) -> QueueId {
        let id = QueueId::generate();
        let mut body = q.create_body(&id).await.unwrap();
        body.write(content).await.unwrap();
        let fin = body.finish().await.unwrap();
        q.commit(fin, sample_message(&id, content.len() as u64, 1)).await.unwrap();
        id
    }

    #[tokio::test]
    async fn committed_message_survives_and_damage_is_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let (good, truncated, missing);
        {
            let (q, report) = Queue::open(dir.path(), 16).await.unwrap();
            assert_eq!(report.messages, 0);
            good = accept(&q, b"Subject: a\r\n\r\nbody\r\n").await;
            truncated = accept(&q, b"Subject: b\r\n\r\nbody\r\n").await;
            missing = accept(&q, b"Subject: c\r\n\r\nbody\r\n").await;
            // A temp body that was never acknowledged, and an orphan body without a row.
            let mut t = q.create_body(&QueueId::generate()).await.unwrap();
            t.write(b"partial").await.unwrap();
            drop(t);
            std::fs::write(q.body_path(QueueId::generate().as_str()), b"orphan").unwrap();
            // Damage: truncate one body, delete another.
            std::fs::write(q.body_path(truncated.as_str()), b"Subj").unwrap();
            std::fs::remove_file(q.body_path(missing.as_str())).unwrap();
            assert!(Queue::open(dir.path(), 16).await.is_err(), "the data directory is locked");
        }
        let (q, report) = Queue::open(dir.path(), 16).await.unwrap();
        assert_eq!(report.messages, 1);
        assert_eq!(report.temp_removed, 1);
        assert_eq!(report.orphans_swept, 1);
        let mut quarantined: Vec<String> = report.quarantined.iter().map(|(id, _)| id.clone()).collect();
        quarantined.sort();
        let mut expected = vec![truncated.to_string(), missing.to_string()];
        expected.sort();
        assert_eq!(quarantined, expected);
        assert!(dir.path().join("quarantine").join(truncated.as_str()).exists());
        assert!(dir.path().join("quarantine").join(format!("{missing}.json")).exists());
        let list = q.stores().messages.list_messages(false).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, good.as_str());
    }

    #[tokio::test]
    async fn concurrent_commits_share_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(dir.path(), 64).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move { accept(&q, format!("Subject: {i}\r\n\r\nx\r\n").as_bytes()).await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(q.stores().messages.list_messages(false).await.unwrap().len(), 50);
    }
}
