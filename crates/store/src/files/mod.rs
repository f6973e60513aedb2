//! The file store: attachments kept for download, each sealed with a key of its own
//! (AES-256-GCM, see [`sealed`]). That key lives in the database only wrapped by the store key
//! ([`keyring`]), which is kept outside the data directory: a copy of the files, or of the
//! whole data directory, reveals nothing without it. Written like spool bodies: temp file
//! (mode 0600), fsync, rename, directory fsync.
//!
//! With shared objects (PostgreSQL, [`FileStore::with_objects`]) every sealed file is also
//! stored in the database, sealed as it is on disk, before it appears under its name
//! ([`FileStore::keep`]); a node asked for a file it does not have fetches it first
//! ([`FileStore::ensure_local`]). Each node's `files/` is then a cache of the shared copies:
//! removing a file removes its object ([`FileStore::discard`]), and each node's purge removes
//! the cached copies whose file is no longer kept anywhere ([`purge_expired_files`]).

pub mod keyfile;
pub mod keyring;
pub mod rewrap;
pub mod sealed;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::objects::{ObjectKind, ObjectStore};
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
#[derive(Clone)]
pub struct FileStore {
    dir: PathBuf,
    tmp: PathBuf,
    /// The store key; without one, files can be removed but neither stored nor read.
    keys: Option<Arc<KeyRing>>,
    /// Where every node finds the sealed files (PostgreSQL); `None`: this node's directory only.
    objects: Option<Arc<dyn ObjectStore>>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("keys", &self.keys.is_some())
            .field("shared", &self.objects.is_some())
            .finish()
    }
}

