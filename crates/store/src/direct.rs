//! A kept body's file written straight from the kept bytes to the disk (`O_DIRECT`), bypassing
//! the page cache: the body is read from memory until it is delivered, so a cached copy of
//! its file would only cost pages to fill, write back and free again. The body goes padded to
//! a multiple of [`crate::kept::ALIGN`] and the file is cut back to its length before it is
//! synced. A file system that refuses direct writes (`EINVAL`) gets the body written through
//! the page cache, as every later body.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::kept::Keeping;

/// Cleared once a file system refused a direct write: later bodies go through the page cache.
static DIRECT: AtomicBool = AtomicBool::new(true);

/// Whether bodies are written directly (no file system refused it so far).
pub(crate) fn enabled() -> bool {
    DIRECT.load(Ordering::Relaxed)
}

/// How a body reached its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Directly from the kept bytes.
    Direct,
    /// Through the page cache.
    Cached,
}

/// Writes the whole kept body to the empty `file`: directly when it is kept in a large
/// buffer and direct writes work, else through the page cache.
pub(crate) fn write_kept(file: &File, keeping: &mut Keeping) -> io::Result<Written> {
    debug_assert!(file.metadata().is_ok_and(|m| m.len() == 0), "the body's file is still empty");
    let len = keeping.unwritten().len() as u64;
    let direct = if enabled() { keeping.with_aligned(|padded| write_direct(file, padded, len)) } else { None };
    let how = match direct {
        Some(Ok(DirectWrite::Done)) => Written::Direct,
        Some(Ok(DirectWrite::Refused(e))) => {
            if DIRECT.swap(false, Ordering::Relaxed) {
                tracing::info!(error = %e, "the spool's file system refuses direct writes; bodies are written through the page cache");
            }
            write_cached(file, keeping.unwritten())?
        }
        Some(Ok(DirectWrite::Short)) => write_cached(file, keeping.unwritten())?,
        Some(Err(e)) => return Err(e),
        None => {
            file.write_all_at(keeping.unwritten(), 0)?;
            Written::Cached
        }
    };
    keeping.written();
    Ok(how)
}

/// Writes `body` as the whole of `file` through the page cache, whatever a direct write left
/// in it.
fn write_cached(file: &File, body: &[u8]) -> io::Result<Written> {
    set_direct(file, false)?;
    file.set_len(0)?;
    file.write_all_at(body, 0)?;
    Ok(Written::Cached)
}

/// How a direct write ended, when no other error stopped it.
enum DirectWrite {
    /// The whole body is in the file, cut to its length.
    Done,
    /// The file system refused the first direct write (`EINVAL`): it takes none.
    Refused(io::Error),
    /// A direct write stopped short (a nearly full disk), so the next one could not be
    /// aligned: this body goes through the page cache, later ones are still tried directly.
    Short,
}

/// Writes `padded` (aligned, a multiple of the alignment long) at the start of `file`
/// directly, then cuts the file to `len`.
fn write_direct(file: &File, padded: &[u8], len: u64) -> io::Result<DirectWrite> {
    if let Err(e) = set_direct(file, true) {
        return refused(e);
    }
    match file.write_at(padded, 0) {
        Ok(n) if n == padded.len() => {}
        Ok(_) => return Ok(DirectWrite::Short),
        Err(e) => return refused(e),
    }
    set_direct(file, false)?;
    file.set_len(len)?;
    Ok(DirectWrite::Done)
}

/// An `EINVAL` from the first direct step is the file system's refusal; other errors stand.
fn refused(e: io::Error) -> io::Result<DirectWrite> {
    if e.raw_os_error() == Some(libc::EINVAL) { Ok(DirectWrite::Refused(e)) } else { Err(e) }
}

/// Turns `O_DIRECT` on or off for `file`.
fn set_direct(file: &File, on: bool) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an open descriptor with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Pages of `file` in the page cache, by mincore(2) over a mapping of it.
    fn cached_pages(file: &File) -> usize {
        let len = file.metadata().unwrap().len() as usize;
        // SAFETY: a read-only shared mapping of an open file, unmapped before returning.
        unsafe {
            let map = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0);
            assert_ne!(map, libc::MAP_FAILED);
            let mut resident = vec![0u8; len.div_ceil(4096)];
            assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
            libc::munmap(map, len);
            resident.iter().filter(|&&r| r & 1 == 1).count()
        }
    }

    fn keeping(bytes: &[u8]) -> Keeping {
        let mut k = Keeping::new();
        for part in bytes.chunks(50_000) {
            assert!(k.add(part));
        }
        k
    }

    fn open(dir: &std::path::Path, name: &str) -> File {
        std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(dir.join(name)).unwrap()
    }

    #[test]
    fn a_large_kept_body_reaches_its_file_without_the_page_cache_and_whole() {
        let _alone = crate::kept::BUDGET_TEST.blocking_lock();
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..1_000_003u32).map(|i| (i * 31 % 251) as u8).collect();
        let file = open(dir.path(), "large");
        let mut k = keeping(&body);
        let how = write_kept(&file, &mut k).unwrap();
        assert!(k.unwritten().is_empty(), "all of it is written");
        assert_eq!(file.metadata().unwrap().len(), body.len() as u64, "cut back to its length");
        if how == Written::Direct {
            assert_eq!(cached_pages(&file), 0, "no page of it in the cache");
        } else {
            assert!(!enabled(), "only a file system that refused direct writes is written cached");
        }
        assert!(std::fs::read(dir.path().join("large")).unwrap() == body);
        let k = k.finish().expect("still kept");
        assert!(k[..] == body[..], "the kept bytes without their padding");
    }

    #[test]
    fn only_einval_is_a_refusal_of_direct_writes() {
        assert!(matches!(refused(io::Error::from_raw_os_error(libc::EINVAL)), Ok(DirectWrite::Refused(_))));
        for errno in [libc::ENOSPC, libc::EIO, libc::EDQUOT] {
            assert!(refused(io::Error::from_raw_os_error(errno)).is_err(), "{errno} stands as an error");
        }
    }

    #[test]
    fn a_small_kept_body_goes_through_the_page_cache() {
        let _alone = crate::kept::BUDGET_TEST.blocking_lock();
        let dir = tempfile::tempdir().unwrap();
        let body = vec![7u8; 10_000];
        let file = open(dir.path(), "small");
        assert_eq!(write_kept(&file, &mut keeping(&body)).unwrap(), Written::Cached);
        assert!(std::fs::read(dir.path().join("small")).unwrap() == body);
    }

    #[test]
    fn after_a_direct_write_fails_the_body_is_written_whole_through_the_cache() {
        let _alone = crate::kept::BUDGET_TEST.blocking_lock();
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..300_001u32).map(|i| (i % 253) as u8).collect();
        let file = open(dir.path(), "retried");
        let mut k = keeping(&body);
        // A direct write that stopped after its first blocks, with O_DIRECT still on.
        k.with_aligned(|padded| {
            set_direct(&file, true).unwrap();
            file.write_all_at(&padded[..8192], 0).unwrap();
        })
        .expect("a large kept body");
        assert_eq!(write_cached(&file, k.unwritten()).unwrap(), Written::Cached);
        // SAFETY: fcntl on an open descriptor.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_DIRECT, 0, "O_DIRECT is off again");
        assert!(std::fs::read(dir.path().join("retried")).unwrap() == body);
    }
}
