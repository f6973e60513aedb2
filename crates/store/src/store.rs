//! The store's doors, one role trait per kind of consumer. SQLite implements every role now;
//! a PostgreSQL backend implements the same traits. Consumers hold only the roles they use
//! ([`Stores`]); recipient state is written only through [`crate::Queue`] and
//! [`crate::QueueControl`], whose moves come from the pure table in [`crate::state`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::links::{LinkStore, SessionStore};
use crate::model::{
    MessageDetail, MessageSummary, NewMessage, NoticeKind, ProbeRecord, RecipientUpdate, StsPolicyRecord, TlsMemory,
    UserRecord,
};
use crate::originals::OriginalStore;
use crate::quarantine::DigestStore;
use crate::reports::ReportStore;
use crate::state::Move;

/// A recipient claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub message_id: String,
    pub idx: i64,
}

/// Reading the queue: messages, their recipients and attempt history (delivery, portal, CLI).
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Messages still in the queue (with `include_done`, also finished ones), oldest first.
    async fn list_messages(&self, include_done: bool) -> Result<Vec<MessageSummary>, StoreError>;
    /// One message with its recipients and attempt history.
    async fn message(&self, id: &str) -> Result<Option<MessageDetail>, StoreError>;
    /// One message with its recipients, without the attempt history (for delivery).
    async fn message_without_history(&self, id: &str) -> Result<Option<MessageDetail>, StoreError>;
    /// Messages with a notification still to send.
    async fn messages_with_notices(&self) -> Result<Vec<String>, StoreError>;
    /// (id, size, recipient count) of every message not yet done, for recovery.
    async fn message_sizes(&self) -> Result<Vec<(String, u64, u64)>, StoreError>;
    /// Inbound messages in quarantine (a recipient still held), oldest first.
    async fn quarantined(&self) -> Result<Vec<String>, StoreError>;
    /// Which of `domains` submitted mail has been delivered to (lower case): the domains the
    /// organisation has written to, for the mis-send rules.
    async fn written_domains(&self, domains: &[String]) -> Result<std::collections::BTreeSet<String>, StoreError>;
    /// Whether submitted mail has been delivered to `address` and to its domain (case does not
    /// matter): one indexed lookup, for the `first-contact` finding.
    async fn written_to(&self, address: &str) -> Result<crate::WrittenTo, StoreError>;
    /// Every domain submitted mail has been delivered to (lower case), for the domains a
    /// look-alike may imitate.
    async fn all_written_domains(&self) -> Result<Vec<String>, StoreError>;
    /// Submitted messages a mis-send rule holds at `now` (no attempt yet, due later), of one
    /// sender when given, soonest due first.
    async fn held(&self, now: i64, sender: Option<&str>) -> Result<Vec<crate::model::HeldMessage>, StoreError>;
    /// Messages waiting for an approver's decision (of one sender when given), oldest first.
    async fn awaiting_approval(&self, sender: Option<&str>) -> Result<Vec<crate::Approval>, StoreError>;
    /// Messages waiting for a decision `approver` (any case) may take, oldest first.
    async fn awaiting_approval_of(&self, approver: &str) -> Result<Vec<crate::Approval>, StoreError>;
    /// Message `id`'s approval, asked for or decided, if a rule asked for one.
    async fn approval(&self, id: &str) -> Result<Option<crate::Approval>, StoreError>;
    /// Recipients not yet finished, by state: one indexed count (`/metrics`).
    async fn queue_depth(&self) -> Result<QueueDepth, StoreError>;
    /// When the oldest message with a recipient queued or in delivery (held ones aside) was
    /// received (Unix seconds); None when nothing waits (the dashboard).
    async fn oldest_queued(&self) -> Result<Option<i64>, StoreError>;
    /// The `limit` newest delivery attempts at or before `now`, newest first, of any message
    /// (the dashboard; one range of the attempts' time index).
    async fn recent_deliveries(&self, now: i64, limit: u32) -> Result<Vec<crate::RecentDelivery>, StoreError>;
    /// The recipients of outbound and sekisho's own mail (not inbound) delivered in
    /// [`since`, `until`), counted per bucket of `width` seconds from `since` and the assurance
    /// the session reached (the dashboard's charts; one range of the attempts' time index).
    async fn delivered_by_assurance(
        &self,
        since: i64,
        until: i64,
        width: i64,
    ) -> Result<Vec<crate::AssuranceCount>, StoreError>;
    /// Whether the store takes writes now (`/readyz`).
    async fn check_writable(&self) -> Result<(), StoreError>;
}

