//! Message bodies as files: `spool/tmp` while arriving, `spool/msg` once durable, and
//! `quarantine` for what recovery set aside.

use std::path::{Path, PathBuf};

use std::io::Write;

use crate::error::StoreError;
use crate::kept::{Keeping, KeptBody};
use crate::queue_id::QueueId;

/// The body directories under the data directory.
#[derive(Debug, Clone)]
pub struct Spool {
    tmp: PathBuf,
    msg: PathBuf,
    quarantine: PathBuf,
    /// Make a whole batch durable with one syncfs(2) instead of an fsync per body.
    group_sync: bool,
}

/// A body being written. Dropping it without `finish` leaves a temp file that the next start
/// removes; `discard` removes it at once.
#[derive(Debug)]
pub struct TempBody {
    id: QueueId,
    path: PathBuf,
    file: std::fs::File,
    buf: Vec<u8>,
    size: u64,
    /// The batch's syncfs(2) makes this body durable, not its own fsync.
    group_sync: bool,
    /// The body kept in memory as it is written, while it may be.
    keeping: Keeping,
}

/// Bytes collected before one write to the file.
const WRITE_CHUNK: usize = 64 << 10;

/// A body written and fsynced, waiting for its commit.
#[derive(Debug)]
pub struct FinishedBody {
    pub(crate) id: QueueId,
    pub(crate) tmp_path: PathBuf,
    pub(crate) size: u64,
    /// The whole body, when it was kept in memory ([`crate::kept`]): what is read of it
    /// before its delivery (inspection, the shared store, a delivery handed the message at
    /// commit) is read from here, not from the file.
    pub(crate) kept: Option<std::sync::Arc<KeptBody>>,
}

impl FinishedBody {
    /// The message's queue ID.
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// The whole body, when it is kept in memory.
    pub fn kept(&self) -> Option<&std::sync::Arc<KeptBody>> {
        self.kept.as_ref()
    }

    /// Bytes in the body.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the body is until its commit (for inspection before the 250).
    pub fn path(&self) -> &Path {
        &self.tmp_path
    }
}

impl Spool {
    /// Creates the directories under `data_dir` if needed.
    pub fn open(data_dir: &Path) -> Result<Spool, StoreError> {
        Self::open_with(data_dir, false)
    }

    /// Like `open`; with `group_sync`, bodies are made durable by one syncfs(2) per batch.
    pub fn open_with(data_dir: &Path, group_sync: bool) -> Result<Spool, StoreError> {
        let spool = Spool {
            tmp: data_dir.join("spool/tmp"),
            msg: data_dir.join("spool/msg"),
            quarantine: data_dir.join("quarantine"),
            group_sync,
        };
        for dir in [&spool.tmp, &spool.msg, &spool.quarantine] {
            crate::private::create_dir_all(dir).map_err(|e| StoreError::io("create", dir, e))?;
        }
        Ok(spool)
    }

    /// Path of a committed body.
    pub fn body_path(&self, id: &str) -> PathBuf {
        self.msg.join(id)
    }

    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub(crate) fn msg_dir(&self) -> &Path {
        &self.msg
    }

    pub(crate) fn quarantine_dir(&self) -> &Path {
        &self.quarantine
    }

    /// Starts a body for `id`.
    pub async fn create(&self, id: &QueueId) -> Result<TempBody, StoreError> {
        let path = self.tmp.join(id.as_str());
        // Creating and writing go to the page cache and take microseconds: done in place, they
        // save a thread hop each. Only the fsync in `finish` runs on the blocking pool.
        let file = crate::private::create_new_file(&path).map_err(|e| StoreError::io("create", &path, e))?;
        Ok(TempBody {
            id: id.clone(),
            path,
            file,
            buf: Vec::new(),
            size: 0,
            group_sync: self.group_sync,
            keeping: Keeping::new(),
        })
    }

    /// Free bytes on the spool's file system.
    pub fn free_space(&self) -> Option<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(self.msg.as_os_str().as_bytes()).ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
        let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
        (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
    }

    /// Moves the finished bodies into `spool/msg` and makes the renames durable with one
    /// directory fsync. Returns, per body, whether it was moved.
    pub(crate) fn publish(&self, bodies: &[&FinishedBody]) -> Vec<Result<(), StoreError>> {
        let results: Vec<Result<(), StoreError>> = bodies
            .iter()
            .map(|b| {
                let to = self.msg.join(b.id.as_str());
                std::fs::rename(&b.tmp_path, &to).map_err(|e| StoreError::io("move into the spool", &to, e))
            })
            .collect();
        // Bodies and renames become durable together: with group sync one syncfs(2) flushes the
        // whole batch (data before the metadata that names it, as ext4 and XFS order them);
        // otherwise each body was fsynced already and the directory is fsynced here.
        let synced = if self.group_sync { sync_fs(&self.msg) } else { sync_dir(&self.msg) };
        if let Err(e) = synced {
            return results.into_iter().map(|_| Err(StoreError::io("fsync", &self.msg, clone_io(&e)))).collect();
        }
        results
    }

