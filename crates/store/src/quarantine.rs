//! Quarantined inbound mail: the one place where an administrator's release or deletion is
//! checked, applied and written to the audit log (the CLI's `sekisho quarantine` and the
//! portal's administration page both call it), and what the quarantine digest remembers.

use async_trait::async_trait;

use crate::control::{Command, QueueControl};
use crate::error::StoreError;
use crate::links::{LinkEvent, PortalEvent};

/// Who acts on a quarantined message, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The client's address ("local" on the command line).
    pub client: String,
    /// The browser's user agent, or the tool's name.
    pub user_agent: String,
    /// The administrator and where they acted: "by postmaster@corp.test in the console".
    pub by: String,
}

/// Why a quarantine action was not taken.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// No such message, or it is no longer held in quarantine (released or deleted already).
    #[error("no message {0} in quarantine (see `sekisho quarantine list`)")]
    NotInQuarantine(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was done, for the caller's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Released: this many recipients are due now.
    Released(u64),
    /// Deleted with its body.
    Deleted,
}

impl QueueControl {
    /// True when message `id` is an inbound message held in quarantine.
    pub async fn in_quarantine(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.store.quarantined().await?.iter().any(|q| q == id))
    }

    /// Releases a quarantined message (its held recipients become due at `now`, delivered as
    /// they are) or deletes it, and records who did it in the message's audit log.
    pub async fn act_on_quarantined(
        &self,
        id: &str,
        release: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<Done, QuarantineError> {
        if !self.in_quarantine(id).await? {
            return Err(QuarantineError::NotInQuarantine(id.to_string()));
        }
        // Each action takes effect only on recipients still held: of two administrators acting
        // at once (the page and the CLI), the second finds nothing to do and says so.
        let (done, event) = if release {
            match self.apply(Some(id), Command::Release, now).await? {
                0 => return Err(QuarantineError::NotInQuarantine(id.to_string())),
                n => (Done::Released(n), LinkEvent::QuarantineReleased),
            }
        } else {
            if !self.delete_held(id).await? {
                return Err(QuarantineError::NotInQuarantine(id.to_string()));
            }
            (Done::Deleted, LinkEvent::QuarantineDeleted)
        };
        let detail = match done {
            Done::Released(n) => format!("released to {n} recipient(s) {}", actor.by),
            Done::Deleted => format!("deleted {}", actor.by),
        };
        tracing::info!(queue_id = %id, by = %actor.by, client = %actor.client, event = event.as_str(), "quarantine action");
        let event = PortalEvent {
            at: now,
            message_id: id.to_string(),
            idx: None,
            event,
            client: actor.client.clone(),
            user_agent: actor.user_agent.clone(),
            detail,
        };
        self.store.record_event(&event).await?;
        Ok(done)
    }
}

/// One held recipient of a quarantined message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRecipient {
    pub message_id: String,
    pub idx: i64,
    pub address: String,
}

/// What the quarantine digest remembers, so that a restart never tells a recipient twice.
#[async_trait]
pub trait DigestStore: Send + Sync {
    /// Held recipients of quarantined messages that no digest told about yet, oldest
    /// message first.
    async fn untold(&self) -> Result<Vec<HeldRecipient>, StoreError>;
    /// Remembers that these recipients were told (durably, before their mail is queued);
    /// returns those this call marked, leaving out any another run marked first (so two runs
    /// at once never tell anyone twice).
    async fn mark_told(&self, told: &[HeldRecipient], at: i64) -> Result<Vec<HeldRecipient>, StoreError>;
    /// Forgets `mark_told` for recipients whose mail could not be queued.
    async fn unmark_told(&self, told: &[HeldRecipient]) -> Result<(), StoreError>;
    /// Claims the scheduled digest of `slot` (unix seconds of its time of day): true for the
    /// one caller that may send it, false when it was sent already (before a restart).
    async fn claim_digest_slot(&self, slot: i64, now: i64) -> Result<bool, StoreError>;
    /// Gives back the claim of `slot` after its run failed, so that it runs again (the
    /// recipients it told stay marked: nobody is told twice).
    async fn release_digest_slot(&self, slot: i64) -> Result<(), StoreError>;
}
