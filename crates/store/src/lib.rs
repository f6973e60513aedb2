//! sekisho's spool and queue store.
//!
//! A message is accepted in this order: body to a temp file, fsync, rename into the spool,
//! fsync the directory, then one database transaction with the envelope and every recipient.
//! Only after that may the SMTP server say 250. Many messages share one directory fsync and one
//! transaction (group commit). At start, `Queue::open` makes the spool and the database agree
//! again after a crash. Files kept for download are sealed with a key of their own ([`files`]).

pub mod approval;
mod bodies;
mod clock;
mod committer;
mod control;
mod counts;
mod dashboard;
mod direct;
mod dmarc_rows;
mod error;
pub mod files;
mod hand_off;
mod kept;
pub mod links;
pub mod migrate;
mod model;
pub mod objects;
pub mod originals;
mod postgres;
pub mod private;
mod purge;
pub mod quarantine;
mod queue_id;
mod queue_sql;
mod recovery;
mod reports;
mod rows;
mod rows_portal;
mod rules_record;
mod spool;
pub mod spooled;
mod sqlite;
mod sqlite_accounts;
mod sqlite_approval;
mod sqlite_cancel_link;
mod sqlite_dashboard;
mod sqlite_digest;
mod sqlite_health;
mod sqlite_history;
mod sqlite_hold;
mod sqlite_keys;
mod sqlite_links;
mod sqlite_originals;
mod sqlite_partners;
mod sqlite_reports;
mod sqlite_tls;
mod sqlite_writer;
pub mod state;
mod store;
pub mod submit;
pub mod users;

pub use approval::{Approval, ApprovalError, Approver, Decided, Verdict, Who};
pub use clock::Clock;
pub use committer::{DataDirLock, Queue, lock_data_dir};
pub use control::{Command, QueueControl};
pub use counts::Counts;
pub use dashboard::{AssuranceCount, LinkCounts, RecentDelivery};
pub use dmarc_rows::{DkimAuth, DmarcCount, DmarcRow, PublishedDmarc, SpfAuth};
pub use error::StoreError;
pub use files::purge_expired_files;
pub use files::sealed::sha256_hex;
pub use hand_off::Handed;
pub use kept::KeptBody;
pub use links::{
    Access, CodeReport, ConsoleSession, LinkEvent, LinkFile, LinkMessage, LinkRecord, LinkStore, NewCode, NewLink,
    PortalEvent, PortalSession, Proof, SessionStore,
};
pub use model::{
    Attempt, AttemptOutcome, AttemptRecord, Cancellation, FileFinding, Found, HeldMessage, MessageDetail, MessageInfo,
    MessageSummary, NewMessage, NewRecipient, Notice, NoticeKind, Origin, PartnerEvidence, ProbeRecord,
    RecipientRecord, RecipientState, RecipientUpdate, StsPolicyRecord, TlsMemory, UserRecord, Variant,
};
pub use originals::{OriginalError, OriginalStore, WithheldOriginal};
pub use postgres::PgStore;
pub use private::{DIR_MODE, FILE_MODE, Tightened, secure_data_dir};
pub use purge::PurgeCounts;
pub use quarantine::{DigestStore, HeldRecipient, QuarantineError};
pub use queue_id::QueueId;
pub use recovery::RecoveryReport;
pub use reports::{ReceivedKind, ReceivedReport, ReportKind, ReportStore, ReportedPolicy, SentReport, TlsSessionCount};
pub use rules_record::{ApprovalRequest, FiredRule, RuleBanner, RulesRecord};
pub use spool::{FinishedBody, Spool, TempBody};
pub use sqlite::SqliteStore;
pub use sqlite_cancel_link::ByLink;
pub use sqlite_history::WrittenTo;
/// Tests seed data directories through the queue's own writes.
#[cfg(feature = "seeding")]
pub use store::QueueWrites;
pub use store::{AccountStore, Claim, MessageStore, QueueDepth, Stores, TlsStore};
pub use submit::{SubmitReply, Submitted, Submitter};

use std::path::Path;
use std::sync::Arc;

/// Where the queue's state lives (`[store] backend`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// `queue.db` in the data directory.
    Sqlite,
    /// A PostgreSQL database: its URL, this node's name in the claims it takes (stable
    /// across restarts, so a restarted node takes its own unfinished claims back at once),
    /// how long a claim lasts unless renewed (`[store] lease`), and where bodies and sealed
    /// files are shared: the database's `objects` table, or object storage (`[store.objects]`).
    Postgres { url: String, node: String, lease: std::time::Duration, objects: Option<objects::External> },
}

impl Database {
    /// Opens it. Several nodes, each with a data directory of its own, may serve from one
    /// PostgreSQL database: message bodies are shared through it, or through the object
    /// storage given ([`objects`]).
    pub(crate) async fn open(&self, data_dir: &Path) -> Result<store::Opened, StoreError> {
        Ok(match self {
            Database::Sqlite => {
                let backend = Arc::new(SqliteStore::open(&data_dir.join("queue.db")).await?);
                store::Opened { backend, objects: None, objects_in_rows: false }
            }
            Database::Postgres { url, node, lease, objects } => {
                let store = PgStore::open(url).await?.with_claims(node, *lease);
                let store = Arc::new(store);
                let shared: Arc<dyn objects::ObjectStore> = match objects {
                    Some(external) => external.0.clone(),
                    None => store.clone(),
                };
                store::Opened { backend: store, objects: Some(shared), objects_in_rows: objects.is_none() }
            }
        })
    }
}

/// Opens the store for reading and administration (CLI), without recovery or the spool lock:
/// its roles, and the administrator's door to the queue.
pub async fn open_store(data_dir: &Path) -> Result<(Stores, QueueControl), StoreError> {
    open_store_on(data_dir, &Database::Sqlite).await
}

/// Like [`open_store`], with the queue's state in `database`.
pub async fn open_store_on(data_dir: &Path, database: &Database) -> Result<(Stores, QueueControl), StoreError> {
    private::create_dir_all(data_dir).map_err(|e| StoreError::io("create the data directory", data_dir, e))?;
    let opened = database.open(data_dir).await?;
    Ok((Stores::of(&opened), QueueControl::of(&opened, data_dir)))
}