/// A file sealed into `files/tmp`, not yet under its name (see [`FileStore::seal`]); its
/// temporary file is removed if it is dropped before [`FileStore::keep`] stores it.
pub struct Sealed {
    file: StoredFile,
    tmp: PathBuf,
    kept: bool,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl FileStore {
    /// Creates `<data_dir>/files` (and its `tmp`, mode 0700) if needed, without a store key:
    /// enough to remove files ([`purge_expired_files`]); [`FileStore::with_keys`] to store
    /// and read them.
    pub fn open(data_dir: &Path) -> Result<FileStore, StoreError> {
        let dir = data_dir.join("files");
        let tmp = dir.join("tmp");
        crate::private::create_dir_all(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
        Ok(FileStore { dir, tmp, keys: None, objects: None })
    }

    /// The same store with `keys`: new files' keys are wrapped by its current key, stored
    /// keys are unwrapped by the key of their id.
    pub fn with_keys(self, keys: KeyRing) -> FileStore {
        FileStore { keys: Some(Arc::new(keys)), ..self }
    }

    /// The same store sharing its files through `objects` (`Stores::objects`: PostgreSQL's,
    /// `None` on SQLite).
    pub fn with_objects(self, objects: Option<Arc<dyn ObjectStore>>) -> FileStore {
        FileStore { objects, ..self }
    }

    fn keys(&self) -> Result<&KeyRing, StoreError> {
        self.keys.as_deref().ok_or(StoreError::FileKey(KeyError::NoStoreKey))
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        is_file_id(id).then(|| self.dir.join(id))
    }

    /// Seals and stores `plain` durably under a new key in this node's directory alone
    /// (blocking: call it off the runtime). Delivery keeps files with [`FileStore::keep`],
    /// which also shares them.
    pub fn put(&self, plain: &[u8]) -> Result<StoredFile, StoreError> {
        self.put_from(plain)
    }

    /// [`FileStore::put`] for a plaintext read a segment at a time (blocking).
    pub fn put_from(&self, plain: impl std::io::Read) -> Result<StoredFile, StoreError> {
        let sealed = self.seal(plain)?;
        self.publish(sealed)
    }

    /// Seals `plain`, read a segment at a time, under a new key into `files/tmp` (blocking),
    /// for [`FileStore::keep`].
    pub fn seal(&self, plain: impl std::io::Read) -> Result<Sealed, StoreError> {
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
        let key = keys.wrap(&id, &key);
        Ok(Sealed { file: StoredFile { id, key, size, sha256 }, tmp, kept: false })
    }

    /// Puts a sealed file under its name, durably (blocking).
    fn publish(&self, mut sealed: Sealed) -> Result<StoredFile, StoreError> {
        let path = self.dir.join(&sealed.file.id);
        std::fs::rename(&sealed.tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
        sealed.kept = true;
        sync_dir(&self.dir).map_err(|e| StoreError::io("fsync", &self.dir, e))?;
        Ok(sealed.file.clone())
    }

    /// Keeps a file: `seal` (run on a blocking thread, given this store) seals it with
    /// [`FileStore::seal`]; with shared objects, its sealed bytes are then stored in them,
    /// durably, before the file appears under its name here. Only then may a row name it.
    pub async fn keep(
        &self,
        seal: impl FnOnce(&FileStore) -> Result<Sealed, StoreError> + Send + 'static,
    ) -> Result<StoredFile, StoreError> {
        let store = self.clone();
        let sealed = tokio::task::spawn_blocking(move || seal(&store)).await.map_err(blocking)??;
        if let Some(objects) = &self.objects {
            objects.put_object(ObjectKind::File, &sealed.file.id, &sealed.tmp).await?;
        }
        let store = self.clone();
        let id = sealed.file.id.clone();
        let published = tokio::task::spawn_blocking(move || store.publish(sealed)).await.map_err(blocking)?;
        if published.is_err()
            && let Some(objects) = &self.objects
        {
            let _ = objects.remove_objects(ObjectKind::File, &[id]).await;
        }
        published
    }

    /// Makes sure file `id` is in this node's directory: with shared objects, a file this
    /// node does not have is fetched (written beside it, then renamed). Call it before
    /// [`FileStore::reader`] wherever the file may have been kept by another node. A file
    /// that is nowhere is left for the reader to report.
    pub async fn ensure_local(&self, id: &str) -> Result<(), StoreError> {
        let (Some(objects), Some(path)) = (&self.objects, self.path(id)) else { return Ok(()) };
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(());
        }
        if objects.fetch_object(ObjectKind::File, id, &path).await? {
            tracing::debug!(file = id, "kept file fetched from the shared store");
        }
        Ok(())
    }

    /// The plaintext of file `id`, whose key is stored as `stored_key`, as a stream. A key
    /// that does not open (no store key, another store key, altered) is a
    /// [`StoreError::FileKey`]; damage to the file shows as an `InvalidData` read error.
    /// Reads this node's directory only: see [`FileStore::ensure_local`].
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

    /// Removes file `id` from this node's directory (its shared copy stays: see
    /// [`FileStore::discard`]); true if it was there.
    pub fn remove(&self, id: &str) -> bool {
        self.path(id).is_some_and(|p| std::fs::remove_file(p).is_ok())
    }

    /// Removes files `ids` (expiry, revocation, a keep that lost its race): here, and from the
    /// shared objects, so that no node can fetch them again.
    pub async fn discard(&self, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            self.remove(id);
        }
        match &self.objects {
            Some(objects) => objects.remove_objects(ObjectKind::File, ids).await.map(drop),
            None => Ok(()),
        }
    }

    /// With shared objects, removes this node's copies of files no longer kept: neither named
    /// by a kept row (`kept`: every kept file and withheld original) nor in the shared objects
    /// (purged by whichever node purged them). A file being kept is not yet under its name
    /// here while it is shared, and has its object once it is. Returns how many were removed.
    async fn drop_stale_copies(&self, store: &dyn crate::links::LinkStore) -> Result<usize, StoreError> {
        let Some(objects) = &self.objects else { return Ok(0) };
        let local = self.local_ids()?;
        if local.is_empty() {
            return Ok(0);
        }
        let kept: HashSet<String> = kept_ids(store).await?;
        let shared: HashSet<String> = objects.object_ids(ObjectKind::File).await?.into_iter().collect();
        let stale: Vec<&String> = local.iter().filter(|id| !kept.contains(*id) && !shared.contains(*id)).collect();
        Ok(stale.into_iter().filter(|id| self.remove(id)).count())
    }

    /// With shared objects, removes the objects of files no row names (neither a kept file nor
    /// a withheld original, per `LinkStore::file_keys`) once stored more than an hour ago by the
    /// shared store's clock (`bodies::UNCOMMITTED_GRACE`): left by a node that stopped between
    /// storing a file ([`FileStore::keep`]) and committing the row that names it. A file kept
    /// now has its row within that hour. Returns how many were removed.
    pub async fn sweep_unnamed(&self, store: &dyn crate::links::LinkStore) -> Result<u64, StoreError> {
        let Some(objects) = &self.objects else { return Ok(0) };
        let old = objects.objects_older_than(ObjectKind::File, crate::bodies::UNCOMMITTED_GRACE).await?;
        if old.is_empty() {
            return Ok(0);
        }
        // Read after the objects: a row committed meanwhile is seen here.
        let kept: HashSet<String> = kept_ids(store).await?;
        let unnamed: Vec<String> = old.into_iter().filter(|id| !kept.contains(id)).collect();
        objects.remove_objects(ObjectKind::File, &unnamed).await
    }

    /// With shared objects, stores the kept files this node has and the shared objects lack
    /// (kept before files were shared), so that every node can serve them; returns how many.
    /// `serve` runs it once at start. A file purged meanwhile by another node loses the
    /// object stored for it again.
    pub async fn share_kept(&self, store: &dyn crate::links::LinkStore) -> Result<usize, StoreError> {
        let Some(objects) = &self.objects else { return Ok(0) };
        let kept: HashSet<String> = kept_ids(store).await?;
        let shared: HashSet<String> = objects.object_ids(ObjectKind::File).await?.into_iter().collect();
        let missing: Vec<String> =
            self.local_ids()?.into_iter().filter(|id| kept.contains(id) && !shared.contains(id)).collect();
        for id in &missing {
            objects.put_object(ObjectKind::File, id, &self.dir.join(id)).await?;
        }
        if missing.is_empty() {
            return Ok(0);
        }
        let still: HashSet<String> = kept_ids(store).await?;
        let gone: Vec<String> = missing.iter().filter(|id| !still.contains(*id)).cloned().collect();
        objects.remove_objects(ObjectKind::File, &gone).await?;
        Ok(missing.len() - gone.len())
    }

    /// The ids of the files in this node's directory.
    fn local_ids(&self) -> Result<Vec<String>, StoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| StoreError::io("read", &self.dir, e))?;
        Ok(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|name| is_file_id(name)).collect())
    }
}

