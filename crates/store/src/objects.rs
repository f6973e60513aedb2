//! Bytes every node must reach: message bodies and sealed portal files. With the SQLite backend
//! they live in the data directory only; with PostgreSQL they are also kept in the database
//! ([`ObjectStore`], `postgres/objects.rs`), so that any node can deliver any message and serve
//! any link. A node's own files are then a cache of what the database holds.

use std::path::Path;

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
}

/// Bytes stored where every node sharing the database reaches them.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores the file at `path` as (`kind`, `id`), replacing an earlier copy; durable in the
    /// shared store when it returns. Returns the bytes stored.
    async fn put_object(&self, kind: ObjectKind, id: &str, path: &Path) -> Result<u64, StoreError>;

    /// Writes the object to `dest` (a new file, mode 0600, complete before it appears under that
    /// name: written beside it, then renamed). `Ok(false)` when there is no such object.
    async fn fetch_object(&self, kind: ObjectKind, id: &str, dest: &Path) -> Result<bool, StoreError>;

    /// Removes these objects; returns how many there were.
    async fn remove_objects(&self, kind: ObjectKind, ids: &[String]) -> Result<u64, StoreError>;

    /// The ids of every object of `kind` (for recovery and migration).
    async fn object_ids(&self, kind: ObjectKind) -> Result<Vec<String>, StoreError>;

    /// Every object of `kind` with its size and when it was stored (for recovery and the
    /// sweep of objects nothing refers to).
    async fn stored_objects(&self, kind: ObjectKind) -> Result<Vec<StoredObject>, StoreError>;
}

/// One object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its id (a queue ID for a body).
    pub id: String,
    /// Its bytes.
    pub size: u64,
    /// When it was stored (Unix seconds, by the clock of the node that stored it).
    pub stored_at: i64,
}
