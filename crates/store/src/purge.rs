//! Retention: what the queue no longer needs is removed once it is older than a cutoff.
//!
//! Removed, all in one transaction:
//! - finished messages (marked done, every recipient delivered or bounced) done before the
//!   cutoff, with their recipients and attempt history (and their bodies, if any is left in
//!   the spool);
//! - kept-file records of messages created before the cutoff whose every link expired before
//!   it (or was revoked) and whose files are already purged from disk, with their links,
//!   codes, sessions and download counts;
//! - audit log rows (portal events) older than the cutoff;
//! - (by `QueueControl::purge`, before this) the originals withheld in favour of sanitised
//!   copies that were kept before the cutoff, with their sealed files;
//! - what the quarantine digest remembers of recipients no longer held, told before the
//!   cutoff, and of its daily runs before it.
//!
//! Nothing still queued, held, in delivery or waiting for a notification is ever touched.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreError;
use crate::sqlite::SqliteStore;

/// How much one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Finished messages.
    pub messages: u64,
    /// Their recipients.
    pub recipients: u64,
    /// Their delivery attempts.
    pub attempts: u64,
    /// Their bodies still in the spool (normally none: bodies go when a message finishes).
    pub bodies: u64,
    /// Messages' kept-file records whose links are all over.
    pub link_messages: u64,
    /// Their links.
    pub links: u64,
    /// Audit log rows.
    pub audit_events: u64,
    /// Originals withheld in favour of their sanitised copies, kept before the cutoff, with
    /// their sealed files.
    pub originals: u64,
}

/// Finished messages done before `before`, and none other.
pub(crate) const OLD_FINISHED: &str = "SELECT id FROM messages WHERE done_at IS NOT NULL AND done_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id \
         AND r.state NOT IN ('delivered','bounced','cancelled'))";

/// Kept-file records created before `before` whose links all ended before it (or were
/// revoked) and whose files are gone from disk.
const OLD_LINKS: &str = "SELECT message_id FROM link_messages WHERE created_at < ?1 \
     AND NOT EXISTS (SELECT 1 FROM links l WHERE l.message_id = link_messages.message_id \
         AND l.revoked = 0 AND l.expires_at >= ?1) \
     AND NOT EXISTS (SELECT 1 FROM link_files f WHERE f.message_id = link_messages.message_id \
         AND f.purged = 0)";

