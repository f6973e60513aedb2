//! Start-up recovery: make the spool and the database agree again after a crash.
//!
//! - recipients claimed by a delivery that never finished become due again;
//! - temp bodies (never acknowledged) are removed;
//! - committed bodies without a database row (crash between rename and commit: never
//!   acknowledged either) are swept;
//! - rows whose body is missing or has the wrong size, and rows without recipients, are moved
//!   aside to `quarantine/` with a JSON note and logged: never delivered truncated.
//!
//! On PostgreSQL the body that counts is the shared copy (`crate::bodies`), and other nodes
//! may be receiving and delivering meanwhile:
//! - a message this node has no copy of is fine while the shared copy has the recorded size;
//!   a local copy of another size is dropped (it is fetched again when needed);
//! - a shared copy missing or of another size is stored again from a local copy of the right
//!   size (bodies kept only in a node's spool before they were shared);
//! - a message whose body is reachable nowhere (no shared copy, none here) is never deleted:
//!   another node may still hold it. It is logged as an error and left queued (delivery defers
//!   it with `BodyUnavailable`);
//! - a shared copy of another size without a right local one is quarantined, but only once a
//!   second look finds the message still queued (another node may have finished it and removed
//!   its body meanwhile); the shared copy is removed only once kept in `quarantine/`;
//! - this node's files no queued message needs are removed, and shared objects no queued
//!   message needs only once stored more than an hour ago by the database's clock
//!   (`bodies::UNCOMMITTED_GRACE`; a node's clock may be off): an
//!   object stored by a node that has not committed its message yet is never swept.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::bodies::Bodies;
use crate::error::StoreError;
use crate::objects::{ObjectKind, ObjectStore};
use crate::spool::{Spool, sync_dir};
use crate::store::Backend;

/// What recovery found and did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RecoveryReport {
    /// Recipients whose unfinished claim was released.
    pub claims_released: u64,
    /// Temp bodies removed.
    pub temp_removed: u64,
    /// Bodies without a database row, removed (on PostgreSQL: this node's files no queued
    /// message needs).
    pub orphans_swept: u64,
    /// PostgreSQL: shared bodies of no queued message (finished, deleted, or stored by a node
    /// that crashed before committing), removed.
    pub shared_orphans_swept: u64,
    /// PostgreSQL: shared bodies stored again from this node's copy (missing or damaged there).
    pub shared_restored: u64,
    /// Messages moved to quarantine, with the reason.
    pub quarantined: Vec<(String, String)>,
    /// PostgreSQL: messages left queued although no copy of their body was reachable (no
    /// shared copy, none in this node's spool): another node may still hold one. Logged as
    /// errors; delivery defers them until a copy is shared again.
    pub unreachable: Vec<String>,
    /// Messages in the queue after recovery.
    pub messages: u64,
    /// Messages found finished but not yet marked done.
    pub finished: u64,
}

