//! Originals withheld from inbound mail: when a sanitised copy stands in for a Danger file
//! (delivered in its place, or kept for download beside a separated message), the original is
//! sealed into the file store like any kept file, never in clear on disk, and recorded here for
//! the administrators only. Nothing a recipient holds (link, classification page, `/d/files`,
//! `/d/all.zip`) reads this table: the originals are not [`crate::LinkFile`]s. The portal's
//! `/sent/originals` pages and `sekisho quarantine originals` both open one through
//! [`open_original`], which writes the audit row first. Retention removes them
//! ([`purge_withheld`], from `QueueControl::purge`).

use async_trait::async_trait;

use crate::error::StoreError;
use crate::files::{FileStore, Unsealer};
use crate::links::{LinkEvent, LinkStore, PortalEvent};
use crate::quarantine::Actor;

/// One original withheld from a message's recipients, sealed in the file store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WithheldOriginal {
    /// The message's queue ID.
    pub message_id: String,
    /// The original's position among the inspection record's files.
    pub idx: i64,
    /// Its name in the file store.
    #[serde(skip)]
    pub file_id: String,
    /// Its key, wrapped by the store key.
    #[serde(skip)]
    pub key: String,
    /// The attachment's name, as the sender wrote it.
    pub name: String,
    /// Its declared content type.
    pub content_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    /// Why it was withheld: its class's reason from the inspection.
    pub reason: String,
    /// The sanitised copy the recipients got in its place: name and SHA-256.
    pub copy_name: String,
    pub copy_sha256: String,
    /// The envelope sender, the header From and the Subject (the body is gone once the
    /// message is delivered).
    pub sender: String,
    pub header_from: String,
    pub subject: String,
    /// The message's recipients.
    pub recipients: Vec<String>,
    /// When the message was received and when the original was kept (unix seconds).
    pub received_at: i64,
    pub kept_at: i64,
}

/// Where the withheld originals are recorded.
#[async_trait]
pub trait OriginalStore: Send + Sync {
    /// Records a message's withheld originals in one transaction; false (nothing recorded)
    /// when the message has some already (an earlier delivery attempt kept them).
    async fn put_withheld(&self, originals: &[WithheldOriginal]) -> Result<bool, StoreError>;
    /// The withheld originals of message `message_id` (of every message with None), the most
    /// recently kept first.
    async fn withheld(&self, message_id: Option<&str>) -> Result<Vec<WithheldOriginal>, StoreError>;
    /// Those kept before `before` whose message is no longer in the queue.
    async fn withheld_before(&self, before: i64) -> Result<Vec<WithheldOriginal>, StoreError>;
    /// Forgets one (its file is removed first).
    async fn forget_withheld(&self, message_id: &str, idx: i64) -> Result<(), StoreError>;
}

/// Why an original could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OriginalError {
    /// No such original (never withheld, or purged).
    #[error("no withheld original {idx} of message {message_id} (see `sekisho quarantine originals`)")]
    NotFound { message_id: String, idx: i64 },
    /// The store or the file store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens original `idx` of message `message_id` for `actor`, an administrator: the audit row
/// ([`LinkEvent::OriginalDownloaded`], with the administrator's name) is written before a byte
/// is read. The file is fetched first when another node kept it ([`FileStore::ensure_local`]);
/// blocking file open inside; the reader streams the plaintext.
pub async fn open_original(
    originals: &dyn OriginalStore,
    audit: &dyn LinkStore,
    files: &FileStore,
    (message_id, idx): (&str, i64),
    actor: &Actor,
    now: i64,
) -> Result<(WithheldOriginal, Unsealer<std::io::BufReader<std::fs::File>>), OriginalError> {
    let found = originals.withheld(Some(message_id)).await?.into_iter().find(|o| o.idx == idx);
    let Some(original) = found else {
        return Err(OriginalError::NotFound { message_id: message_id.to_string(), idx });
    };
    files.ensure_local(&original.file_id).await?;
    let reader = files.reader(&original.file_id, &original.key)?;
    let detail = format!(
        "withheld original \"{}\" ({} bytes, SHA-256 {}) taken {}",
        sekisho_policy::text::visible(&original.name),
        original.size,
        original.sha256,
        actor.by
    );
    tracing::warn!(queue_id = %message_id, by = %actor.by, client = %actor.client, file = idx, "withheld original taken");
    audit
        .record_event(&PortalEvent {
            at: now,
            message_id: message_id.to_string(),
            idx: None,
            event: LinkEvent::OriginalDownloaded,
            client: actor.client.clone(),
            user_agent: actor.user_agent.clone(),
            detail,
        })
        .await?;
    Ok((original, reader))
}

/// Removes the originals kept before `before` whose message has left the queue: file first
/// (and its shared object), then the record. Returns how many.
pub async fn purge_withheld(store: &dyn OriginalStore, files: &FileStore, before: i64) -> Result<u64, StoreError> {
    let mut n = 0;
    for o in store.withheld_before(before).await? {
        files.discard(std::slice::from_ref(&o.file_id)).await?;
        store.forget_withheld(&o.message_id, o.idx).await?;
        n += 1;
    }
    Ok(n)
}