/// The recipients of the queue that are not finished, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting for their next attempt.
    pub queued: u64,
    /// Being delivered now.
    pub active: u64,
    /// Held (quarantine, a rule, an approval, an administrator).
    pub held: u64,
}

/// What sekisho knows of other domains' transport: downgrade memory, MTA-STS policies, and
/// the evidence of the last session to each MX address (delivery, the TLS checker).
#[async_trait]
pub trait TlsStore: Send + Sync {
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
    /// The delivery attempts of outbound and sekisho's own mail since `since` (unix seconds)
    /// with their TLS evidence, counted per recipient domain and what the session proved;
    /// `late` marks those at or after `middle` (one statement on the `attempts_at` index).
    async fn partner_evidence(&self, since: i64, middle: i64) -> Result<Vec<crate::PartnerEvidence>, StoreError>;
}

/// Submission accounts (receive's AUTH, the console's sign-in, the CLI).
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Adds or replaces a submission account.
    async fn put_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Removes an account; false if it did not exist.
    async fn delete_user(&self, name: &str) -> Result<bool, StoreError>;
    /// All accounts.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// The PHC password hash of an account.
    async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Binds a sender address (kept in lower case) to an account; false when there is no such
    /// account.
    async fn bind_address(&self, name: &str, address: &str) -> Result<bool, StoreError>;
    /// Removes a bound address; false when it was not bound.
    async fn unbind_address(&self, name: &str, address: &str) -> Result<bool, StoreError>;
    /// The sender addresses bound to an account, in order.
    async fn addresses(&self, name: &str) -> Result<Vec<String>, StoreError>;
}

