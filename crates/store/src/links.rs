//! Download links: the files of a message sent as a link (one sealed copy per message), one
//! link per recipient (its token stored only as a SHA-256), one-time codes, portal sessions,
//! downloads and the audit log of every portal event.

use async_trait::async_trait;
use serde::Serialize;

pub use sekisho_policy::LinkEvent;

use crate::error::StoreError;

/// SHA-256 of a token, cookie or code, hex: what the store keeps instead of it.
pub fn token_hash(token: &str) -> String {
    crate::files::sealed::hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// A random token of `bytes` bytes from the operating system's CSPRNG, URL-safe base64
/// (16 bytes for a link: 128 bits).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; bytes];
    rand::Rng::fill(&mut rand::rngs::OsRng, buf.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

pub use sekisho_policy::Access;

/// One file kept for download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkFile {
    /// Position among the message's files, from 0.
    pub idx: i64,
    /// The name in the file store.
    #[serde(skip)]
    pub file_id: String,
    /// The file's key (hex), never shown.
    #[serde(skip)]
    pub key: String,
    /// The file name as the sender gave it.
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Removed from the file store (expired or revoked everywhere).
    pub purged: bool,
}

/// The file index under which a message's original (`LinkMessage::original`) is kept: its
/// downloads are counted under it too.
pub const ORIGINAL_IDX: i64 = -1;

/// A message whose attachments are kept for download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkMessage {
    pub message_id: String,
    /// Envelope sender.
    pub sender: String,
    /// The message's Subject, decoded.
    pub subject: String,
    /// The message's header From as it reads ("Name <address>"), decoded; empty when it has
    /// none.
    #[serde(default)]
    pub header_from: String,
    /// Unix seconds.
    pub created_at: i64,
    pub files: Vec<LinkFile>,
    /// The whole message as the sender sent it, sealed beside its files (`[portal]
    /// original_download`), for the recipient's `.eml`; stored as file index
    /// [`ORIGINAL_IDX`], never among `files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<LinkFile>,
    /// PHC hash of the message's password (links in password mode), once one was made.
    #[serde(skip)]
    pub password_hash: Option<String>,
}

/// One recipient's link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkRecord {
    pub message_id: String,
    /// The recipient's position in the envelope.
    pub idx: i64,
    pub recipient: String,
    pub access: Access,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
    /// Wrong codes, passwords or passphrases since the last right one.
    pub failures: u32,
    /// Downloads allowed per file.
    pub max_downloads: u32,
    /// PHC hash of the link's password or passphrase (password and passphrase modes).
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// Shown on the page in passphrase mode.
    pub hint: Option<String>,
}

impl LinkRecord {
    /// Locked after `max_failures` wrong codes until the sender unlocks it.
    pub fn locked(&self, max_failures: u32) -> bool {
        self.failures >= max_failures
    }
}

/// A new link for one recipient (replacing any earlier one of the same recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub message_id: String,
    pub idx: i64,
    pub recipient: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    pub access: Access,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_downloads: u32,
    pub secret_hash: Option<String>,
    pub hint: Option<String>,
}

/// A portal session: the cookie a link's token was swapped for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub message_id: String,
    pub idx: i64,
    /// The form token every POST of this session must carry.
    pub csrf: String,
    /// The recipient proved the code or passphrase (always true in mode `none`).
    pub verified: bool,
    pub expires_at: i64,
}

/// One line of the portal's audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortalEvent {
    pub at: i64,
    pub message_id: String,
    /// The recipient's position, when the event concerns one link.
    pub idx: Option<i64>,
    /// What happened.
    pub event: LinkEvent,
    /// The client's address.
    pub client: String,
    pub user_agent: String,
    pub detail: String,
}

/// Whether a code or passphrase was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Accepted; the failure count is back to zero.
    Accepted,
    /// Wrong; this many tries are left before the link locks.
    Wrong { left: u32 },
    /// The link is locked: no try was counted.
    Locked,
}

