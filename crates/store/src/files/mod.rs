//! The file store: attachments kept for download, each sealed with a key of its own
//! (AES-256-GCM, see [`sealed`]). That key lives in the database only wrapped by the store key
//! ([`keyring`]), which is kept outside the data directory: a copy of the files, or of the
//! whole data directory, reveals nothing without it. Written like spool bodies: temp file
//! (mode 0600), fsync, rename, directory fsync.

pub mod keyfile;
pub mod keyring;
pub mod rewrap;
pub mod sealed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::spool::sync_dir;
pub use keyfile::{KeyFileError, create_key_file, read_key_file};
pub use keyring::{KeyError, KeyMaterialError, KeyRing, StoreKey, StoredKey};
pub use rewrap::{FileKeyChange, FileKeyRow, Rewrapped, wrap_file_keys};
pub use sealed::{FileKey, Unsealer};

/// A file as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its name in the store (random, 128 bits, hex).
    pub id: String,
    /// Its key, wrapped by the store key: what the database keeps.
    pub key: String,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
}

/// Sealed files under `<data>/files/`.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    tmp: PathBuf,
    /// The store key; without one, files can be removed but neither stored nor read.
    keys: Option<Arc<KeyRing>>,
}

impl FileStore {
    /// Creates `<data_dir>/files` (and its `tmp`, mode 0700) if needed, without a store key:
    /// enough to remove files ([`purge_expired_files`]); [`FileStore::with_keys`] to store
    /// and read them.
    pub fn open(data_dir: &Path) -> Result<FileStore, StoreError> {
        let dir = data_dir.join("files");
        let tmp = dir.join("tmp");
        crate::private::create_dir_all(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
        Ok(FileStore { dir, tmp, keys: None })
    }

    /// The same store with `keys`: new files' keys are wrapped by its current key, stored
    /// keys are unwrapped by the key of their id.
    pub fn with_keys(self, keys: KeyRing) -> FileStore {
        FileStore { keys: Some(Arc::new(keys)), ..self }
    }

    fn keys(&self) -> Result<&KeyRing, StoreError> {
        self.keys.as_deref().ok_or(StoreError::FileKey(KeyError::NoStoreKey))
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| self.dir.join(id))
    }

    /// Seals and stores `plain` durably under a new key (blocking: call it off the runtime).
    pub fn put(&self, plain: &[u8]) -> Result<StoredFile, StoreError> {
        self.put_from(plain)
    }

    /// [`FileStore::put`] for a plaintext read a segment at a time (blocking).
    pub fn put_from(&self, plain: impl std::io::Read) -> Result<StoredFile, StoreError> {
        let keys = self.keys()?;
        let id = sealed::hex(&rand::random::<[u8; 16]>());
        let key = FileKey::generate();
        let tmp = self.tmp.join(&id);
        let write = || -> std::io::Result<(u64, String)> {
            let mut f = std::io::BufWriter::new(crate::private::create_new_file(&tmp)?);
            let sealed = sealed::seal_from(&key, plain, &mut f)?;
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_data()?;
            Ok(sealed)
        };
        let (size, sha256) = write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::io("write", &tmp, e)
        })?;
        let path = self.dir.join(&id);
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::io("rename", &path, e)
        })?;
        sync_dir(&self.dir).map_err(|e| StoreError::io("fsync", &self.dir, e))?;
        let key = keys.wrap(&id, &key);
        Ok(StoredFile { id, key, size, sha256 })
    }

    /// The plaintext of file `id`, whose key is stored as `stored_key`, as a stream. A key
    /// that does not open (no store key, another store key, altered) is a
    /// [`StoreError::FileKey`]; damage to the file shows as an `InvalidData` read error.
    pub fn reader(
        &self,
        id: &str,
        stored_key: &str,
    ) -> Result<Unsealer<std::io::BufReader<std::fs::File>>, StoreError> {
        let path = self.path(id).ok_or_else(|| StoreError::Damaged(format!("file id `{id}`")))?;
        let key = self.keys()?.unwrap(id, stored_key)?;
        let f = std::fs::File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
        Unsealer::new(std::io::BufReader::new(f), &key).map_err(|e| StoreError::io("read", &path, e))
    }

    /// Removes file `id` (expiry, revocation); true if it was there.
    pub fn remove(&self, id: &str) -> bool {
        self.path(id).is_some_and(|p| std::fs::remove_file(p).is_ok())
    }
}

/// Opens the file store of `data_dir` with `keys` after bringing every kept file's key under
/// the current store key in one transaction ([`wrap_file_keys`]: keys from before wrapping are
/// wrapped now). Fails, changing nothing, when the stored keys were wrapped by another store
/// key ([`KeyError::UnknownStoreKey`]).
pub async fn open_with_keys(
    data_dir: &Path,
    store: &dyn crate::links::LinkStore,
    keys: KeyRing,
) -> Result<(FileStore, Rewrapped), StoreError> {
    let files = FileStore::open(data_dir)?;
    let done = wrap_file_keys(store, &keys).await?;
    Ok((files.with_keys(keys), done))
}

/// Removes from `files` every file whose message's links have all been revoked or expired
/// by `expired_before` (now, less what `[portal] keep_expired` keeps), and marks it purged;
/// returns (message ID, file index) of each.
pub async fn purge_expired_files(
    store: &dyn crate::links::LinkStore,
    files: &FileStore,
    expired_before: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut purged = Vec::new();
    for (message_id, idx, file_id) in store.files_to_purge(expired_before).await? {
        files.remove(&file_id);
        store.mark_purged(&message_id, idx).await?;
        purged.push((message_id, idx));
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn files_are_sealed_at_rest_and_read_back_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap().with_keys(KeyRing::new(StoreKey::generate()));
        let plain = b"Quarterly figures: confidential".repeat(5000);
        let f = store.put(&plain).unwrap();
        assert_eq!(f.size, plain.len() as u64);
        assert_eq!(f.sha256.len(), 64);
        let on_disk = std::fs::read(dir.path().join("files").join(&f.id)).unwrap();
        assert!(!on_disk.windows(18).any(|w| w == b"Quarterly figures:"), "no plaintext on disk");
        let mut back = Vec::new();
        store.reader(&f.id, &f.key).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, plain);
        let plain_key = FileKey::generate().to_hex();
        let mut wrong = Vec::new();
        let read = store.reader(&f.id, &plain_key).unwrap().read_to_end(&mut wrong);
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::InvalidData, "another key reads nothing");
        let other = FileStore::open(dir.path()).unwrap().with_keys(KeyRing::new(StoreKey::generate()));
        assert!(matches!(other.reader(&f.id, &f.key), Err(StoreError::FileKey(KeyError::UnknownStoreKey { .. }))));
        let keyless = FileStore::open(dir.path()).unwrap();
        assert!(matches!(keyless.reader(&f.id, &f.key), Err(StoreError::FileKey(KeyError::NoStoreKey))));
        assert!(matches!(keyless.put(b"x"), Err(StoreError::FileKey(KeyError::NoStoreKey))));
        assert!(store.reader("../queue.db", &f.key).is_err(), "ids are checked, never paths");
        assert!(store.remove(&f.id));
        assert!(!store.remove(&f.id));
        assert_eq!(std::fs::read_dir(dir.path().join("files/tmp")).unwrap().count(), 0);
    }
}