/// The ids of every file a row names: kept files and withheld originals (`LinkStore::file_keys`).
async fn kept_ids(store: &dyn crate::links::LinkStore) -> Result<HashSet<String>, StoreError> {
    Ok(store.file_keys().await?.into_iter().map(|r| r.file_id).collect())
}

/// Whether `id` is a file's name in the store: 128 bits in hex, never a path.
fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn blocking(e: tokio::task::JoinError) -> StoreError {
    StoreError::io("seal", Path::new("files"), std::io::Error::other(e))
}

/// Opens the file store of `data_dir` with `keys`, sharing its files through `stores.objects`
/// (PostgreSQL), after bringing every kept file's key under the current store key in one
/// transaction ([`wrap_file_keys`]: keys from before wrapping are wrapped now). Fails,
/// changing nothing, when the stored keys were wrapped by another store key
/// ([`KeyError::UnknownStoreKey`]).
pub async fn open_with_keys(
    data_dir: &Path,
    stores: &crate::Stores,
    keys: KeyRing,
) -> Result<(FileStore, Rewrapped), StoreError> {
    let files = FileStore::open(data_dir)?.with_objects(stores.objects.clone());
    let done = wrap_file_keys(stores.links.as_ref(), &keys).await?;
    Ok((files.with_keys(keys), done))
}

