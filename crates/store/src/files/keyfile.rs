//! Store key files: read with their permissions checked, created with mode 0600.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::keyring::{KeyMaterialError, StoreKey};

/// Why a key file gives no store key.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// There is no such file.
    #[error("{} does not exist (create one with `sekisho key generate {}`)", path.display(), path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// Group or others may read or write it.
    #[error("{} has mode {mode:04o}: group and others must have no access to a store key (chmod 600 it)", path.display())]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Its content is not a key.
    #[error("{}: {source}", path.display())]
    Material {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: KeyMaterialError,
    },
    /// It exists already (`generate` never overwrites a key).
    #[error("{} exists already: a store key is never overwritten (files wrapped with it would be lost)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// Reads the store key in `path`: it must exist, be a regular file without group or other
/// permissions, and hold key material ([`StoreKey::from_material`]).
pub fn read_key_file(path: &Path) -> Result<StoreKey, KeyFileError> {
    let io = |action, source| KeyFileError::Io { action, path: path.to_path_buf(), source };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyFileError::Missing { path: path.to_path_buf() });
        }
        Err(e) => return Err(io("read", e)),
    };
    if !meta.is_file() {
        return Err(io("read", std::io::Error::other("not a regular file")));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen { path: path.to_path_buf(), mode });
    }
    let bytes = std::fs::read(path).map_err(|e| io("read", e))?;
    StoreKey::from_material(&bytes).map_err(|source| KeyFileError::Material { path: path.to_path_buf(), source })
}

/// Creates `path` (never overwriting) with mode 0600 holding a new random key, durably;
/// returns the key.
pub fn create_key_file(path: &Path) -> Result<StoreKey, KeyFileError> {
    let io = |action, source| KeyFileError::Io { action, path: path.to_path_buf(), source };
    let key = StoreKey::generate();
    let mut f = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyFileError::Exists { path: path.to_path_buf() });
        }
        Err(e) => return Err(io("create", e)),
    };
    let written = f.write_all(key.as_bytes()).and_then(|()| f.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(io("write", e));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::spool::sync_dir(dir).map_err(|e| io("fsync the directory of", e))?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_are_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        let key = create_key_file(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_key_file(&path).unwrap(), key);
        assert!(matches!(create_key_file(&path), Err(KeyFileError::Exists { .. })), "never overwritten");
        assert_eq!(read_key_file(&path).unwrap(), key);
    }

    #[test]
    fn missing_short_and_open_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.key");
        let e = read_key_file(&path).unwrap_err();
        assert!(matches!(e, KeyFileError::Missing { .. }));
        assert!(e.to_string().contains("sekisho key generate"), "{e}");
        std::fs::write(&path, [1u8; 16]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = read_key_file(&path).unwrap_err();
        assert!(matches!(e, KeyFileError::Material { source: KeyMaterialError::Length { len: 16 }, .. }), "{e}");
        std::fs::write(&path, [1u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key_file(&path).unwrap_err();
        assert!(matches!(e, KeyFileError::TooOpen { mode: 0o644, .. }), "{e}");
        assert!(e.to_string().contains("0644"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), StoreKey::from_bytes([1u8; 32]));
    }
}