impl SqliteStore {
    /// Removes the rows retention no longer keeps (see the module doc); returns the counts
    /// and the IDs of the messages removed.
    pub(crate) async fn purge_rows(&self, before: i64) -> Result<(PurgeCounts, Vec<String>), StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let ids: Vec<String> =
            sqlx::query(OLD_FINISHED).bind(before).fetch_all(&mut *tx).await?.iter().map(|r| r.get("id")).collect();
        let mut delete = async |sql: String| -> Result<u64, StoreError> {
            Ok(sqlx::query(&sql).bind(before).execute(&mut *tx).await?.rows_affected())
        };
        let counts = PurgeCounts {
            attempts: delete(format!("DELETE FROM attempts WHERE message_id IN ({OLD_FINISHED})")).await?,
            recipients: delete(format!("DELETE FROM recipients WHERE message_id IN ({OLD_FINISHED})")).await?,
            messages: delete(format!("DELETE FROM messages WHERE id IN ({OLD_FINISHED})")).await?,
            bodies: 0,
            links: {
                delete(format!("DELETE FROM link_downloads WHERE message_id IN ({OLD_LINKS})")).await?;
                delete(format!("DELETE FROM link_files WHERE message_id IN ({OLD_LINKS})")).await?;
                // Codes and sessions go with their links (ON DELETE CASCADE).
                delete(format!("DELETE FROM links WHERE message_id IN ({OLD_LINKS})")).await?
            },
            link_messages: delete(format!("DELETE FROM link_messages WHERE message_id IN ({OLD_LINKS})")).await?,
            audit_events: delete("DELETE FROM portal_events WHERE at < ?1".into()).await?,
            originals: 0,
        };
        delete(
            "DELETE FROM quarantine_digests WHERE told_at < ?1 AND NOT EXISTS (SELECT 1 FROM recipients r \
             WHERE r.message_id = quarantine_digests.message_id AND r.idx = quarantine_digests.idx \
             AND r.state = 'held')"
                .into(),
        )
        .await?;
        delete("DELETE FROM quarantine_digest_runs WHERE ran_at < ?1".into()).await?;
        tx.commit().await?;
        Ok((counts, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{Access, LinkFile, LinkMessage, LinkStore, NewLink, PortalEvent};
    use crate::model::sample_message;
    use crate::queue_id::QueueId;
    use crate::store::{MessageStore, QueueWrites};

    const DAY: i64 = 86_400;

    /// A message received at `at` with two recipients, finished at `done` (None: still queued).
    async fn seed_message(s: &SqliteStore, at: i64, done: Option<i64>) -> String {
        let mut m = sample_message(&QueueId::generate(), 10, 2);
        m.info.received_at = at;
        let id = m.info.id.clone();
        s.insert_messages(&[m]).await.unwrap();
        sqlx::query(
            "INSERT INTO attempts (message_id, idx, at, host, ip, port, reply, outcome) \
             VALUES (?, 0, ?, 'mx', '192.0.2.1', 25, '250 ok', 'delivered')",
        )
        .bind(&id)
        .bind(at)
        .execute(&mut *s.writer.lock().await.unwrap())
        .await
        .unwrap();
        if let Some(done) = done {
            sqlx::query("UPDATE recipients SET state = 'delivered' WHERE message_id = ?")
                .bind(&id)
                .execute(&mut *s.writer.lock().await.unwrap())
                .await
                .unwrap();
            sqlx::query("UPDATE messages SET done_at = ? WHERE id = ?")
                .bind(done)
                .bind(&id)
                .execute(&mut *s.writer.lock().await.unwrap())
                .await
                .unwrap();
        }
        id
    }

    /// Kept files for `id`, created at `at`, one link expiring at `expires`, files `purged`.
    async fn seed_links(s: &SqliteStore, id: &str, at: i64, expires: i64, purged: bool) {
        let file = LinkFile {
            idx: 0,
            file_id: "ab".repeat(16),
            key: "00".repeat(32),
            name: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 10,
            sha256: "cd".repeat(32),
            purged: false,
        };
        let m = LinkMessage {
            message_id: id.into(),
            sender: "alice@example.jp".into(),
            subject: "見積書".into(),
            header_from: String::new(),
            created_at: at,
            files: vec![file],
            original: None,
            password_hash: None,
        };
        s.put_link_message(&m).await.unwrap();
        let link = NewLink {
            message_id: id.into(),
            idx: 0,
            recipient: "bob@example.com".into(),
            token_hash: format!("token-{id}"),
            access: Access::Otp,
            created_at: at,
            expires_at: expires,
            max_downloads: 2,
            secret_hash: None,
            hint: None,
        };
        s.put_link(&link).await.unwrap();
        if purged {
            s.mark_purged(id, 0).await.unwrap();
        }
        let event = |event: &str| PortalEvent {
            at,
            message_id: id.into(),
            idx: Some(0),
            event: crate::LinkEvent::parse(event).expect("a link event"),
            client: "192.0.2.9".into(),
            user_agent: "test".into(),
            detail: String::new(),
        };
        s.record_event(&event("opened")).await.unwrap();
    }

    #[tokio::test]
    async fn only_what_finished_before_the_cutoff_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(SqliteStore::open(&dir.path().join("q.db")).await.unwrap());
        let control = crate::QueueControl::new(s.clone(), dir.path());
        let now = 1_000 * DAY;
        let cutoff = now - 90 * DAY;
        let old_done = seed_message(&s, cutoff - 10 * DAY, Some(cutoff - 9 * DAY)).await;
        let old_queued = seed_message(&s, cutoff - 10 * DAY, None).await;
        let recent_done = seed_message(&s, now - DAY, Some(now - DAY)).await;
        seed_links(&s, &old_done, cutoff - 10 * DAY, cutoff - 3 * DAY, true).await;
        seed_links(&s, &recent_done, now - DAY, now + 6 * DAY, false).await;
        // Old, expired, but its file is still on disk: kept until the file purge removes it.
        seed_links(&s, &old_queued, cutoff - 10 * DAY, cutoff - 3 * DAY, false).await;
        let body = dir.path().join("spool/msg");
        std::fs::create_dir_all(&body).unwrap();
        std::fs::write(body.join(&old_done), "left behind").unwrap();
        // Withheld originals: of the old finished message (kept long ago), of the old queued one
        // (still in the queue) and of the recent one. Their sealed files are on disk.
        let files = crate::files::FileStore::open(dir.path())
            .unwrap()
            .with_keys(crate::files::KeyRing::new(crate::files::StoreKey::generate()));
        let mut withheld = Vec::new();
        for (id, kept) in [(&old_done, cutoff - 9 * DAY), (&old_queued, cutoff - 9 * DAY), (&recent_done, now - DAY)] {
            let sealed = files.put(b"Sub AutoOpen()").unwrap();
            let mut o = crate::sqlite_originals::sample_original(id, 0, kept);
            o.file_id = sealed.id;
            crate::originals::OriginalStore::put_withheld(s.as_ref(), &[o.clone()]).await.unwrap();
            withheld.push(o);
        }

        let counts = control.purge(cutoff).await.unwrap();
        assert_eq!(
            counts,
            PurgeCounts {
                messages: 1,
                recipients: 2,
                attempts: 1,
                bodies: 1,
                link_messages: 1,
                links: 1,
                audit_events: 2,
                originals: 1,
            }
        );
        let left = crate::originals::OriginalStore::withheld(s.as_ref(), None).await.unwrap();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|o| o.message_id != old_done), "the old finished message's original is gone");
        assert!(!dir.path().join("files").join(&withheld[0].file_id).exists(), "with its sealed file");
        assert!(dir.path().join("files").join(&withheld[1].file_id).exists(), "a queued message keeps its own");
        assert!(dir.path().join("files").join(&withheld[2].file_id).exists());
        assert!(s.message(&old_done).await.unwrap().is_none());
        assert!(!body.join(&old_done).exists());
        assert!(s.link_message(&old_done).await.unwrap().is_none());
        assert!(s.link(&old_done, 0).await.unwrap().is_none());
        let queued = s.message(&old_queued).await.unwrap().unwrap();
        assert_eq!(queued.attempts.len(), 1, "a message still queued keeps its history, however old");
        assert!(s.link_message(&old_queued).await.unwrap().is_some(), "unpurged files keep their record");
        assert!(s.events(&old_queued).await.unwrap().is_empty(), "old audit rows go");
        let recent = s.message(&recent_done).await.unwrap().unwrap();
        assert_eq!(recent.attempts.len(), 1);
        assert_eq!(s.events(&recent_done).await.unwrap().len(), 1);
        assert!(s.link(&recent_done, 0).await.unwrap().is_some());

        assert_eq!(control.purge(cutoff).await.unwrap(), PurgeCounts::default(), "nothing twice");
    }
}
