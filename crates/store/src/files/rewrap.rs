//! Bringing every kept file's key under the current store key, in one transaction: at start
//! (keys from before wrapping, stored in plain, are wrapped) and by `sekisho key rotate`
//! (keys wrapped by the old store key are rewrapped by the new one).

use super::keyring::{KeyError, KeyRing, StoredKey};
use crate::error::StoreError;
use crate::links::LinkStore;

/// A kept (not purged) file's key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKeyRow {
    pub message_id: String,
    /// The file's position among the message's files.
    pub idx: i64,
    /// The file's name in the file store (what its wrapped key is bound to).
    pub file_id: String,
    /// The stored key (plain hex from before wrapping, or wrapped).
    pub key: String,
    /// A withheld original's key (`withheld_originals`), not a kept file's (`link_files`).
    pub original: bool,
}

/// One stored key to replace, only if it still is `old`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKeyChange {
    pub message_id: String,
    pub idx: i64,
    pub old: String,
    pub new: String,
    /// See [`FileKeyRow::original`].
    pub original: bool,
}

/// What [`wrap_file_keys`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Keys stored in plain (from before wrapping), now wrapped.
    pub wrapped_plain: usize,
    /// Keys wrapped by an earlier store key, now by the current one.
    pub rewrapped: usize,
    /// Keys already under the current store key.
    pub unchanged: usize,
    /// Keys that do not open with the store key of their id (altered), left as they are:
    /// (message ID, file index).
    pub damaged: Vec<(String, i64)>,
}

/// Wraps every kept file's key with the ring's current store key, in one transaction. Fails,
/// changing nothing, when a key is wrapped by a store key the ring does not hold
/// ([`KeyError::UnknownStoreKey`]: the configured key is not the one the data was written
/// with).
pub async fn wrap_file_keys(store: &dyn LinkStore, ring: &KeyRing) -> Result<Rewrapped, StoreError> {
    let mut done = Rewrapped::default();
    let mut changes = Vec::new();
    for row in store.file_keys().await? {
        let plain = matches!(StoredKey::parse(&row.key), Some(StoredKey::Plain(_)));
        match ring.rewrap(&row.file_id, &row.key) {
            Ok(None) => done.unchanged += 1,
            Ok(Some(new)) => {
                if plain {
                    done.wrapped_plain += 1;
                } else {
                    done.rewrapped += 1;
                }
                changes.push(FileKeyChange {
                    message_id: row.message_id,
                    idx: row.idx,
                    old: row.key,
                    new,
                    original: row.original,
                });
            }
            Err(e @ KeyError::UnknownStoreKey { .. }) => return Err(StoreError::FileKey(e)),
            Err(_) => done.damaged.push((row.message_id, row.idx)),
        }
    }
    if !changes.is_empty() {
        store.replace_file_keys(&changes).await?;
    }
    Ok(done)
}
