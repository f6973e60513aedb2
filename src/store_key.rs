//! The store key, which wraps every kept file's key and is kept outside the data directory:
//! where it comes from, loaded the way `serve` loads it (also by `config check` and
//! `key rotate`), and the file store opened with it.
//!
//! Sources, exactly one of which may be set: `[store] key_file`, `$SEKISHO_STORE_KEY` (64 hex
//! digits or base64), the systemd credential `$CREDENTIALS_DIRECTORY/sekisho-store-key`. With
//! none, the default key file beside the data directory (`<store.path>.key`), created at first
//! start with a warning at every start.

use std::path::{Path, PathBuf};

use sekisho_config::{Config, ConfigError};
use sekisho_store::files::{FileStore, KeyError, KeyRing, StoreKey, StoredKey};
use sekisho_store::{LinkStore, Stores};

use crate::Failure;

/// The environment variable that may hold the store key.
pub(crate) const ENV: &str = "SEKISHO_STORE_KEY";
/// The systemd credential name (`LoadCredential=sekisho-store-key:/path`).
pub(crate) const CREDENTIAL: &str = "sekisho-store-key";

/// Where the store key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `[store] key_file`.
    File(PathBuf),
    /// `$SEKISHO_STORE_KEY`.
    Env,
    /// `$CREDENTIALS_DIRECTORY/sekisho-store-key`.
    Credential(PathBuf),
    /// Nothing configured: the key file beside the data directory.
    Default(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "[store] key_file {}", p.display()),
            KeySource::Env => write!(f, "${ENV}"),
            KeySource::Credential(p) => write!(f, "systemd credential {}", p.display()),
            KeySource::Default(p) => write!(f, "default key file {} (no [store] key_file)", p.display()),
        }
    }
}

/// The source the configuration and the environment name; an error when more than one does.
pub(crate) fn source(config: &Config) -> Result<KeySource, ConfigError> {
    let env = std::env::var_os(ENV).filter(|v| !v.is_empty()).map(|_| KeySource::Env);
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| Path::new(&dir).join(CREDENTIAL))
        .filter(|p| p.exists())
        .map(KeySource::Credential);
    let file = config.store.key_file.clone().map(KeySource::File);
    let set: Vec<KeySource> = [file, env, credential].into_iter().flatten().collect();
    match set.as_slice() {
        [] => {
            let path = config.store.default_key_file().ok_or_else(|| {
                config.error_at("store.key_file", "no store key and no default place for one: set it".into())
            })?;
            Ok(KeySource::Default(path))
        }
        [one] => Ok(one.clone()),
        more => Err(config.error_at(
            "store.key_file",
            format!(
                "more than one store key is given ({}): set exactly one",
                more.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// The key of `source`; `None` for a default key file that does not exist yet. Errors name
/// the source, and `store.key_file` with its line.
pub(crate) fn load(config: &Config, source: &KeySource) -> Result<Option<StoreKey>, ConfigError> {
    let err = |message: String| config.error_at("store.key_file", message);
    match source {
        KeySource::File(path) | KeySource::Credential(path) => {
            sekisho_store::files::read_key_file(path).map(Some).map_err(|e| err(format!("{source}: {e}")))
        }
        KeySource::Default(path) if !path.exists() => Ok(None),
        KeySource::Default(path) => {
            sekisho_store::files::read_key_file(path).map(Some).map_err(|e| err(format!("{source}: {e}")))
        }
        KeySource::Env => {
            let value = std::env::var_os(ENV).unwrap_or_default();
            StoreKey::from_material(value.as_encoded_bytes()).map(Some).map_err(|e| err(format!("{source} {e}")))
        }
    }
}

/// Checks the store key source for `config check` and before `serve` (a default key file not
/// yet created is fine: `serve` creates it).
pub(crate) fn check(config: &Config) -> Result<(), ConfigError> {
    let source = source(config)?;
    load(config, &source).map(|_| ())
}

/// Opens the file store with the store key, as `serve` does: creates the default key file on
/// first start, wraps the keys of files stored before wrapping, and refuses (exit 2, naming
/// the source) a key that is not the one the stored keys were wrapped with.
pub(crate) async fn open_files(config: &Config, stores: &Stores) -> Result<FileStore, Failure> {
    let store = stores.links.as_ref();
    let source = source(config).map_err(|e| Failure::Usage(e.to_string()))?;
    let key = match load(config, &source).map_err(|e| Failure::Usage(e.to_string()))? {
        Some(key) => key,
        None => create_default(&source, store).await?,
    };
    if let KeySource::Default(path) = &source {
        tracing::warn!(
            key_file = %path.display(),
            "the store key is the default key file beside the data directory: a copy of the data directory \
             together with this file decrypts every kept file; keep the key elsewhere ([store] key_file, \
             ${ENV} or the systemd credential {CREDENTIAL})"
        );
    }
    let key_id = key.id();
    let (files, done) = sekisho_store::files::open_with_keys(&config.store.path, stores, KeyRing::new(key))
        .await
        .map_err(|e| match e {
            sekisho_store::StoreError::FileKey(KeyError::UnknownStoreKey { key_id: stored, .. }) => {
                Failure::Usage(wrong_key(&source, &key_id, &stored))
            }
            e => Failure::Failed(e.to_string()),
        })?;
    if done.wrapped_plain > 0 {
        tracing::info!(files = done.wrapped_plain, key_id, "file keys stored before wrapping are now wrapped");
    }
    for (message_id, idx) in &done.damaged {
        tracing::warn!(queue_id = %message_id, file = idx, "a kept file's key is damaged: that file cannot be opened");
    }
    tracing::info!(source = %source, key_id, files = done.wrapped_plain + done.unchanged, "store key loaded");
    Ok(files)
}

/// The message for a store key that is not the one the stored file keys were wrapped with.
pub(crate) fn wrong_key(source: &KeySource, key_id: &str, stored: &str) -> String {
    format!(
        "store key from {source} (key id {key_id}) is not the key the kept files were stored with (key id \
         {stored}): configure that key, or rewrap with `sekisho key rotate --old OLD --new NEW`"
    )
}

/// Creates the default key file, unless the store already holds keys wrapped by a key that
/// is gone (then creating a new one would make those files unreadable for good).
async fn create_default(source: &KeySource, store: &dyn LinkStore) -> Result<StoreKey, Failure> {
    let KeySource::Default(path) = source else { unreachable!("only a default key file may be missing") };
    let rows = store.file_keys().await.map_err(|e| Failure::Failed(e.to_string()))?;
    let wrapped: Vec<&str> = rows
        .iter()
        .filter_map(|r| match StoredKey::parse(&r.key) {
            Some(StoredKey::Wrapped { key_id, .. }) => Some(key_id),
            _ => None,
        })
        .collect();
    if let Some(key_id) = wrapped.first() {
        return Err(Failure::Usage(format!(
            "{source} does not exist, but {} kept file(s) have keys wrapped with store key {key_id}: restore \
             that key file (or configure it with [store] key_file or ${ENV})",
            wrapped.len()
        )));
    }
    let key = sekisho_store::files::create_key_file(path).map_err(|e| Failure::Failed(e.to_string()))?;
    tracing::warn!(key_file = %path.display(), key_id = key.id(), "created the store key");
    Ok(key)
}
