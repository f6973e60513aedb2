//! An encrypted archive opened with the password the recipient typed: decrypted in memory
//! (`sekisho_inspect::unlock`), each entry opened (`sekisho_inspect::content::open_file`),
//! scanned by the portal's antivirus and classified by the same rules as inbound mail
//! (`sekisho_inbound`), within `[inbound] time_budget` for the scans. The password is used once
//! and dropped: never stored, never logged.

use std::sync::Arc;

use sekisho_config::Config;
use sekisho_inbound::{Antivirus, classify, scan_all};
use sekisho_inspect::content::open_file;
use sekisho_inspect::mime::MessageLimits;
use sekisho_inspect::unlock::{UnlockError, unlock};
use sekisho_policy::inbound::FileClass;

use super::held::Entry;

/// Why an archive gave no entries.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// What `unlock` said (a wrong password among them).
    #[error(transparent)]
    Unlock(#[from] UnlockError),
    /// The decryption thread failed.
    #[error("the archive could not be opened: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Opens `bytes` (the file `name`) with `password`, and classifies every entry; the bytes of
/// the Safe entries are kept with them.
pub async fn open_archive(
    config: &Config,
    antivirus: Arc<dyn Antivirus>,
    name: String,
    bytes: Vec<u8>,
    password: String,
) -> Result<Vec<Entry>, OpenError> {
    let limits = MessageLimits::default().archive;
    let deadline = tokio::time::Instant::now() + config.inbound.time_budget.0;
    let opened = tokio::task::spawn_blocking(move || {
        let unlocked = unlock(&name, &bytes, &password, &limits)?;
        drop(password);
        let nodes = unlocked.iter().map(|u| open_file(&u.path.join("/"), &u.bytes, &limits)).collect::<Vec<_>>();
        Ok::<_, UnlockError>((unlocked, nodes))
    })
    .await??;
    let (unlocked, mut nodes) = opened;
    let scans = scan_all(&mut nodes, antivirus, deadline).await;
    let classified = classify(&nodes, &scans, &config.inbound.danger_content);
    Ok(classified
        .into_iter()
        .zip(unlocked)
        .map(|(file, u)| {
            let bytes = (file.class == FileClass::Safe).then(|| Arc::new(u.bytes));
            Entry { file, bytes }
        })
        .collect())
}