/// Removes from `files` every file whose message's links have all been revoked or expired
/// by `expired_before` (now, less what `[portal] keep_expired` keeps), and marks it purged;
/// returns (message ID, file index) of each. With shared objects, each file's object goes
/// before it is marked, and this node's copies of files another node purged go too.
pub async fn purge_expired_files(
    store: &dyn crate::links::LinkStore,
    files: &FileStore,
    expired_before: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut purged = Vec::new();
    for (message_id, idx, file_id) in store.files_to_purge(expired_before).await? {
        files.discard(&[file_id]).await?;
        store.mark_purged(&message_id, idx).await?;
        purged.push((message_id, idx));
    }
    let stale = files.drop_stale_copies(store).await?;
    if stale > 0 {
        tracing::info!(files = stale, "copies of files no longer kept removed from this node");
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

    /// Objects in memory, as PostgreSQL keeps them for every node; `failing` refuses to store.
    #[derive(Default)]
    struct Shelf {
        objects: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
        failing: std::sync::atomic::AtomicBool,
    }

    impl Shelf {
        fn get(&self, id: &str) -> Option<Vec<u8>> {
            self.objects.lock().unwrap().get(id).cloned()
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for Shelf {
        async fn put_object(&self, kind: ObjectKind, id: &str, path: &Path) -> Result<u64, StoreError> {
            assert_eq!(kind, ObjectKind::File);
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(StoreError::Damaged("the shared store is down".into()));
            }
            let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
            let n = bytes.len() as u64;
            self.objects.lock().unwrap().insert(id.into(), bytes);
            Ok(n)
        }

        async fn fetch_object(&self, _: ObjectKind, id: &str, dest: &Path) -> Result<bool, StoreError> {
            let Some(bytes) = self.get(id) else { return Ok(false) };
            let tmp = dest.with_extension("fetch");
            std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, dest)).unwrap();
            Ok(true)
        }

        async fn remove_objects(&self, _: ObjectKind, ids: &[String]) -> Result<u64, StoreError> {
            let mut objects = self.objects.lock().unwrap();
            Ok(ids.iter().filter(|id| objects.remove(*id).is_some()).count() as u64)
        }

        async fn object_ids(&self, _: ObjectKind) -> Result<Vec<String>, StoreError> {
            Ok(self.objects.lock().unwrap().keys().cloned().collect())
        }

        async fn stored_objects(&self, _: ObjectKind) -> Result<Vec<crate::objects::StoredObject>, StoreError> {
            let objects = self.objects.lock().unwrap();
            let stored = objects.iter().map(|(id, bytes)| crate::objects::StoredObject {
                id: id.clone(),
                size: bytes.len() as u64,
                stored_at: 0,
            });
            Ok(stored.collect())
        }

        async fn objects_older_than(&self, _: ObjectKind, _: i64) -> Result<Vec<String>, StoreError> {
            Ok(self.objects.lock().unwrap().keys().cloned().collect())
        }
    }

    fn kept(message_id: &str, f: &StoredFile) -> crate::LinkMessage {
        crate::LinkMessage {
            message_id: message_id.into(),
            sender: "alice@example.jp".into(),
            subject: "figures".into(),
            header_from: String::new(),
            created_at: 1,
            files: vec![crate::LinkFile {
                idx: 0,
                file_id: f.id.clone(),
                key: f.key.clone(),
                name: "figures.xlsx".into(),
                content_type: "application/octet-stream".into(),
                size: f.size,
                sha256: f.sha256.clone(),
                purged: false,
            }],
            original: None,
            password_hash: None,
        }
    }

    fn read(store: &FileStore, f: &StoredFile) -> Result<Vec<u8>, StoreError> {
        let mut back = Vec::new();
        store.reader(&f.id, &f.key)?.read_to_end(&mut back).map_err(|e| StoreError::io("read", Path::new("t"), e))?;
        Ok(back)
    }

    #[tokio::test]
    async fn a_file_kept_by_one_node_is_shared_sealed_read_by_another_and_purged_from_both() {
        use crate::links::LinkStore as _;
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = StoreKey::generate();
        let shelf = Arc::new(Shelf::default());
        let objects: Option<Arc<dyn ObjectStore>> = Some(shelf.clone());
        let a =
            FileStore::open(a_dir.path()).unwrap().with_keys(KeyRing::new(key.clone())).with_objects(objects.clone());
        let b = FileStore::open(b_dir.path()).unwrap().with_keys(KeyRing::new(key)).with_objects(objects);
        let rows = crate::sqlite::SqliteStore::open(&a_dir.path().join("q.db")).await.unwrap();

        let plain = b"Quarterly figures: confidential".repeat(5000);
        let p = plain.clone();
        let f = a.keep(move |s| s.seal(&p[..])).await.unwrap();
        let shared = shelf.get(&f.id).expect("shared before keep returns");
        assert_eq!(shared, std::fs::read(a_dir.path().join("files").join(&f.id)).unwrap(), "the sealed bytes");
        assert!(!shared.windows(18).any(|w| w == b"Quarterly figures:"), "never plaintext");
        rows.put_link_message(&kept("M1", &f)).await.unwrap();

        // Node B has no copy until it fetches one.
        assert!(matches!(read(&b, &f), Err(StoreError::Io { .. })), "{:?}", read(&b, &f).err());
        b.ensure_local(&f.id).await.unwrap();
        assert_eq!(read(&b, &f).unwrap(), plain);
        b.ensure_local("00000000000000000000000000000000").await.unwrap();
        assert!(!b_dir.path().join("files/00000000000000000000000000000000").exists(), "nothing to fetch");
        // B's copy of a kept file stays; a copy of a file kept nowhere goes.
        let orphan = b.put(b"left behind").unwrap();
        assert_eq!(b.drop_stale_copies(&rows).await.unwrap(), 1);
        assert!(!b_dir.path().join("files").join(&orphan.id).exists());
        assert_eq!(read(&b, &f).unwrap(), plain);

        // A file kept before files were shared is shared at start; one kept nowhere is not.
        let earlier = b.put(b"kept before sharing").unwrap();
        rows.put_link_message(&kept("M0", &earlier)).await.unwrap();
        let stray = b.put(b"kept nowhere").unwrap();
        assert_eq!(b.share_kept(&rows).await.unwrap(), 1);
        assert_eq!(shelf.get(&earlier.id), Some(std::fs::read(b_dir.path().join("files").join(&earlier.id)).unwrap()));
        assert!(shelf.get(&stray.id).is_none());
        assert_eq!(b.share_kept(&rows).await.unwrap(), 0, "once");
        assert_eq!(b.drop_stale_copies(&rows).await.unwrap(), 1, "the stray copy");

        // Node A purges: its copy and the shared one go; B's purge then drops its own copy.
        let mut purged = purge_expired_files(&rows, &a, i64::MAX).await.unwrap();
        purged.sort();
        assert_eq!(purged, [("M0".to_string(), 0), ("M1".to_string(), 0)]);
        assert!(shelf.get(&earlier.id).is_none());
        assert!(shelf.get(&f.id).is_none(), "the shared copy is gone");
        assert!(!a_dir.path().join("files").join(&f.id).exists());
        assert!(purge_expired_files(&rows, &b, i64::MAX).await.unwrap().is_empty());
        assert!(!b_dir.path().join("files").join(&f.id).exists(), "B's copy went with its own purge");
        b.ensure_local(&f.id).await.unwrap();
        assert!(read(&b, &f).is_err(), "nowhere to fetch a purged file from");
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_shared_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = Arc::new(Shelf::default());
        shelf.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        let store = FileStore::open(dir.path())
            .unwrap()
            .with_keys(KeyRing::new(StoreKey::generate()))
            .with_objects(Some(shelf.clone()));
        assert!(store.keep(|s| s.seal(&b"figures"[..])).await.is_err());
        let names = |d: &str| std::fs::read_dir(dir.path().join(d)).unwrap().count();
        assert_eq!((names("files"), names("files/tmp")), (1, 0), "only tmp/ itself: no file under a name, no leftover");
        // Without shared objects (SQLite), keeping is this node's alone.
        let alone = FileStore::open(dir.path()).unwrap().with_keys(KeyRing::new(StoreKey::generate()));
        let f = alone.keep(|s| s.seal(&b"figures"[..])).await.unwrap();
        assert_eq!(read(&alone, &f).unwrap(), b"figures");
    }
}
