//! Store errors, split so the SMTP server can answer 452 for a full disk and 451 otherwise.

use std::path::{Path, PathBuf};

/// A failure of the spool or the queue database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system is full (or the configured free-space floor was hit).
    #[error("insufficient storage: {0}")]
    StorageFull(String),
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    /// The database failed.
    #[error("queue database: {0}")]
    Database(#[from] sqlx::Error),
    /// Another sekisho process holds the data directory.
    #[error("data directory {} is in use by another sekisho process", .0.display())]
    Locked(PathBuf),
    /// A committed message's body is in no store this node reaches, or not whole there.
    #[error("the body of message {id} {why}")]
    BodyUnavailable {
        /// The message's queue ID.
        id: String,
        /// What was found instead.
        why: String,
    },
    /// The committer task is gone (shutting down).
    #[error("the queue is shutting down")]
    Closed,
    /// A kept file's key does not open (no store key, another store key, altered).
    #[error("file key: {0}")]
    FileKey(#[from] crate::files::KeyError),
    /// The database was migrated by a newer version of sekisho than this one.
    #[error(
        "the queue database was written by a newer sekisho (schema version {found}; this version knows versions up \
         to {known}): run that version or a newer one, or restore the backup taken before the upgrade"
    )]
    SchemaTooNew {
        /// The schema version found in the database.
        found: i64,
        /// The newest schema version this build knows.
        known: usize,
    },
    /// Another node serving from the same PostgreSQL database already goes by this node's name
    /// (`hostname`): their claims would be taken for one node's, and each one's start-up
    /// recovery would release the other's live claims.
    #[error(
        "another sekisho node serving from this database is already named {0:?} (its `hostname`): each node \
         sharing a database needs its own `hostname` in sekisho.toml"
    )]
    NodeNameInUse(String),
    /// The object storage of `[store.objects]` failed (or could not be reached).
    #[error("object storage: cannot {action} {key}: {source}")]
    ObjectStorage {
        /// What was being done (`store`, `fetch`, `list`, `remove`, ...).
        action: &'static str,
        /// The object's key, or the prefix listed.
        key: String,
        /// What the object storage (or its client) said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be read back.
    #[error("damaged record {0}")]
    Damaged(String),
}

impl StoreError {
    /// An I/O error, classified as `StorageFull` when the disk is full.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::StorageFull || source.raw_os_error() == Some(28) {
            return StoreError::StorageFull(format!("cannot {action} {}: {source}", path.display()));
        }
        StoreError::Io { action, path: path.to_path_buf(), source }
    }

    /// True when the failure is a lack of storage (SMTP 452 4.3.1 rather than 451 4.3.0).
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::StorageFull(_) => true,
            StoreError::Database(sqlx::Error::Database(e)) => e.message().contains("full"),
            _ => false,
        }
    }
}
