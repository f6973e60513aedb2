//! The administrator's door to the queue (`sekisho queue ...`, the hourly retention): hold,
//! release, retry, delete and purge. It writes recipient state only through the moves of
//! [`crate::state`], as [`crate::Queue`] does, and needs no lock on the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bodies::Bodies;
use crate::error::StoreError;
use crate::purge::PurgeCounts;
use crate::queue_id::QueueId;
use crate::state::Move;
use crate::store::{Backend, Opened};

/// Queue administration over one data directory.
#[derive(Clone)]
pub struct QueueControl {
    pub(crate) store: Arc<dyn Backend>,
    data_dir: PathBuf,
    /// Where the committed bodies are: this node's spool, and the shared store on PostgreSQL.
    pub(crate) bodies: Bodies,
    /// The shared objects (PostgreSQL): a purged file's object goes with it.
    objects: Option<Arc<dyn crate::objects::ObjectStore>>,
}

/// What an administrator can ask of a message's recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Held: not delivered until released; recipients under delivery are held too (an attempt
    /// that fails leaves them held, one that succeeds cannot be taken back).
    Hold,
    /// Held recipients become due now.
    Release,
    /// Queued recipients become due now.
    Retry,
}

impl QueueControl {
    /// The door over a backend whose bodies are in the data directory alone.
    #[cfg(test)]
    pub(crate) fn new(store: Arc<dyn Backend>, data_dir: &Path) -> QueueControl {
        Self::of(&Opened { backend: store, objects: None, objects_in_rows: false }, data_dir)
    }

    /// The door over a backend as opened, sharing bodies through its objects when it has them;
    /// a purged file's object goes with it.
    pub(crate) fn of(opened: &Opened, data_dir: &Path) -> QueueControl {
        let store = opened.backend.clone();
        let bodies = Bodies::new(data_dir, store.clone(), opened.objects.clone(), opened.objects_in_rows);
        QueueControl { store, data_dir: data_dir.to_path_buf(), bodies, objects: opened.objects.clone() }
    }

    /// Applies `command` to the recipients of message `id` (of every message with `None`) at
    /// `now`; returns how many recipients moved.
    pub async fn apply(&self, id: Option<&str>, command: Command, now: i64) -> Result<u64, StoreError> {
        let (m, due) = match command {
            Command::Hold => (Move::Hold, None),
            Command::Release => (Move::Release, Some(now)),
            Command::Retry => (Move::Retry, Some(now)),
        };
        self.store.apply_move(id, m, due).await
    }

    /// Cancels a message a rule holds (or any message whose recipients are all still queued
    /// or held): it is never delivered, and `by` and `now` are recorded for its trace. False
    /// when it was no longer cancellable (its delivery began, it finished, no such message).
    pub async fn cancel(&self, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
        self.store.cancel(id, by, now).await
    }

