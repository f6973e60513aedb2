//! Committed message bodies: where a node finds one, and where it is kept.
//!
//! On SQLite a body lives in the data directory's `spool/msg` alone. On PostgreSQL it is also
//! stored as an object ([`ObjectKind::Body`]) before its message's rows are committed, and a
//! node's `spool/msg` is a cache of those objects: [`Bodies::local`] is the one door through
//! which every reader gets a body's local path, fetching it first when this node has no copy.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::objects::{ObjectKind, ObjectStore};
use crate::spool::FinishedBody;
use crate::store::Backend;

/// How long an object stored without a queued message, or a cached body without one, is left
/// alone: far longer than any node takes from storing a body to committing its message, so a
/// sweep never removes one another node is still committing.
pub(crate) const UNCOMMITTED_GRACE: i64 = 60 * 60;

/// The bodies of one node: its spool, and on PostgreSQL the objects every node shares.
#[derive(Clone)]
pub(crate) struct Bodies {
    /// `spool/msg` of the data directory.
    msg: PathBuf,
    store: Arc<dyn Backend>,
    /// `None` on SQLite: the spool is the only copy.
    shared: Option<Arc<dyn ObjectStore>>,
    /// The shared objects are rows of `store` (PostgreSQL without object storage): a received
    /// body of at most [`WITH_ROWS_MAX`] is committed with its message ([`Bodies::prepare`]).
    in_rows: bool,
}

/// The largest received body committed in its message's transaction rather than stored before
/// it: the committer holds a batch's bodies in memory (at most `group_commit_max` of them).
pub(crate) const WITH_ROWS_MAX: u64 = 64 << 10;

/// What a sweep of bodies no queued message needs removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Files of this node's spool.
    pub(crate) local: u64,
    /// Objects in the shared store.
    pub(crate) shared: u64,
}

impl Bodies {
    pub(crate) fn new(
        data_dir: &Path,
        store: Arc<dyn Backend>,
        shared: Option<Arc<dyn ObjectStore>>,
        in_rows: bool,
    ) -> Bodies {
        Bodies { msg: data_dir.join("spool/msg"), store, shared, in_rows }
    }

    /// Where this node keeps (or would keep) the body of message `id`.
    pub(crate) fn path(&self, id: &str) -> PathBuf {
        self.msg.join(id)
    }

    /// Whether bodies are shared with other nodes (PostgreSQL).
    pub(crate) fn shared(&self) -> Option<&dyn ObjectStore> {
        self.shared.as_deref()
    }

    /// The local path of committed message `id`'s body. On SQLite, the spool's path as it is.
    /// On PostgreSQL, when this node has no copy, the shared one is fetched first (written
    /// beside, then renamed) and must have the size the queue recorded; a body found nowhere,
    /// or at another size, is [`StoreError::BodyUnavailable`].
    pub(crate) async fn local(&self, id: &str) -> Result<PathBuf, StoreError> {
        if !file_name(id) {
            return Err(unavailable(id, "cannot be: that is no queue ID"));
        }
        let path = self.msg.join(id);
        let Some(shared) = &self.shared else { return Ok(path) };
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        let size = match self.store.message_without_history(id).await? {
            Some(d) => d.info.size,
            None => return Err(unavailable(id, "is not kept: no such message in the queue")),
        };
        crate::private::create_dir_all(&self.msg).map_err(|e| StoreError::io("create", &self.msg, e))?;
        if !shared.fetch_object(ObjectKind::Body, id, &path).await? {
            return Err(unavailable(id, "is missing from the shared store"));
        }
        let len = tokio::fs::metadata(&path).await.map_err(|e| StoreError::io("read", &path, e))?.len();
        if len != size {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(unavailable(id, &format!("has {len} bytes in the shared store, the queue recorded {size}")));
        }
        tracing::debug!(queue_id = id, bytes = len, "body fetched from the shared store");
        Ok(path)
    }