/// Links, the files kept for download, downloads and the audit log (delivery, portal, CLI).
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Records the message's files once; returns the stored message (an earlier one if the
    /// message already had its files stored, whose files the caller must then discard).
    async fn put_link_message(&self, message: &LinkMessage) -> Result<LinkMessage, StoreError>;
    /// Sets the message's password (its hash) unless it has one; true if this call set it.
    async fn set_message_password(&self, message_id: &str, password_hash: &str) -> Result<bool, StoreError>;
    /// The message's files, if it has any kept.
    async fn link_message(&self, message_id: &str) -> Result<Option<LinkMessage>, StoreError>;
    /// Bytes of files kept and not yet purged, and the `portal_bytes` of undelivered messages
    /// with no files kept yet: of messages from `sender` with `Some`, of all messages with `None`
    /// (the portal's storage quotas).
    async fn kept_bytes(&self, sender: Option<&str>) -> Result<u64, StoreError>;
    /// Creates or replaces one recipient's link.
    async fn put_link(&self, link: &NewLink) -> Result<(), StoreError>;
    /// The link whose token has SHA-256 `token_hash`.
    async fn link_by_token(&self, token_hash: &str) -> Result<Option<LinkRecord>, StoreError>;
    /// One recipient's link.
    async fn link(&self, message_id: &str, idx: i64) -> Result<Option<LinkRecord>, StoreError>;
    /// Every link (of one message with `Some`), newest first.
    async fn links(&self, message_id: Option<&str>) -> Result<Vec<LinkRecord>, StoreError>;
    /// Revokes the links of a message (one recipient's with `Some`); how many changed.
    async fn revoke_links(&self, message_id: &str, idx: Option<i64>) -> Result<u64, StoreError>;
    /// Sets the expiry of a message's links (one recipient's with `Some`); how many changed.
    async fn set_link_expiry(&self, message_id: &str, idx: Option<i64>, expires_at: i64) -> Result<u64, StoreError>;
    /// Clears the failure count of a locked link.
    async fn unlock_link(&self, message_id: &str, idx: i64) -> Result<bool, StoreError>;
    /// Counts a try of a password or passphrase (`right`: whether it matched). The try is
    /// counted before it is judged, so concurrent guesses never pass `max_failures`.
    async fn prove_secret(
        &self,
        message_id: &str,
        idx: i64,
        max_failures: u32,
        right: bool,
    ) -> Result<Proof, StoreError>;
    /// Counts a download of file `file_idx` by recipient `idx` if fewer than `max` were made;
    /// false when the limit is reached.
    async fn count_download(&self, message_id: &str, idx: i64, file_idx: i64, max: u32) -> Result<bool, StoreError>;
    /// Downloads made of each file by recipient `idx`: (file_idx, count).
    async fn downloads(&self, message_id: &str, idx: i64) -> Result<Vec<(i64, u32)>, StoreError>;
    /// Appends to the audit log.
    async fn record_event(&self, event: &PortalEvent) -> Result<(), StoreError>;
    /// The audit log of one message, oldest first.
    async fn events(&self, message_id: &str) -> Result<Vec<PortalEvent>, StoreError>;
    /// Audit log events of one kind at or after `since` (the dashboard: quarantine releases).
    async fn count_events(&self, event: LinkEvent, since: i64) -> Result<u64, StoreError>;
    /// Links working at `now`, and those that expired or were revoked but still expire at or
    /// after `since`, with the downloads through them (the dashboard).
    async fn link_counts(&self, now: i64, since: i64) -> Result<crate::LinkCounts, StoreError>;
    /// Files still kept whose every link (if any was made) has expired or been revoked by
    /// `now`, of messages no longer in the queue (a recipient still to be delivered may get a
    /// link to them): (message_id, file_idx, file_id).
    async fn files_to_purge(&self, now: i64) -> Result<Vec<(String, i64, String)>, StoreError>;
    /// Marks a file removed from the file store.
    async fn mark_purged(&self, message_id: &str, file_idx: i64) -> Result<(), StoreError>;
    /// Messages `sender` sent, newest first, at most `limit`: those whose envelope sender is
    /// `sender`, and with `account`, those submitted under that account. With `search`, only
    /// those with a recipient address, a kept subject or a kept file name containing it
    /// (case-insensitive for ASCII letters; `%` and `_` are plain characters).
    async fn messages_from(
        &self,
        sender: &str,
        account: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::model::MessageSummary>, StoreError>;
    /// Every kept (not purged) file's stored key, for wrapping them with the store key at start
    /// and rewrapping them on `sekisho key rotate` (crates/store/src/files/rewrap.rs).
    async fn file_keys(&self) -> Result<Vec<crate::files::FileKeyRow>, StoreError>;
    /// Replaces stored file keys in one transaction, all or none: fails (changing nothing)
    /// when one of them no longer holds its `old` value.
    async fn replace_file_keys(&self, changes: &[crate::files::FileKeyChange]) -> Result<(), StoreError>;

    // --- One-time codes bound to the portal session that asked for them ---------------------

    /// Issues a one-time code to the session that asked for it, unless the link already had
    /// `max_per_hour` codes issued in the hour before `code.created_at`: the count and the
    /// insert are one transaction, so concurrent requests never pass the limit. The session's
    /// earlier codes stop working. False when the limit is reached.
    async fn issue_code(&self, code: &NewCode, max_per_hour: u32) -> Result<bool, StoreError>;
    /// Checks a one-time code (by hash) for the session `session_hash`: a code works only in
    /// the session that asked for it, once. Right uses it up; wrong counts a try; concurrent
    /// tries never pass `max_failures`.
    async fn use_code(
        &self,
        message_id: &str,
        idx: i64,
        session_hash: &str,
        code_hash: &str,
        now: i64,
        max_failures: u32,
    ) -> Result<Proof, StoreError>;
    /// The recipient's "this wasn't me" (by the report token's SHA-256): once per code, locks
    /// the link (its failure count set to `max_failures`) and ends the session that asked for
    /// the code. The code's request, the first time; None for an unknown or used report token.
    async fn report_code(&self, report_hash: &str, max_failures: u32) -> Result<Option<CodeReport>, StoreError>;
}