/// Writing the queue: only `Queue` and `QueueControl` hold this role (other crates can name
/// it only with the `seeding` feature, which tests use to seed a data directory). Every
/// statement is atomic on its own; states move only as [`crate::state::next`] says.
#[async_trait]
pub trait QueueWrites: Send + Sync {
    /// Cancels message `id` ([`crate::state::Move::Cancel`] on every recipient, in one
    /// statement, only when all of them are still queued or held), records `by` and `now`, and
    /// finishes it; false when it was no longer cancellable.
    async fn cancel(&self, id: &str, by: &str, now: i64) -> Result<bool, StoreError>;
    /// Records the decision on message `id`'s approval and acts on it in one transaction: an
    /// approval releases its held recipients (due at the decision's time), a rejection cancels
    /// them and finishes the message. False when no decision was pending or its recipients
    /// were no longer held (cancelled by the sender meanwhile).
    async fn decide_approval(&self, id: &str, d: &crate::Decided) -> Result<bool, StoreError>;
    /// Approvals still pending whose deadline is at or before `now`, oldest deadline first.
    async fn approvals_due(&self, now: i64) -> Result<Vec<crate::Approval>, StoreError>;
    /// Stores a cancel link (the hash of its token) for message `id`, working until `expires_at`.
    async fn put_cancel_link(&self, token_hash: &str, id: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Uses a cancel link at `now`: cancels its message (by "link:SENDER") and uses the link up,
    /// in one transaction, or says why not (nothing written then).
    async fn cancel_by_link(&self, token_hash: &str, now: i64) -> Result<crate::ByLink, StoreError>;
    /// Inserts messages with all their recipients in one transaction: all or none.
    async fn insert_messages(&self, batch: &[NewMessage]) -> Result<(), StoreError>;
    /// Like [`QueueWrites::insert_messages`], storing `bodies` (whole message bodies, by queue
    /// ID) as shared objects in the same transaction, so that one commit makes a message and
    /// its body durable together. Only a store that keeps bodies in its own rows (PostgreSQL
    /// without object storage) takes any: the others refuse a non-empty `bodies`.
    async fn insert_messages_with_bodies(
        &self,
        batch: &[NewMessage],
        bodies: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if !bodies.is_empty() {
            return Err(StoreError::Damaged("this store keeps no message bodies in its rows".into()));
        }
        self.insert_messages(batch).await
    }
    /// Claims up to `limit` queued recipients due at `now` ([`Move::Claim`]), one message's
    /// recipients by one delivery at a time.
    async fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Claim>, StoreError>;
    /// Applies `m` to the recipients it applies to (of one message, or of all with `None`),
    /// making them due at `due` when given; returns how many moved. On a store shared by
    /// several nodes it takes the claim's lock on each message it changes first.
    async fn apply_move(&self, id: Option<&str>, m: Move, due: Option<i64>) -> Result<u64, StoreError>;
    /// Extends this node's claims on recipients `idxs` of message `id` by a whole lease from
    /// now, by the store's clock; returns those still claimed by this node, in order. One
    /// missing was taken over by another node after its lease ran out (or left delivery: held,
    /// or its outcome recorded). A store serving one node (SQLite) has no lease: nothing is
    /// written and every one is still this node's.
    async fn renew_claims(&self, id: &str, idxs: &[i64]) -> Result<Vec<i64>, StoreError>;
    /// How long a claim lasts unless renewed, when claims lapse at all (a store shared by
    /// several nodes); `None` on a store serving one node, whose claims last until recovery.
    fn claim_lease(&self) -> Option<std::time::Duration>;
    /// Records attempts and each recipient's outcome ([`Move::Outcome`]) with the notice it
    /// calls for, and marks done the messages they finish (atomic statements in an order where
    /// a crash between them is harmless; on SQLite one transaction); returns the IDs of the
    /// messages finished.
    async fn record_outcomes(&self, updates: &[RecipientUpdate], now: i64) -> Result<Vec<String>, StoreError>;
    /// Marks the message done when every recipient is delivered or bounced; true if it is.
    async fn finish_if_done(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Marks done every finished message not yet marked (after a crash); returns their IDs.
    async fn finish_all_done(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Forgets the pending notifications of one kind for these recipients, once sent.
    async fn clear_notices(&self, id: &str, kind: NoticeKind, idxs: &[i64]) -> Result<(), StoreError>;
    /// Makes every earlier write durable (delivery progress included).
    async fn make_durable(&self) -> Result<(), StoreError>;
    /// Removes what retention no longer keeps, older than `before` (see `crate::purge`).
    async fn purge_finished(&self, before: i64) -> Result<(crate::PurgeCounts, Vec<String>), StoreError>;
    /// Removes a message and its recipients.
    async fn delete_message(&self, id: &str) -> Result<bool, StoreError>;
    /// Removes a message and its recipients only while every recipient is held (so a message
    /// released meanwhile, its delivery under way, stays).
    async fn delete_held_message(&self, id: &str) -> Result<bool, StoreError>;
}

/// Everything a backend implements.
pub(crate) trait Backend:
    MessageStore
    + QueueWrites
    + TlsStore
    + AccountStore
    + LinkStore
    + SessionStore
    + DigestStore
    + OriginalStore
    + ReportStore
{
}

impl<T> Backend for T where
    T: MessageStore
        + QueueWrites
        + TlsStore
        + AccountStore
        + LinkStore
        + SessionStore
        + DigestStore
        + OriginalStore
        + ReportStore
{
}

/// The public roles of one backend, each handed to the consumers that need it.
#[derive(Clone)]
pub struct Stores {
    pub messages: Arc<dyn MessageStore>,
    pub tls: Arc<dyn TlsStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub links: Arc<dyn LinkStore>,
    pub sessions: Arc<dyn SessionStore>,
    /// What the quarantine digest told whom.
    pub digests: Arc<dyn DigestStore>,
    /// Originals withheld in favour of their sanitised copies, for the administrators.
    pub originals: Arc<dyn OriginalStore>,
    /// TLS sessions counted for TLS-RPT, and the reports sent.
    pub reports: Arc<dyn ReportStore>,
    /// Where bodies and sealed files are shared with the other nodes: `None` on SQLite, whose
    /// node keeps them in its data directory alone.
    pub objects: Option<Arc<dyn crate::objects::ObjectStore>>,
}

/// A backend as opened: its roles, and its shared objects when it has them.
pub(crate) struct Opened {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) objects: Option<Arc<dyn crate::objects::ObjectStore>>,
    /// The shared objects are rows of the backend itself (PostgreSQL's `objects` table): a
    /// received body can be committed in its message's transaction
    /// ([`QueueWrites::insert_messages_with_bodies`]).
    pub(crate) objects_in_rows: bool,
}

impl Stores {
    pub(crate) fn of(opened: &Opened) -> Stores {
        let backend = &opened.backend;
        Stores {
            messages: backend.clone(),
            tls: backend.clone(),
            accounts: backend.clone(),
            links: backend.clone(),
            sessions: backend.clone(),
            digests: backend.clone(),
            originals: backend.clone(),
            reports: backend.clone(),
            objects: opened.objects.clone(),
        }
    }
}