    /// The first `max` bytes of committed message `id`'s body (fewer when it is shorter), for
    /// readers of its header: this node's copy when it has one, else only the beginning of the
    /// shared copy (its first part), never fetching the whole body; with a shared store that
    /// does not read part of an object, the whole body through [`Bodies::local`].
    pub(crate) async fn head(&self, id: &str, max: usize) -> Result<Vec<u8>, StoreError> {
        if !file_name(id) {
            return Err(unavailable(id, "cannot be: that is no queue ID"));
        }
        let path = self.msg.join(id);
        if let Some(shared) = &self.shared
            && !tokio::fs::try_exists(&path).await.unwrap_or(false)
            && let Some(head) = shared.head_object(ObjectKind::Body, id, max).await?
        {
            return Ok(head);
        }
        let path = self.local(id).await?;
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut head = Vec::new();
            std::fs::File::open(&path)
                .and_then(|f| f.take(max as u64).read_to_end(&mut head))
                .map_err(|e| StoreError::io("read", &path, e))?;
            Ok(head)
        })
        .await
        .map_err(|e| StoreError::io("read", Path::new(id), std::io::Error::other(e)))?
    }

    /// Stores a finished body where every node reaches it, before its message is committed
    /// (PostgreSQL); nothing on SQLite.
    pub(crate) async fn share(&self, body: &FinishedBody) -> Result<(), StoreError> {
        let Some(shared) = &self.shared else { return Ok(()) };
        let stored = shared.put_object(ObjectKind::Body, body.id.as_str(), &body.tmp_path).await?;
        if stored != body.size {
            return Err(StoreError::Damaged(format!(
                "body of message {}: {stored} bytes stored, {} written",
                body.id, body.size
            )));
        }
        Ok(())
    }

    /// Readies a received body for its commit: where the shared objects are the database's own
    /// rows, a body of at most [`WITH_ROWS_MAX`] is read to be stored in its message's
    /// transaction (`Some`: one commit makes both durable); any other body is shared now, as
    /// [`Bodies::share`] does (`None`).
    pub(crate) async fn prepare(&self, body: &FinishedBody) -> Result<Option<Vec<u8>>, StoreError> {
        if !(self.in_rows && body.size <= WITH_ROWS_MAX) {
            return self.share(body).await.map(|()| None);
        }
        let bytes = match body.kept() {
            Some(kept) => kept.to_vec(),
            None => tokio::fs::read(&body.tmp_path).await.map_err(|e| StoreError::io("read", &body.tmp_path, e))?,
        };
        if bytes.len() as u64 != body.size {
            return Err(StoreError::Damaged(format!(
                "body of message {}: {} bytes read, {} written",
                body.id,
                bytes.len(),
                body.size
            )));
        }
        Ok(Some(bytes))
    }

    /// Removes the bodies of messages that left the queue: this node's copies, and the shared
    /// ones (a failure there is logged; the sweep removes them later). Returns how many local
    /// files were removed.
    pub(crate) async fn remove(&self, ids: &[String]) -> u64 {
        // On a blocking thread: an unlink may wait for the device (a file system mounted with
        // `discard` trims the freed blocks before it returns).
        let local = {
            let (bodies, ids) = (self.clone(), ids.to_vec());
            tokio::task::spawn_blocking(move || bodies.remove_local(&ids)).await.unwrap_or(0)
        };
        if let Some(shared) = &self.shared
            && let Err(e) = shared.remove_objects(ObjectKind::Body, ids).await
        {
            tracing::warn!(error = %e, messages = ids.len(), "cannot remove finished bodies from the shared store yet");
        }
        local
    }

    /// Removes this node's copies of these bodies; returns how many there were.
    pub(crate) fn remove_local(&self, ids: &[String]) -> u64 {
        ids.iter().filter(|id| file_name(id) && std::fs::remove_file(self.msg.join(id)).is_ok()).count() as u64
    }

    /// On PostgreSQL, removes what no queued message needs: objects stored more than
    /// [`UNCOMMITTED_GRACE`] ago by the database's clock whose message is not in `queued`
    /// (finished, deleted, or never committed: a crash between storing and committing), and
    /// this node's cached copies not in `queued` last written before `local_before`.
    pub(crate) async fn sweep(&self, queued: &HashSet<String>, local_before: i64) -> Result<Swept, StoreError> {
        let Some(shared) = &self.shared else { return Ok(Swept::default()) };
        let mut swept = Swept::default();
        let old: Vec<String> = shared
            .objects_older_than(ObjectKind::Body, UNCOMMITTED_GRACE)
            .await?
            .into_iter()
            .filter(|id| !queued.contains(id))
            .collect();
        if !old.is_empty() {
            swept.shared = shared.remove_objects(ObjectKind::Body, &old).await?;
        }
        for entry in std::fs::read_dir(&self.msg).map_err(|e| StoreError::io("list", &self.msg, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            let written = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            let written = written.map_or(i64::MAX, |d| d.as_secs() as i64);
            if meta.is_file()
                && !queued.contains(&name)
                && written < local_before
                && std::fs::remove_file(entry.path()).is_ok()
            {
                swept.local += 1;
            }
        }
        Ok(swept)
    }
}

/// Whether `id` names a file of the spool and nothing else: IDs come from the store and from
/// people (the commands, the portal's addresses), and are never used as paths unchecked.
fn file_name(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\0'])
}

fn unavailable(id: &str, why: &str) -> StoreError {
    StoreError::BodyUnavailable { id: id.to_string(), why: why.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue_id::QueueId;

    #[tokio::test]
    async fn on_sqlite_the_door_is_the_spool_and_never_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::SqliteStore::open(&dir.path().join("q.db")).await.unwrap());
        let bodies = Bodies::new(dir.path(), store, None, false);
        let id = QueueId::generate();
        // The spool's path as it is, without looking at the store or the file.
        assert_eq!(bodies.local(id.as_str()).await.unwrap(), dir.path().join("spool/msg").join(id.as_str()));
        for bad in ["", "../queue.db", ".hidden", "a/b", "nul\0"] {
            assert!(matches!(bodies.local(bad).await, Err(StoreError::BodyUnavailable { .. })), "{bad:?}");
        }
        // Nothing is shared, so nothing is swept but by recovery.
        std::fs::create_dir_all(dir.path().join("spool/msg")).unwrap();
        std::fs::write(bodies.path("orphan"), b"x").unwrap();
        assert_eq!(bodies.sweep(&HashSet::new(), i64::MAX).await.unwrap(), Swept::default());
        assert!(bodies.path("orphan").exists());
        // A header's reader gets the beginning of the spooled file, or the spool's error.
        std::fs::write(bodies.path(id.as_str()), b"Subject: x\r\n\r\nbody\r\n").unwrap();
        assert_eq!(bodies.head(id.as_str(), 13).await.unwrap(), b"Subject: x\r\n\r");
        assert_eq!(bodies.head(id.as_str(), 1 << 16).await.unwrap(), b"Subject: x\r\n\r\nbody\r\n");
        assert!(bodies.head(QueueId::generate().as_str(), 10).await.is_err(), "not spooled");
        assert!(matches!(bodies.head("../q.db", 10).await, Err(StoreError::BodyUnavailable { .. })));
        assert_eq!(bodies.remove_local(&["orphan".into(), "../q.db".into()]), 1);
        assert!(dir.path().join("q.db").exists());
    }
}