pub(crate) async fn recover(spool: &Spool, store: &dyn Backend, bodies: &Bodies) -> Result<RecoveryReport, StoreError> {
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

    let mut local: HashMap<String, u64> = HashMap::new();
    for entry in read_dir(spool.msg_dir())? {
        let len = entry.metadata().map_or(u64::MAX, |m| m.len());
        local.insert(entry.file_name().to_string_lossy().into_owned(), len);
    }
    if let Some(shared) = bodies.shared() {
        recover_shared(spool, store, bodies, shared, local, &mut report).await?;
        let _ = sync_dir(spool.msg_dir());
        let _ = sync_dir(spool.tmp_dir());
        return Ok(report);
    }
    let mut bodies = local;

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

/// The PostgreSQL half of [`recover`]: the shared copies count, this node's are a cache.
async fn recover_shared(
    spool: &Spool,
    store: &dyn Backend,
    bodies: &Bodies,
    shared: &dyn ObjectStore,
    local: HashMap<String, u64>,
    report: &mut RecoveryReport,
) -> Result<(), StoreError> {
    // Queued first, then the objects: a message listed here had its body stored before.
    let queued = store.message_sizes().await?;
    let stored: HashMap<String, u64> =
        shared.stored_objects(ObjectKind::Body).await?.into_iter().map(|o| (o.id, o.size)).collect();
    let mut suspect: Vec<(String, u64, String)> = Vec::new();
    let mut missing: Vec<(String, u64)> = Vec::new();
    for (id, size, recipients) in &queued {
        let (id, size) = (id.as_str(), *size);
        if let Some(&len) = local.get(id)
            && len != size
        {
            tracing::warn!(
                queue_id = id,
                bytes = len,
                recorded = size,
                "local copy of a body has another size; dropped"
            );
            bodies.remove_local(&[id.to_string()]);
        }
        let reason = match stored.get(id) {
            _ if *recipients == 0 => "message has no recipients".to_string(),
            None => {
                missing.push((id.to_string(), size));
                continue;
            }
            Some(&len) if len != size => {
                format!("the shared copy of its body has {len} bytes, the queue recorded {size}")
            }
            Some(_) => {
                report.messages += 1;
                continue;
            }
        };
        suspect.push((id.to_string(), size, reason));
    }
    for (id, size) in missing {
        if local.get(&id) == Some(&size) {
            // A store that fails now stops the start with its error: never a loss for it.
            shared.put_object(ObjectKind::Body, &id, &bodies.path(&id)).await?;
            tracing::warn!(queue_id = %id, "shared copy of a body was missing; stored again from this node's copy");
            report.shared_restored += 1;
        } else {
            // Another node (perhaps an older sekisho keeping bodies in its spool alone) may still
            // hold it, or it finished meanwhile: the message stays queued, and delivery defers it
            // (`BodyUnavailable`) until a copy is shared again or an administrator acts.
            tracing::error!(
                queue_id = %id,
                "no copy of this message's body is reachable from this node; left queued"
            );
            report.unreachable.push(id);
        }
        report.messages += 1;
    }
    if !suspect.is_empty() {
        // A second look: only what is still queued now is damaged (another node may have
        // finished a message and removed its body since the first).
        let still: HashSet<String> = store.message_sizes().await?.into_iter().map(|(id, _, _)| id).collect();
        for (id, size, reason) in suspect {
            if !still.contains(&id) {
                continue;
            }
            let has_recipients = queued.iter().any(|(q, _, n)| *q == id && *n > 0);
            if has_recipients && local.get(&id) == Some(&size) {
                // A store that fails now stops the start with its error: never a quarantine for it.
                shared.put_object(ObjectKind::Body, &id, &bodies.path(&id)).await?;
                tracing::warn!(queue_id = %id, reason, "shared copy of a body stored again from this node's copy");
                report.shared_restored += 1;
                report.messages += 1;
                continue;
            }
            if let Err(e) = quarantine(spool, store, &id, &reason).await {
                tracing::error!(queue_id = %id, error = %e, reason, "cannot quarantine a damaged message");
            } else {
                quarantine_shared(spool, shared, &id).await;
            }
            report.quarantined.push((id, reason));
        }
    }
    // Nothing of this node's is committing yet: every file of its spool no queued message
    // needs goes now; objects only after the grace, as other nodes may be committing them.
    let keep: HashSet<String> = queued.into_iter().map(|(id, _, _)| id).collect();
    let swept = bodies.sweep(&keep, i64::MAX).await?;
    report.orphans_swept = swept.local;
    report.shared_orphans_swept = swept.shared;
    Ok(())
}

/// Keeps the shared copy of a quarantined message beside its note when this node had none of
/// its own, then removes it from the shared store: only once a copy is in `quarantine/`.
async fn quarantine_shared(spool: &Spool, shared: &dyn ObjectStore, id: &str) {
    let to = spool.quarantine_dir().join(id);
    if !to.exists()
        && let Err(e) = shared.fetch_object(ObjectKind::Body, id, &to).await
    {
        tracing::warn!(queue_id = id, error = %e, "cannot keep the shared copy of a quarantined body");
    }
    if !to.exists() {
        tracing::warn!(queue_id = id, "shared copy of a quarantined body left in place: no copy kept in quarantine");
        return;
    }
    if let Err(e) = shared.remove_objects(ObjectKind::Body, &[id.to_string()]).await {
        tracing::warn!(queue_id = id, error = %e, "cannot remove the shared copy of a quarantined body");
    }
}

async fn quarantine(spool: &Spool, store: &dyn Backend, id: &str, reason: &str) -> Result<(), StoreError> {
    let dir = spool.quarantine_dir();
    let record = store.message(id).await.ok().flatten();
    let note = serde_json::json!({ "id": id, "reason": reason, "message": record });
    let note_path = dir.join(format!("{id}.json"));
    crate::private::write(&note_path, &serde_json::to_vec_pretty(&note).unwrap_or_default())
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
