//! `sekisho key generate PATH` and `sekisho key rotate --new NEW [--old OLD]`: the store key
//! that wraps every kept file's key (`crate::store_key`).

use std::path::PathBuf;

use clap::Subcommand;
use sekisho_config::Config;
use sekisho_store::StoreError;
use sekisho_store::files::{KeyError, KeyRing, read_key_file};

use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;
use crate::store_key::{self, KeySource};

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Write a new random store key (32 bytes, mode 0600) to PATH; an existing file is never
    /// overwritten. Keep it outside the data directory.
    Generate {
        /// The key file to create.
        path: PathBuf,
    },
    /// Rewrap every kept file's key from the old store key to the new one, in one transaction,
    /// with sekisho stopped; then configure the new key and start sekisho.
    Rotate {
        /// The new key file (from `sekisho key generate`).
        #[arg(long, value_name = "FILE")]
        new: PathBuf,
        /// The key file the kept files' keys are wrapped with now (default: the configured
        /// store key).
        #[arg(long, value_name = "FILE")]
        old: Option<PathBuf>,
    },
}

pub(crate) async fn run(command: KeyCommand, config: &Config, source: &ConfigSource) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { path } => {
            let key = sekisho_store::files::create_key_file(&path).map_err(|e| Failure::Failed(e.to_string()))?;
            outln!("{}: new store key {} (mode 0600)", path.display(), key.id());
            Ok(())
        }
        KeyCommand::Rotate { new, old } => rotate(config, source, new, old).await,
    }
}

async fn rotate(config: &Config, source: &ConfigSource, new: PathBuf, old: Option<PathBuf>) -> Result<(), Failure> {
    let usage = |e: String| Failure::Usage(e);
    let (old_source, old_key) = match old {
        Some(path) => {
            let key = read_key_file(&path).map_err(|e| usage(format!("--old: {e}")))?;
            (KeySource::File(path), key)
        }
        None => {
            let configured = store_key::source(config).map_err(|e| usage(e.to_string()))?;
            let key = store_key::load(config, &configured)
                .map_err(|e| usage(e.to_string()))?
                .ok_or_else(|| usage(format!("no store key to rotate from: {configured} does not exist")))?;
            (configured, key)
        }
    };
    let new_key = read_key_file(&new).map_err(|e| usage(format!("--new: {e}")))?;
    if new_key == old_key {
        return Err(usage(format!("--new {} is the same key as {old_source}", new.display())));
    }
    let data = &config.store.path;
    if !data.is_dir() {
        return Err(Failure::Failed(format!(
            "the data directory {} does not exist (configuration: {source})",
            data.display()
        )));
    }
    let _lock = sekisho_store::lock_data_dir(data).map_err(|e| match e {
        StoreError::Locked(_) => Failure::Failed(format!("{e}: stop sekisho before rotating the store key")),
        e => Failure::Failed(e.to_string()),
    })?;
    let store = super::open_store(config, source, super::DataDir::MustExist).await?.0.links;
    let (old_id, new_id) = (old_key.id(), new_key.id());
    let ring = KeyRing::new(new_key).with_previous(old_key);
    let done = sekisho_store::files::wrap_file_keys(store.as_ref(), &ring).await.map_err(|e| match e {
        StoreError::FileKey(KeyError::UnknownStoreKey { key_id, .. }) => {
            usage(store_key::wrong_key(&old_source, &old_id, &key_id))
        }
        e => Failure::Failed(e.to_string()),
    })?;
    outln!(
        "rewrapped {} kept file key(s) from store key {old_id} to {new_id} ({} stored before wrapping now \
         wrapped, {} already under {new_id})",
        done.rewrapped,
        done.wrapped_plain,
        done.unchanged
    );
    for (message_id, idx) in &done.damaged {
        outln!("{message_id} file {idx}: its key is damaged and was left as it is");
    }
    outln!(
        "next: configure {} as the store key ([store] key_file, ${} or the systemd credential), start \
         sekisho, and destroy the old key once no backup of the data directory needs it",
        new.display(),
        store_key::ENV
    );
    Ok(())
}
