//! sekisho's spool and queue store.
//!
//! A message is accepted in this order: body to a temp file, fsync, rename into the spool,
//! fsync the directory, then one database transaction with the envelope and every recipient.
//! Only after that may the SMTP server say 250. Many messages share one directory fsync and one
//! transaction (group commit). At start, `Queue::open` makes the spool and the database agree
//! again after a crash. Files kept for download are sealed with a key of their own ([`files`]).

mod committer;
mod error;
pub mod files;
pub mod links;
mod model;
mod purge;
mod queue_id;
mod recovery;
mod spool;
mod sqlite;
mod sqlite_links;
mod store;
pub mod users;

pub use committer::Queue;
pub use error::StoreError;
pub use files::purge_expired_files;
pub use links::{
    Access, CodeReport, ConsoleSession, LinkEvent, LinkFile, LinkMessage, LinkRecord, LinkStore, NewCode, NewLink,
    PortalEvent, PortalSession, Proof,
};
pub use model::{
    Attempt, AttemptOutcome, AttemptRecord, MessageDetail, MessageInfo, MessageSummary, NewMessage, NewRecipient,
    Notice, NoticeKind, Origin, ProbeRecord, RecipientRecord, RecipientState, RecipientUpdate, StsPolicyRecord,
    TlsMemory, UserRecord, Variant,
};
pub use purge::{PurgeCounts, purge_finished};
pub use queue_id::QueueId;
pub use recovery::RecoveryReport;
pub use spool::{FinishedBody, Spool, TempBody};
pub use sqlite::SqliteStore;
pub use store::{Claim, QueueStore};

use std::path::Path;
use std::sync::Arc;

/// Opens the store for reading and administration (CLI), without recovery or the spool lock.
pub async fn open_store(data_dir: &Path) -> Result<Arc<dyn QueueStore>, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io("create the data directory", data_dir, e))?;
    Ok(Arc::new(SqliteStore::open(&data_dir.join("queue.db")).await?))
}
