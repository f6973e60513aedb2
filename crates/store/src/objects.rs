//! Bytes every node must reach: message bodies and sealed portal files. With the SQLite backend
//! they live in the data directory only; with PostgreSQL they are also kept in the database
//! ([`ObjectStore`], `postgres/objects.rs`), or in S3-compatible object storage when
//! `[store.objects]` is set (the `sekisho-objects-s3` crate, handed in as [`External`]), so that
//! any node can deliver any message and serve any link. A node's own files are then a cache of
//! what the shared store holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use crate::error::StoreError;

/// What an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A message body as spooled (`spool/msg/<queue id>`).
    Body,
    /// A sealed portal file as stored (`files/<id>`): already encrypted, never plaintext.
    File,
}

impl ObjectKind {
    /// Its code in the database.
    pub(crate) fn code(self) -> i16 {
        match self {
            ObjectKind::Body => 1,
            ObjectKind::File => 2,
        }
    }

    /// Its name in an object store's keys (`<prefix>/body/<id>`, `<prefix>/file/<id>`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectKind::Body => "body",
            ObjectKind::File => "file",
        }
    }
}

/// An object store other than the database (`[store.objects]`): with it, bodies and sealed
/// files go there and never into PostgreSQL's `objects` table.
#[derive(Clone)]
pub struct External(pub Arc<dyn ObjectStore>);

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("External(..)")
    }
}

impl PartialEq for External {
    fn eq(&self, other: &External) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for External {}

/// Bytes stored where every node sharing the database reaches them.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores the file at `path` as (`kind`, `id`), replacing an earlier copy; durable in the
    /// shared store when it returns. Returns the bytes stored.
    async fn put_object(&self, kind: ObjectKind, id: &str, path: &Path) -> Result<u64, StoreError>;

    /// Writes the object to `dest` (a new file, mode 0600, complete before it appears under that
    /// name: written beside it, then renamed). `Ok(false)` when there is no such object.
    async fn fetch_object(&self, kind: ObjectKind, id: &str, dest: &Path) -> Result<bool, StoreError>;

    /// The first `max` bytes of the object (all of it when shorter), for readers that need only
    /// its beginning (a message's header); a store may give fewer bytes than `max` when `max`
    /// is large (PostgreSQL: no more than its first part, 1 MiB). `Ok(None)` when there is no
    /// such object, or when this store does not read part of an object: the default, with which
    /// callers fetch the whole object instead ([`ObjectStore::fetch_object`]).
    async fn head_object(&self, kind: ObjectKind, id: &str, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = (kind, id, max);
        Ok(None)
    }

    /// Removes these objects; returns how many there were (object storage, which does not say
    /// whether a key it deleted existed, counts every id it removed).
    async fn remove_objects(&self, kind: ObjectKind, ids: &[String]) -> Result<u64, StoreError>;

    /// The ids of every object of `kind` (for recovery and migration).
    async fn object_ids(&self, kind: ObjectKind) -> Result<Vec<String>, StoreError>;

    /// Every object of `kind` with its size and when it was stored (for recovery and the
    /// sweep of objects nothing refers to).
    async fn stored_objects(&self, kind: ObjectKind) -> Result<Vec<StoredObject>, StoreError>;

    /// The ids of the objects of `kind` stored more than `seconds` ago, judged by the shared
    /// store's own clock (never a node's, which may be off): what a sweep may consider.
    async fn objects_older_than(&self, kind: ObjectKind, seconds: i64) -> Result<Vec<String>, StoreError>;
}

/// One object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its id (a queue ID for a body).
    pub id: String,
    /// Its bytes.
    pub size: u64,
    /// When it was stored (Unix seconds, by the shared store's clock: the database's, or the
    /// object storage's `Last-Modified`).
    pub stored_at: i64,
}

/// A file being fetched beside its destination (`.<name>.<random>.fetch`): removed when dropped,
/// so a fetch that fails or is abandoned midway leaves nothing behind (once renamed into place
/// there is nothing left to remove). Every [`ObjectStore`] fetches through one.
pub struct PartialFetch(pub(crate) PathBuf);

impl PartialFetch {
    /// A partial fetch for `dest`, named beside it (nothing is created yet).
    pub fn beside(dest: &Path) -> PartialFetch {
        PartialFetch(dest.with_file_name(format!(
            ".{}.{:08x}.fetch",
            dest.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            rand::random::<u32>()
        )))
    }

    /// Where it is written.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Creates it: a new file, mode 0600.
    pub fn create(&self) -> Result<tokio::fs::File, StoreError> {
        let created = crate::private::create_new_file(&self.0).map_err(|e| StoreError::io("create", &self.0, e))?;
        Ok(tokio::fs::File::from_std(created))
    }

    /// Makes the written file durable and renames it to `dest`.
    pub async fn finish(self, mut file: tokio::fs::File, dest: &Path) -> Result<(), StoreError> {
        use tokio::io::AsyncWriteExt;
        file.flush().await.map_err(|e| StoreError::io("write", &self.0, e))?;
        file.sync_all().await.map_err(|e| StoreError::io("fsync", &self.0, e))?;
        drop(file);
        tokio::fs::rename(&self.0, dest).await.map_err(|e| StoreError::io("rename", dest, e))
    }
}

impl Drop for PartialFetch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes the partial fetches (`.*.fetch`) in `dir` last written before `before` (every one
/// when `None`): left by a node that stopped midway. Returns how many were removed.
pub(crate) fn remove_partial_fetches(dir: &Path, before: Option<SystemTime>) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".fetch")) {
            continue;
        }
        let stale = match before {
            None => true,
            Some(before) => entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < before),
        };
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_fetches_are_removed_when_abandoned_or_stale() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".abc.0000002a.fetch");
        std::fs::write(&tmp, b"half").unwrap();
        drop(PartialFetch(tmp.clone()));
        assert!(!tmp.exists(), "an abandoned fetch leaves nothing");

        let (old, new, body) =
            (dir.path().join(".old.00000001.fetch"), dir.path().join(".new.00000002.fetch"), dir.path().join("abc"));
        for p in [&old, &new, &body] {
            std::fs::write(p, b"x").unwrap();
        }
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(hour_ago).unwrap();
        let cutoff = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(remove_partial_fetches(dir.path(), Some(cutoff)), 1);
        assert!(!old.exists() && new.exists() && body.exists(), "a fetch under way stays");
        assert_eq!(remove_partial_fetches(dir.path(), None), 1);
        assert!(!new.exists() && body.exists(), "at start every one goes; bodies stay");
    }
}