    /// Removes a message, its recipients and its body (this node's copy, and the shared one on
    /// PostgreSQL); false when there was no such message.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let found = self.store.delete_message(id).await?;
        self.remove_body(found, id).await;
        Ok(found)
    }

    /// Deletes message `id` and its body only while every recipient is held; false otherwise.
    pub async fn delete_held(&self, id: &str) -> Result<bool, StoreError> {
        let found = self.store.delete_held_message(id).await?;
        self.remove_body(found, id).await;
        Ok(found)
    }

    async fn remove_body(&self, found: bool, id: &str) {
        if found {
            self.bodies.remove(&[id.to_string()]).await;
        }
    }

    /// Queues a message sekisho writes itself (as `Queue::inject`) without the running
    /// server's committer: the body is written, fsynced and renamed into the spool, then its
    /// record inserted, so the CLI can queue one beside `sekisho serve`, which delivers it at
    /// its next scan.
    pub async fn inject(&self, id: &QueueId, hostname: &str, to: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.inject_with(id, hostname, to, bytes, None).await
    }

    /// Like `inject`, with what sekisho itself asks of the transport for this message: its
    /// TLS-RPT report mail carries `TLS-Required: No` and is queued with
    /// `SenderTls::NotRequired` (RFC 8460 §3: reports must arrive where TLS fails).
    pub async fn inject_with(
        &self,
        id: &QueueId,
        hostname: &str,
        to: &str,
        bytes: &[u8],
        sender_tls: Option<sekisho_policy::SenderTls>,
    ) -> Result<(), StoreError> {
        let spool = crate::spool::Spool::open(&self.data_dir)?;
        let mut body = spool.create(id).await?;
        body.write(bytes).await?;
        let finished = body.finish().await?;
        let tls = crate::model::LocalTls { required: None, asked: sender_tls };
        let message = crate::model::local_message(id, hostname, to, bytes, finished.size(), None, tls);
        if let Err(e) = self.bodies.share(&finished).await {
            finished.discard();
            return Err(e);
        }
        if let Some(Err(e)) = spool.publish(&[&finished]).into_iter().next() {
            finished.discard();
            return Err(e);
        }
        if let Err(e) = self.store.insert_messages(&[message]).await {
            spool.remove(id.as_str());
            return Err(e);
        }
        Ok(())
    }

    /// The local path of committed message `id`'s body, for reading it: the one door every
    /// reader goes through. On SQLite it is the spool's file. On PostgreSQL this node's copy
    /// when it has one, otherwise the shared copy fetched first (and checked against the
    /// recorded size); [`StoreError::BodyUnavailable`] when there is none, or not whole.
    pub async fn local_body(&self, id: &str) -> Result<PathBuf, StoreError> {
        self.bodies.local(id).await
    }

    /// The first `max` bytes of committed message `id`'s body, for readers of its header (the
    /// quarantine's pages, the digest): through the same door as [`QueueControl::local_body`],
    /// but on PostgreSQL a node without a copy reads only the beginning of the shared one.
    pub async fn body_head(&self, id: &str, max: usize) -> Result<Vec<u8>, StoreError> {
        self.bodies.head(id, max).await
    }

    /// Purges what is older than `before` (unix seconds) from the store, and the bodies of
    /// the messages removed. `serve` runs it hourly with `[store] retention`;
    /// `sekisho queue purge` on demand.
    pub async fn purge(&self, before: i64) -> Result<PurgeCounts, StoreError> {
        let files = crate::files::FileStore::open(&self.data_dir)?.with_objects(self.objects.clone());
        let originals = crate::originals::purge_withheld(self.store.as_ref(), &files, before).await?;
        let (mut counts, ids) = self.store.purge_finished(before).await?;
        counts.originals = originals;
        counts.bodies = self.bodies.remove(&ids).await;
        // Fetches abandoned midway by a process that stopped; one under way is far younger.
        let stale =
            std::time::SystemTime::now() - std::time::Duration::from_secs(crate::bodies::UNCOMMITTED_GRACE as u64);
        for dir in [self.data_dir.join("files"), self.data_dir.join("spool/msg")] {
            crate::objects::remove_partial_fetches(&dir, Some(stale));
        }
        Ok(counts)
    }

    /// On PostgreSQL, removes the bodies no queued message needs any more (see
    /// `Bodies::sweep`): shared objects of messages finished, deleted or never committed, and
    /// this node's cached copies of them, once older than an hour. Nothing on SQLite, where a
    /// body goes with its message. Returns (local copies, shared objects) removed.
    pub async fn sweep_bodies(&self) -> Result<(u64, u64), StoreError> {
        if self.bodies.shared().is_none() {
            return Ok((0, 0));
        }
        let queued = self.store.message_sizes().await?.into_iter().map(|(id, _, _)| id).collect();
        // Local copies by this node's clock (its own files); shared objects by the database's.
        let swept = self.bodies.sweep(&queued, crate::sqlite::now() - crate::bodies::UNCOMMITTED_GRACE).await?;
        Ok((swept.local, swept.shared))
    }

    /// On PostgreSQL, removes the shared objects of kept files no row names once an hour old
    /// (`FileStore::sweep_unnamed`: a node stopped between storing a file and committing its
    /// link). Nothing on SQLite. Returns how many were removed; `serve` runs it hourly with
    /// [`QueueControl::sweep_bodies`].
    pub async fn sweep_unnamed_files(&self) -> Result<u64, StoreError> {
        if self.objects.is_none() {
            return Ok(0);
        }
        let files = crate::files::FileStore::open(&self.data_dir)?.with_objects(self.objects.clone());
        files.sweep_unnamed(self.store.as_ref()).await
    }
}

impl QueueControl {
    /// Stores a mailed cancel link for message `id`: `token`'s hash, working until
    /// `expires_at` (when the message leaves its hold).
    pub async fn put_cancel_link(&self, token: &str, id: &str, expires_at: i64) -> Result<(), StoreError> {
        self.store.put_cancel_link(&crate::links::token_hash(token), id, expires_at).await
    }

    /// Uses a mailed cancel link at `now`: its message is cancelled (by "link:SENDER") and the
    /// link used up, or nothing happens and the answer says why.
    pub async fn cancel_by_link(&self, token: &str, now: i64) -> Result<crate::ByLink, StoreError> {
        self.store.cancel_by_link(&crate::links::token_hash(token), now).await
    }
}
