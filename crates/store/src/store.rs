//! The queue store API (the link store's too); SQLite implements it now, PostgreSQL later.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{
    MessageDetail, MessageSummary, NewMessage, NoticeKind, ProbeRecord, RecipientState, RecipientUpdate,
    StsPolicyRecord, TlsMemory, UserRecord,
};

/// A recipient claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub message_id: String,
    pub idx: i64,
}

/// Metadata of the queue: messages, recipients with their states, users.
#[async_trait]
pub trait QueueStore: crate::links::LinkStore + Send + Sync {
    /// Inserts messages with all their recipients in one transaction: all or none.
    async fn insert_messages(&self, batch: &[NewMessage]) -> Result<(), StoreError>;
    /// Messages still in the queue (with `include_done`, also finished ones), oldest first.
    async fn list_messages(&self, include_done: bool) -> Result<Vec<MessageSummary>, StoreError>;
    /// One message with its recipients and attempt history.
    async fn message(&self, id: &str) -> Result<Option<MessageDetail>, StoreError>;
    /// One message with its recipients, without the attempt history (for delivery).
    async fn message_without_history(&self, id: &str) -> Result<Option<MessageDetail>, StoreError>;
    /// Claims up to `limit` queued recipients due at `now` (state becomes active).
    async fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Claim>, StoreError>;
    /// Makes every claimed recipient due again (after a crash); returns how many.
    async fn release_claims(&self) -> Result<u64, StoreError>;
    /// Records attempts and new recipient states, and marks done the messages they finish,
    /// all in one transaction; returns the IDs of the messages finished.
    async fn record_outcomes(&self, updates: &[RecipientUpdate], now: i64) -> Result<Vec<String>, StoreError>;
    /// Marks the message done when every recipient is delivered or bounced; true if it is.
    async fn finish_if_done(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Marks done every finished message not yet marked (after a crash); returns their IDs.
    async fn finish_all_done(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Forgets the pending notifications of one kind for these recipients, once sent.
    async fn clear_notices(&self, id: &str, kind: NoticeKind, idxs: &[i64]) -> Result<(), StoreError>;
    /// The downgrade memory of every domain.
    async fn tls_memory(&self) -> Result<Vec<TlsMemory>, StoreError>;
    /// Stores one domain's downgrade memory.
    async fn remember_tls(&self, memory: &TlsMemory) -> Result<(), StoreError>;
    /// Every cached MTA-STS policy.
    async fn sts_policies(&self) -> Result<Vec<StsPolicyRecord>, StoreError>;
    /// Stores (replaces) a domain's MTA-STS policy.
    async fn remember_sts_policy(&self, policy: &StsPolicyRecord) -> Result<(), StoreError>;
    /// Stores (replaces) the evidence of the last session to one MX address.
    async fn record_probe(&self, probe: &ProbeRecord) -> Result<(), StoreError>;
    /// The stored sessions to `host` since `since` (unix seconds).
    async fn probes(&self, host: &str, since: i64) -> Result<Vec<ProbeRecord>, StoreError>;
    /// Makes every earlier write durable (delivery progress included).
    async fn make_durable(&self) -> Result<(), StoreError>;
    /// Messages with a notification still to send.
    async fn messages_with_notices(&self) -> Result<Vec<String>, StoreError>;
    /// Moves recipients in state `from` to `to` (of one message, or of all with `None`),
    /// making them due at `due` when given; returns how many moved. Hold, release, retry, flush.
    async fn transition(
        &self,
        id: Option<&str>,
        from: RecipientState,
        to: RecipientState,
        due: Option<i64>,
    ) -> Result<u64, StoreError>;
    /// (id, size, recipient count) of every message not yet done, for recovery.
    async fn message_sizes(&self) -> Result<Vec<(String, u64, u64)>, StoreError>;
    /// Removes what retention no longer keeps, older than `before` (unix seconds): finished
    /// messages with their recipients and attempts, kept-file records whose links are all over,
    /// audit rows. Returns the counts and the IDs of the messages removed (whose bodies the
    /// caller removes: see `purge_finished`).
    async fn purge_finished(&self, before: i64) -> Result<(crate::PurgeCounts, Vec<String>), StoreError>;
    /// Removes a message and its recipients.
    async fn delete_message(&self, id: &str) -> Result<bool, StoreError>;
    /// Adds or replaces a submission account.
    async fn put_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Removes an account; false if it did not exist.
    async fn delete_user(&self, name: &str) -> Result<bool, StoreError>;
    /// All accounts.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// The PHC password hash of an account.
    async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError>;
}
