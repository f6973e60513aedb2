//! The data directory is private to sekisho's user: directories 0700, files 0600, whatever
//! the umask. A data directory from before (0755, files 0644) is tightened when the queue
//! opens it.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Permission bits of directories sekisho creates.
pub const DIR_MODE: u32 = 0o700;
/// Permission bits of files sekisho creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and its missing parents with mode 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)
}

/// Creates a new file (failing if it exists) with mode 0600, for writing.
pub(crate) fn create_new_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path)
}

/// Opens `path` for writing, creating it with mode 0600 if it does not exist; never truncates.
pub(crate) fn open_or_create(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(FILE_MODE).open(path)
}

/// Writes `bytes` to `path` (replacing it), created with mode 0600, and makes it durable.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What [`secure_data_dir`] changed in a data directory that was open to others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The data directory's permission bits before.
    pub was: u32,
    /// Entries under it (files and directories) whose group or other bits were removed.
    pub entries: usize,
}

/// Creates the data directory (mode 0700) or, when it exists with group or other permission
/// bits (a data directory from before), takes them away from it and from everything under it
/// (symbolic links are not followed). `Some` when something was tightened.
pub fn secure_data_dir(path: &Path) -> io::Result<Option<Tightened>> {
    create_dir_all(path)?;
    let was = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if was & 0o077 == 0 {
        return Ok(None);
    }
    let mut entries = 0;
    tighten_below(path, &mut entries)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(was & 0o700 | DIR_MODE))?;
    Ok(Some(Tightened { was, entries }))
}

fn tighten_below(dir: &Path, count: &mut usize) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Only files and directories; each is changed through a descriptor opened without
        // following links, so an entry swapped for a symlink meanwhile is not followed.
        let kind = entry.file_type()?;
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let Ok(opened) =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(entry.path())
        else {
            continue;
        };
        let meta = opened.metadata()?;
        if meta.is_dir() {
            tighten_below(&entry.path(), count)?;
        } else if !meta.is_file() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            opened.set_permissions(std::fs::Permissions::from_mode(mode & !0o077))?;
            *count += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_open_to_others_is_tightened_throughout() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        assert_eq!(secure_data_dir(&data).unwrap(), None, "created private");
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(data.join("files")).unwrap();
        std::fs::set_permissions(data.join("files"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("files/f"), b"sealed").unwrap();
        std::fs::set_permissions(data.join("files/f"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(data.join("queue.db"), b"db").unwrap();
        std::fs::set_permissions(data.join("queue.db"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let done = secure_data_dir(&data).unwrap().expect("tightened");
        assert_eq!(done, Tightened { was: 0o755, entries: 2 });
        for (path, mode) in [(data.clone(), 0o700), (data.join("files"), 0o700), (data.join("files/f"), 0o600)] {
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, mode, "{}", path.display());
        }
        assert_eq!(secure_data_dir(&data).unwrap(), None);
    }
}