/// Portal sessions of recipients and senders, and the console's sign-in links (portal).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a portal session under the SHA-256 of its cookie.
    async fn put_session(&self, id_hash: &str, session: &PortalSession) -> Result<(), StoreError>;
    /// A session that has not expired at `now`.
    async fn session(&self, id_hash: &str, now: i64) -> Result<Option<PortalSession>, StoreError>;
    /// Marks a session verified.
    async fn verify_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Starts a sender console session (under the SHA-256 of its cookie) for `sender`.
    async fn put_console_session(&self, id_hash: &str, session: &ConsoleSession) -> Result<(), StoreError>;
    /// A console session that has not expired at `now`.
    async fn console_session(&self, id_hash: &str, now: i64) -> Result<Option<ConsoleSession>, StoreError>;
    /// Stores a sign-in link (its token's SHA-256) mailed to `address`.
    async fn put_console_login(&self, token_hash: &str, address: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Uses up a sign-in link; the address it was mailed to, if it is valid at `now`.
    async fn use_console_login(&self, token_hash: &str, now: i64) -> Result<Option<String>, StoreError>;
    /// Sign-in links mailed to `address` since `since`.
    async fn console_logins_since(&self, address: &str, since: i64) -> Result<u32, StoreError>;
    // --- Console sessions: sign-out --------------------------------------------------------

    /// Ends a console session (by the SHA-256 of its cookie).
    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError>;
}

/// A one-time code asked for in one portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    pub message_id: String,
    pub idx: i64,
    /// SHA-256 of the cookie of the session that asked for it: the only one it opens.
    pub session_hash: String,
    /// SHA-256 of the code (bound to the link).
    pub code_hash: String,
    /// SHA-256 of the "this wasn't me" token the code mail carries.
    pub report_hash: String,
    /// Who asked (address and browser), as the code mail names them.
    pub client: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A code request the recipient reported as not theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeReport {
    pub message_id: String,
    pub idx: i64,
    /// Who asked for the code (address and browser).
    pub client: String,
    /// When it was asked for (Unix seconds).
    pub created_at: i64,
}

/// Who is signed in to the sender console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The sender address (from a sign-in link) or the submission account name.
    pub sender: String,
    /// Signed in with the submission account's password: its submissions are shown too.
    pub account: bool,
    /// The form token every POST of this session must carry.
    pub csrf: String,
    pub expires_at: i64,
}