    /// Removes a committed body (after a failed commit or when a message is deleted).
    pub(crate) fn remove(&self, id: &str) {
        let _ = std::fs::remove_file(self.msg.join(id));
    }
}

impl TempBody {
    /// The message's queue ID.
    pub fn id(&self) -> &QueueId {
        &self.id
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends bytes. While the body is kept in memory ([`crate::kept`]), the file is written
    /// from the kept bytes: all at once in [`TempBody::finish`] when the body has its own fsync
    /// (directly, [`crate::direct`]), else as they come; once it is not kept, from a buffer of
    /// its own.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.size += bytes.len() as u64;
        if self.keeping.is_kept() {
            if self.keeping.add(bytes) {
                if !self.writes_at_finish() && self.keeping.unwritten().len() >= WRITE_CHUNK {
                    self.write_kept()?;
                }
                return Ok(());
            }
            self.write_kept()?;
            self.keeping.give_up();
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(WRITE_CHUNK);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Whether a kept body is written whole in [`TempBody::finish`], on the thread of its fsync.
    fn writes_at_finish(&self) -> bool {
        !self.group_sync && crate::direct::enabled()
    }

    /// Writes the kept bytes the file does not have yet.
    fn write_kept(&mut self) -> Result<(), StoreError> {
        let rest = self.keeping.unwritten();
        if !rest.is_empty() {
            self.file.write_all(rest).map_err(|e| StoreError::io("write", &self.path, e))?;
            self.keeping.written();
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), StoreError> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf).map_err(|e| StoreError::io("write", &self.path, e))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Where the body is being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what is buffered and fsyncs the file.
    pub async fn finish(mut self) -> Result<FinishedBody, StoreError> {
        if self.keeping.is_kept() && self.writes_at_finish() {
            return self.write_kept_and_sync().await;
        }
        self.write_kept()?;
        self.flush_buf()?;
        let TempBody { id, path, file, size, group_sync, keeping, .. } = self;
        let kept = keeping.finish();
        if group_sync {
            return Ok(FinishedBody { id, tmp_path: path, size, kept });
        }
        // sync_data: the data and the size that finds it, without the timestamps.
        let synced = tokio::task::spawn_blocking(move || file.sync_data()).await;
        match synced {
            Ok(Ok(())) => Ok(FinishedBody { id, tmp_path: path, size, kept }),
            Ok(Err(e)) => Err(StoreError::io("fsync", &path, e)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// [`TempBody::finish`] of a kept body none of which is written yet: written whole (directly
    /// when it can be) and synced, on one blocking thread.
    async fn write_kept_and_sync(self) -> Result<FinishedBody, StoreError> {
        let TempBody { id, path, file, size, mut keeping, .. } = self;
        let done = tokio::task::spawn_blocking(move || {
            crate::direct::write_kept(&file, &mut keeping).map_err(|e| ("write", e))?;
            file.sync_data().map_err(|e| ("fsync", e))?;
            Ok(keeping)
        })
        .await;
        match done {
            Ok(Ok(keeping)) => Ok(FinishedBody { id, tmp_path: path, size, kept: keeping.finish() }),
            Ok(Err((op, e))) => Err(StoreError::io(op, &path, e)),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Abandons the body and removes its file.
    pub async fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl FinishedBody {
    /// Abandons a finished body that will not be committed.
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp_path);
    }
}

/// syncfs(2): flushes every file and directory of the file system holding `dir`.
fn sync_fs(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dir)?;
    // SAFETY: `f` is an open descriptor for the duration of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// fsyncs a directory so renames and removals in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn clone_io(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kept::KEEP_MAX;

    #[tokio::test]
    async fn a_body_up_to_the_keeping_limit_is_kept_whole_and_a_longer_one_is_read_from_its_file() {
        let _alone = crate::kept::BUDGET_TEST.lock().await;
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        for (len, kept) in [
            (10_000, true),
            (WRITE_CHUNK, true),
            (300_000, true),
            (KEEP_MAX, true),
            (KEEP_MAX + 1, false),
            (KEEP_MAX + 300_000, false),
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut body = spool.create(&QueueId::generate()).await.unwrap();
            for part in bytes.chunks(7_000) {
                body.write(part).await.unwrap();
            }
            let body = body.finish().await.unwrap();
            assert!(std::fs::read(&body.tmp_path).unwrap() == bytes, "{len} bytes on disk");
            assert_eq!(body.kept().is_some(), kept, "{len} bytes");
            assert!(body.kept().is_none_or(|k| k[..] == bytes[..]), "{len} bytes kept as written");
        }
    }
}
