//! The SQLite queue store: WAL, synchronous=FULL, busy_timeout.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::StoreError;
use crate::model::{
    Attempt, AttemptRecord, MessageDetail, MessageSummary, NewMessage, NoticeKind, RecipientState, RecipientUpdate,
};
use crate::rows;
use crate::sqlite_writer::{WriteConn, Writer};
use crate::state::Move;
use crate::store::{Claim, MessageStore, QueueWrites};

/// Schema changes in order; `PRAGMA user_version` counts how many are applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
    sender TEXT NOT NULL,
    size INTEGER NOT NULL,
    ret TEXT,
    envid TEXT,
    smtputf8 INTEGER NOT NULL,
    body_8bit INTEGER NOT NULL,
    client_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    listener TEXT NOT NULL,
    auth_user TEXT,
    tls TEXT
);
CREATE TABLE recipients (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    orcpt TEXT,
    notify TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_reply TEXT,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX recipients_due ON recipients (state, next_attempt_at);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE messages ADD COLUMN origin TEXT NOT NULL DEFAULT 'submission';
ALTER TABLE messages ADD COLUMN done_at INTEGER;
ALTER TABLE recipients ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_pending ON messages (done_at);
CREATE TABLE attempts (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    at INTEGER NOT NULL,
    host TEXT NOT NULL,
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    reply TEXT NOT NULL,
    tls TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id);
"#,
    r#"
ALTER TABLE recipients ADD COLUMN notice TEXT;
ALTER TABLE recipients ADD COLUMN notice_status TEXT;
"#,
    r#"
ALTER TABLE attempts ADD COLUMN evidence TEXT;
"#,
    r#"
CREATE TABLE tls_memory (
    domain TEXT PRIMARY KEY,
    secure_sessions INTEGER NOT NULL,
    last_secure_at INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE tls_memory ADD COLUMN authenticated_sessions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tls_memory ADD COLUMN last_authenticated_at INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
DROP TABLE tls_memory;
CREATE TABLE tls_memory (
    domain TEXT NOT NULL,
    host TEXT NOT NULL,
    secure_sessions INTEGER NOT NULL,
    last_secure_at INTEGER NOT NULL,
    authenticated_sessions INTEGER NOT NULL,
    last_authenticated_at INTEGER NOT NULL,
    PRIMARY KEY (domain, host)
);
"#,
    r#"
CREATE TABLE sts_policies (
    domain TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE tls_probes (
    host TEXT NOT NULL,
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    at INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (host, ip, port)
);
"#,
    r#"
ALTER TABLE attempts ADD COLUMN variant TEXT;
ALTER TABLE attempts ADD COLUMN variant_reason TEXT;
CREATE TABLE link_messages (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE link_files (
    message_id TEXT NOT NULL REFERENCES link_messages(message_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    file_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    purged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, idx)
);
CREATE TABLE links (
    message_id TEXT NOT NULL REFERENCES link_messages(message_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    access TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    max_downloads INTEGER NOT NULL,
    secret_hash TEXT,
    hint TEXT,
    PRIMARY KEY (message_id, idx)
);
CREATE TABLE link_codes (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    code_hash TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx),
    FOREIGN KEY (message_id, idx) REFERENCES links(message_id, idx) ON DELETE CASCADE
);
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    csrf TEXT NOT NULL,
    verified INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (message_id, idx) REFERENCES links(message_id, idx) ON DELETE CASCADE
);
CREATE TABLE link_downloads (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    file_idx INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx, file_idx)
);
CREATE TABLE portal_events (
    at INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    idx INTEGER,
    event TEXT NOT NULL,
    client TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX portal_events_message ON portal_events (message_id);
"#,
    r#"
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    account INTEGER NOT NULL,
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE console_logins (
    token_hash TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX messages_sender ON messages (sender COLLATE NOCASE);
CREATE INDEX messages_auth_user ON messages (auth_user);
"#,
    r#"
ALTER TABLE link_messages ADD COLUMN password_hash TEXT;
"#,
    r#"
ALTER TABLE messages ADD COLUMN attachments INTEGER;
"#,
    // What inspection at submission found, file by file (JSON); `attachments` is no longer
    // written.
    r#"
ALTER TABLE messages ADD COLUMN findings TEXT;
"#,
    // One-time codes bound to the portal session that asked for them; rows stay (used or
    // expired) for the per-link hourly count and the recipient's "this wasn't me" report.
    r#"
DROP TABLE link_codes;
CREATE TABLE link_session_codes (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    session_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    report_hash TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (message_id, idx) REFERENCES links(message_id, idx) ON DELETE CASCADE
);
CREATE INDEX link_session_codes_link ON link_session_codes (message_id, idx, created_at);
"#,
    // The TLS level every hop of one message needs at least (sekisho's own code mails under
    // `[portal] code_min_assurance`); NULL: only what `[outbound]` requires.
    r#"
ALTER TABLE messages ADD COLUMN required_tls TEXT;
"#,
    // What inbound protection found and did (JSON).
    r#"
ALTER TABLE messages ADD COLUMN inspection TEXT;
"#,
    // The header From of a message whose files are kept (the classification page's route
    // information: the body is removed once the message is delivered).
    r#"
ALTER TABLE link_messages ADD COLUMN header_from TEXT NOT NULL DEFAULT '';
"#,
    // The quarantine digest: which held recipients were told, and which scheduled digests ran
    // (so that a restart never sends one twice).
    r#"
CREATE TABLE quarantine_digests (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    told_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx)
);
CREATE TABLE quarantine_digest_runs (
    slot INTEGER PRIMARY KEY,
    ran_at INTEGER NOT NULL
);
"#,
    // Originals withheld from inbound mail in favour of their sanitised copy, sealed for the
    // administrators only (`originals.rs`).
    r#"
CREATE TABLE withheld_originals (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    file_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    copy_name TEXT NOT NULL,
    copy_sha256 TEXT NOT NULL,
    sender TEXT NOT NULL,
    header_from TEXT NOT NULL,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    kept_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx)
);
"#,
    // Delivered recipients by domain, for the mis-send rules' first-time domains
    // (`sqlite_history.rs` `DOMAIN_OF`). Partial: a recipient enters it once, when delivered,
    // so the queue's other moves never touch it.
    r#"
CREATE INDEX recipients_domain ON recipients (lower(substr(address, instr(address, '@') + 1)))
    WHERE state = 'delivered';
"#,
    // What the mis-send rules decided at submission (JSON).
    r#"
ALTER TABLE messages ADD COLUMN rules TEXT;
"#,
    // Who cancelled a held message, and when (`sqlite_hold.rs`).
    r#"
CREATE TABLE cancellations (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    by TEXT NOT NULL,
    at INTEGER NOT NULL
);
"#,
    // The sender addresses bound to each submission account (`[senders] bind_to_accounts`).
    r#"
CREATE TABLE user_addresses (
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (name, address)
);
"#,
    // Who really sent an inbound message: authentication results and findings (JSON).
    r#"
ALTER TABLE messages ADD COLUMN sender_record TEXT;
"#,
    // TLS sessions per day and recipient domain, for TLS-RPT reports (`sqlite_reports.rs`);
    // `failure` is empty for a successful session.
    r#"
CREATE TABLE tls_sessions (
    day TEXT NOT NULL,
    domain TEXT NOT NULL,
    policy_type TEXT NOT NULL,
    policy_strings TEXT NOT NULL,
    mx_patterns TEXT NOT NULL,
    mx_host TEXT NOT NULL,
    receiving_ip TEXT NOT NULL,
    failure TEXT NOT NULL,
    detail TEXT,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, domain, policy_type, policy_strings, mx_patterns, mx_host, receiving_ip, failure)
);
CREATE TABLE sent_reports (
    domain TEXT NOT NULL,
    day TEXT NOT NULL,
    destination TEXT NOT NULL,
    report_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (domain, day, destination)
);
"#,
    // Reports other organisations sent about ours (`sqlite_reports.rs`): TLS-RPT and DMARC.
    r#"
CREATE TABLE received_reports (
    kind TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    begin_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    good INTEGER NOT NULL,
    bad INTEGER NOT NULL,
    failures TEXT NOT NULL,
    report TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (kind, organization, report_id)
);
CREATE INDEX received_reports_at ON received_reports (received_at);
"#,
    // Which DKIM signatures each attempt's data carried, or why none.
    r#"
ALTER TABLE attempts ADD COLUMN dkim TEXT;
"#,
    // Unfinished messages by sender, for one sender's held list (`sqlite_hold.rs` `held_sql`):
    // the console's /sent page reads that sender's rows only, however many others are held.
    r#"
CREATE INDEX messages_pending_sender ON messages (sender COLLATE NOCASE) WHERE done_at IS NULL;
"#,
    // Messages a rule holds for an approver (`sqlite_approval.rs`): the request, written with
    // the message in one transaction, and the decision (who, when, why) once taken.
    r#"
CREATE TABLE approvals (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    approvers TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    release_on_timeout INTEGER NOT NULL,
    approved INTEGER,
    by TEXT,
    at INTEGER,
    comment TEXT
);
CREATE INDEX approvals_pending ON approvals (deadline) WHERE approved IS NULL;
"#,
    // Single-use cancel links mailed to the senders of held messages (`sqlite_cancel_link.rs`):
    // the token's hash only.
    r#"
CREATE TABLE cancel_links (
    token_hash TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
"#,
    // What the sender asked of the transport (RFC 8689): 'requiretls' (MAIL FROM REQUIRETLS)
    // or 'tls-required-no' (a `TLS-Required: No` field honoured); NULL: neither.
    r#"
ALTER TABLE messages ADD COLUMN sender_tls TEXT;
"#,
    // `sekisho partners` reads a window of attempts by time.
    r#"
CREATE INDEX attempts_at ON attempts (at);
"#,
    // DMARC aggregate reports sekisho sends (`sqlite_reports.rs`): the day's rows, one per
    // policy domain and like messages (the row as JSON), and the record of sent reports gains
    // the kind of report, so a TLS and a DMARC report to the same address are apart.
    r#"
CREATE TABLE dmarc_rows (
    day TEXT NOT NULL,
    domain TEXT NOT NULL,
    row TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, domain, row)
);
CREATE TABLE sent_reports_kinds (
    kind TEXT NOT NULL,
    domain TEXT NOT NULL,
    day TEXT NOT NULL,
    destination TEXT NOT NULL,
    report_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (kind, domain, day, destination)
);
INSERT INTO sent_reports_kinds (kind, domain, day, destination, report_id, at, status)
    SELECT 'tls', domain, day, destination, report_id, at, status FROM sent_reports;
DROP TABLE sent_reports;
ALTER TABLE sent_reports_kinds RENAME TO sent_reports;
"#,
    // Who S/MIME-signed each attempt's data, or why nobody did.
    r#"
ALTER TABLE attempts ADD COLUMN smime TEXT;
"#,
    // A link message may keep the whole original message beside its files (`link_files` row
    // of index -1, `[portal] original_download`). A version before this step would list that
    // row as a file: this step makes such versions refuse the database (`SchemaTooNew`).
    r#"
CREATE INDEX link_files_original ON link_files (message_id) WHERE idx < 0;
"#,
    // What a submitted message may make the portal keep until it is delivered (its files, and
    // the original beside them): the storage quotas count it while the message is undelivered.
    r#"
ALTER TABLE messages ADD COLUMN portal_bytes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_portal_pending ON messages (sender) WHERE done_at IS NULL AND portal_bytes > 0;
"#,
    // The administrator's dashboard (`sqlite_dashboard.rs`) counts the links of a window by
    // their expiry and the quarantine releases of a window in the audit log.
    r#"
CREATE INDEX links_expires ON links (expires_at);
CREATE INDEX portal_events_event ON portal_events (event, at);
"#,
    // The dashboard's oldest waiting message is read in arrival order among the unfinished
    // ones (`sqlite_dashboard.rs`), never by scanning every queued recipient.
    r#"
DROP INDEX messages_pending;
CREATE INDEX messages_pending ON messages (done_at, received_at);
"#,
];

use crate::queue_sql::{
    ATTEMPT_COLUMNS, FINAL, MESSAGE_COLUMNS, OUTCOME_COLUMNS, RECIPIENT_COLUMNS, bind_attempt, bind_message,
    bind_outcome, bind_recipient, column_count, outcome_sql,
};
pub(crate) use crate::queue_sql::{FINISHED, move_sql};

/// SQLite's bound variables per statement.
const MAX_VARIABLES: usize = 32766;
/// Rows per multi-row statement, within [`MAX_VARIABLES`]: computed from each row's columns
/// (the "done" UPDATE binds its time besides one id per message).
const MESSAGE_ROWS_PER_INSERT: usize = MAX_VARIABLES / column_count(MESSAGE_COLUMNS);
const RECIPIENT_ROWS_PER_INSERT: usize = MAX_VARIABLES / column_count(RECIPIENT_COLUMNS);
const ATTEMPT_ROWS_PER_INSERT: usize = MAX_VARIABLES / column_count(ATTEMPT_COLUMNS);
const UPDATE_ROWS_PER_STATEMENT: usize = MAX_VARIABLES / column_count(OUTCOME_COLUMNS);

/// Queue store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The single write connection ([`Writer`]: no pool, so no ping around each use).
    pub(crate) writer: Arc<Writer>,
    /// Connections for reads (WAL lets them run beside the writer).
    pub(crate) reader: SqlitePool,
}

impl SqliteStore {
    /// The details of SQLite's plan for `sql`, for tests that check an index is used (its
    /// parameters left unbound: the plan does not depend on their values).
    #[cfg(test)]
    pub(crate) async fn query_plan(&self, sql: &str) -> Vec<String> {
        sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&self.reader)
            .await
            .expect("a plan")
            .iter()
            .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
            .collect()
    }

    /// Opens (creating if needed) the database at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the
        // database file's permissions.
        crate::private::open_or_create(path).map_err(|e| StoreError::io("open", path, e))?;
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        // One writer: SQLite takes one write transaction at a time, and writers queued on its
        // lock wait without the busy handler's sleeps.
        let writer = Writer::open(&options).await?;
        migrate(&mut *writer.lock().await?).await?;
        // A reader is not pinged before each use: a local connection's thread does not go away
        // (a ping is a round trip to it).
        let reader =
            SqlitePoolOptions::new().max_connections(8).test_before_acquire(false).connect_with(options).await?;
        Ok(SqliteStore { writer: Arc::new(writer), reader })
    }

    /// The write connection, set to the durability the operation needs (see
    /// [`WriteConn::durability`]): FULL (fsync at commit) for what was acknowledged to a client
    /// or typed by an administrator; NORMAL for delivery progress (claims, outcomes, done).
    pub(crate) async fn write_conn(&self, durable: bool) -> Result<WriteConn<'_>, StoreError> {
        let mut conn = self.writer.lock().await?;
        conn.set_durability(durable).await?;
        Ok(conn)
    }

    /// Closes the database's connections (before its files are copied or opened again).
    pub(crate) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

async fn migrate(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *conn).await?;
    // A database a newer version has migrated is never used by an older one: its new columns
    // and states would be ignored or damaged.
    if applied > MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaTooNew { found: applied, known: MIGRATIONS.len() });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(step).execute(&mut *tx).await?;
        sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1)).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}

pub(crate) use crate::queue_sql::SUMMARY_SELECT;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn queue_depth(&self) -> Result<crate::store::QueueDepth, StoreError> {
        self.queue_depth_of().await
    }

    async fn oldest_queued(&self) -> Result<Option<i64>, StoreError> {
        self.oldest_queued_of().await
    }

    async fn recent_deliveries(&self, now: i64, limit: u32) -> Result<Vec<crate::RecentDelivery>, StoreError> {
        self.recent_deliveries_of(now, limit).await
    }

    async fn delivered_by_assurance(
        &self,
        since: i64,
        until: i64,
        width: i64,
    ) -> Result<Vec<crate::AssuranceCount>, StoreError> {
        self.delivered_by_assurance_of(since, until, width).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.check_writable_of().await
    }

    async fn written_domains(&self, domains: &[String]) -> Result<std::collections::BTreeSet<String>, StoreError> {
        self.written_domains_of(domains).await
    }

    async fn written_to(&self, address: &str) -> Result<crate::WrittenTo, StoreError> {
        self.written_to_of(address).await
    }

    async fn all_written_domains(&self) -> Result<Vec<String>, StoreError> {
        self.all_written_domains_of().await
    }

    async fn held(&self, now: i64, sender: Option<&str>) -> Result<Vec<crate::model::HeldMessage>, StoreError> {
        self.held_messages(now, sender).await
    }

    async fn awaiting_approval(&self, sender: Option<&str>) -> Result<Vec<crate::Approval>, StoreError> {
        self.pending_approvals(sender).await
    }

    async fn awaiting_approval_of(&self, approver: &str) -> Result<Vec<crate::Approval>, StoreError> {
        self.pending_approvals_of(approver).await
    }

    async fn approval(&self, id: &str) -> Result<Option<crate::Approval>, StoreError> {
        self.approval_of(id).await
    }

    async fn list_messages(&self, include_done: bool) -> Result<Vec<MessageSummary>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SUMMARY_SELECT} WHERE ? OR m.done_at IS NULL GROUP BY m.id ORDER BY m.received_at, m.id"
        ))
        .bind(include_done)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(crate::rows::summary).collect())
    }

    async fn message(&self, id: &str) -> Result<Option<MessageDetail>, StoreError> {
        let Some(mut detail) = self.message_without_history(id).await? else { return Ok(None) };
        detail.cancelled = self.cancellation_of(id).await?;
        detail.approval = self.approval_of(id).await?;
        let rows = sqlx::query(
            "SELECT a.*, r.address FROM attempts a JOIN recipients r ON r.message_id = a.message_id AND r.idx = a.idx \
             WHERE a.message_id = ? ORDER BY a.rowid",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        for r in &rows {
            detail.attempts.push(AttemptRecord { recipient: r.get("address"), attempt: rows::attempt(r) });
        }
        Ok(Some(detail))
    }

    async fn message_without_history(&self, id: &str) -> Result<Option<MessageDetail>, StoreError> {
        // One query: the message's columns come with each of its recipients.
        let rows = sqlx::query(
            "SELECT m.*, r.idx, r.address, r.orcpt, r.notify, r.state, r.attempts, r.next_attempt_at, \
             r.last_reply, r.delay_warned, r.notice, r.notice_status \
             FROM messages m LEFT JOIN recipients r ON r.message_id = m.id WHERE m.id = ? ORDER BY r.idx",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        let Some(m) = rows.first() else { return Ok(None) };
        let rows: Vec<&sqlx::sqlite::SqliteRow> =
            rows.iter().filter(|r| r.try_get::<Option<i64>, _>("idx").ok().flatten().is_some()).collect();
        let recipients = rows.iter().map(|r| rows::recipient(*r, id)).collect::<Result<Vec<_>, _>>()?;
        let attempts = Vec::new();
        let info = rows::message_info(m)?;
        Ok(Some(MessageDetail {
            info,
            done_at: m.get("done_at"),
            recipients,
            attempts,
            cancelled: None,
            approval: None,
        }))
    }

    async fn quarantined(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id FROM messages m WHERE m.done_at IS NULL \
             AND (json_extract(m.inspection, '$.action') = 'quarantined' \
                  OR json_extract(m.sender_record, '$.authentication.dmarc_action') LIKE 'quarantine:%') \
             AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state = 'held') \
             ORDER BY m.received_at, m.id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    async fn messages_with_notices(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT message_id FROM recipients WHERE notice IS NOT NULL")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| r.get("message_id")).collect())
    }

    async fn message_sizes(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, m.size, (SELECT COUNT(*) FROM recipients r WHERE r.message_id = m.id) AS n \
             FROM messages m WHERE m.done_at IS NULL",
        )
        .fetch_all(&self.reader)
        .await?;
        // A row damaged on disk (size not a number) reads as size u64::MAX: recovery quarantines
        // it instead of failing to start.
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id: String = r.try_get("id").ok()?;
                let size = r.try_get::<i64, _>("size").map_or(u64::MAX, |s| s as u64);
                Some((id, size, r.try_get::<i64, _>("n").unwrap_or(0) as u64))
            })
            .collect())
    }
}

#[async_trait]
impl QueueWrites for SqliteStore {
    async fn cancel(&self, id: &str, by: &str, now: i64) -> Result<bool, StoreError> {
        self.cancel_message(id, by, now).await
    }

    async fn decide_approval(&self, id: &str, d: &crate::Decided) -> Result<bool, StoreError> {
        self.record_approval(id, d).await
    }

    async fn approvals_due(&self, now: i64) -> Result<Vec<crate::Approval>, StoreError> {
        self.expired_approvals(now).await
    }

    async fn put_cancel_link(&self, token_hash: &str, id: &str, expires_at: i64) -> Result<(), StoreError> {
        self.insert_cancel_link(token_hash, id, expires_at).await
    }

    async fn cancel_by_link(&self, token_hash: &str, now: i64) -> Result<crate::ByLink, StoreError> {
        self.use_cancel_link(token_hash, now).await
    }

    async fn insert_messages(&self, batch: &[NewMessage]) -> Result<(), StoreError> {
        // One request to the writer's thread: the durability, the transaction and its
        // multi-row INSERTs (two for the whole batch, however many messages it holds).
        let mut conn = self.writer.lock().await?;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(conn.durability(true));
        q.push("BEGIN IMMEDIATE");
        for chunk in batch.chunks(MESSAGE_ROWS_PER_INSERT) {
            q.push(format!("; INSERT INTO messages ({MESSAGE_COLUMNS}) "));
            q.push_values(chunk, |mut b, m| bind_message!(b, m));
        }
        let rows: Vec<(&NewMessage, usize)> =
            batch.iter().flat_map(|m| (0..m.recipients.len()).map(move |idx| (m, idx))).collect();
        for chunk in rows.chunks(RECIPIENT_ROWS_PER_INSERT) {
            q.push(format!("; INSERT INTO recipients ({RECIPIENT_COLUMNS}) "));
            q.push_values(chunk, |mut b, (m, idx)| bind_recipient!(b, m, *idx));
        }
        for m in batch {
            if let Some(a) = m.info.rules.as_ref().and_then(|r| r.approval.as_ref()) {
                q.push("; ");
                crate::sqlite_approval::push_request(&mut q, &m.info.id, a);
            }
        }
        q.push("; COMMIT");
        conn.transaction(q.build()).await?;
        Ok(())
    }

    async fn claim_due(&self, now: i64, limit: u32) -> Result<Vec<Claim>, StoreError> {
        let (set, from) = move_sql("state", Move::Claim);
        let sql = format!(
            // A message whose delivery is under way is not claimed again until it ends: one
            // task per message at a time.
            "UPDATE recipients SET state = {set} WHERE rowid IN (SELECT rowid FROM recipients r \
             WHERE state IN ({from}) AND next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM recipients a \
             WHERE a.message_id = r.message_id AND a.state = '{active}') ORDER BY next_attempt_at LIMIT ?) \
             RETURNING message_id, idx",
            active = RecipientState::Active.as_str()
        );
        // The durability and the claim in one request to the writer's thread.
        let mut conn = self.writer.lock().await?;
        let sql = format!("{}{sql}", conn.durability(false));
        let rows = sqlx::query(&sql).bind(now).bind(limit as i64).fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(|r| Claim { message_id: r.get("message_id"), idx: r.get("idx") }).collect())
    }

    async fn apply_move(&self, id: Option<&str>, m: Move, due: Option<i64>) -> Result<u64, StoreError> {
        let (set, from) = move_sql("state", m);
        let sql = format!(
            "UPDATE recipients SET state = {set}, next_attempt_at = COALESCE(?, next_attempt_at) \
             WHERE state IN ({from}) AND (? IS NULL OR message_id = ?)"
        );
        let done = sqlx::query(&sql).bind(due).bind(id).bind(id).execute(&mut *self.write_conn(true).await?).await?;
        Ok(done.rows_affected())
    }

    async fn renew_claims(&self, _id: &str, idxs: &[i64]) -> Result<Vec<i64>, StoreError> {
        // One node: no other takes a claim over, so a claim needs no lease.
        let mut held = idxs.to_vec();
        held.sort_unstable();
        Ok(held)
    }

    fn claim_lease(&self) -> Option<std::time::Duration> {
        None
    }

    async fn record_outcomes(&self, updates: &[RecipientUpdate], now: i64) -> Result<Vec<String>, StoreError> {
        // One transaction, sent to the writer's thread in one request: the attempt history;
        // every recipient's state together with the notice it calls for (never one without the
        // other); "done" for the messages they finish.
        let mut conn = self.writer.lock().await?;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(conn.durability(false));
        q.push("BEGIN IMMEDIATE");
        let attempts: Vec<(&RecipientUpdate, &Attempt)> =
            updates.iter().filter_map(|u| u.attempt.as_ref().map(|a| (u, a))).collect();
        for chunk in attempts.chunks(ATTEMPT_ROWS_PER_INSERT) {
            // A message deleted during its delivery has no row to attach the attempt to: its
            // attempts are dropped, never the whole batch.
            q.push(format!("; INSERT INTO attempts ({ATTEMPT_COLUMNS}) SELECT * FROM ("));
            q.push_values(chunk, |mut b, (u, a)| bind_attempt!(b, u, a));
            q.push(") AS v WHERE v.column1 IN (SELECT id FROM messages)");
        }
        for chunk in updates.chunks(UPDATE_ROWS_PER_STATEMENT) {
            q.push(format!("; WITH v({OUTCOME_COLUMNS}) AS ("));
            q.push_values(chunk, |mut b, u| bind_outcome!(b, u));
            q.push(format!(
                ") UPDATE recipients SET state = {}, next_attempt_at = v.next_attempt_at, \
                 last_reply = v.last_reply, delay_warned = v.delay_warned, attempts = attempts + v.tried, \
                 notice = v.notice, notice_status = v.notice_status \
                 FROM v WHERE recipients.message_id = v.message_id AND recipients.idx = v.idx \
                 AND recipients.state NOT IN ({FINAL})",
                outcome_sql()
            ));
        }
        let mut ids: Vec<&str> = updates.iter().map(|u| u.message_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(UPDATE_ROWS_PER_STATEMENT) {
            q.push("; UPDATE messages SET done_at = ");
            q.push_bind(now).push(" WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(format!(") AND {FINISHED} RETURNING id"));
        }
        q.push("; COMMIT");
        let rows = conn.transaction(q.build()).await?;
        Ok(rows.iter().map(|row| row.get::<String, _>("id")).collect())
    }

    async fn finish_if_done(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(&format!("UPDATE messages SET done_at = ? WHERE id = ? AND {FINISHED}"))
            .bind(now)
            .bind(id)
            .execute(&mut *self.write_conn(false).await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn finish_all_done(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!("UPDATE messages SET done_at = ? WHERE {FINISHED} RETURNING id"))
            .bind(now)
            .fetch_all(&mut *self.write_conn(false).await?)
            .await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    async fn clear_notices(&self, id: &str, kind: NoticeKind, idxs: &[i64]) -> Result<(), StoreError> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE recipients SET notice = NULL, notice_status = NULL WHERE message_id = ",
        );
        q.push_bind(id).push(" AND notice = ").push_bind(kind.as_str()).push(" AND idx IN (");
        let mut list = q.separated(", ");
        for idx in idxs {
            list.push_bind(*idx);
        }
        q.push(")");
        q.build().execute(&mut *self.write_conn(false).await?).await?;
        Ok(())
    }

    async fn make_durable(&self) -> Result<(), StoreError> {
        // A checkpoint syncs the WAL first, whatever the synchronous mode of earlier commits.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut *self.writer.lock().await?).await?;
        Ok(())
    }

    async fn purge_finished(&self, before: i64) -> Result<(crate::PurgeCounts, Vec<String>), StoreError> {
        self.purge_rows(before).await
    }

    async fn delete_message(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM messages WHERE id = ?")
            .bind(id)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_held_message(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM messages WHERE id = ? \
             AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = messages.id AND r.state <> 'held')",
        )
        .bind(id)
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttemptOutcome, sample_message};
    use crate::queue_id::QueueId;
    use crate::state;
    use crate::store::AccountStore;

    fn message(n: usize) -> NewMessage {
        sample_message(&QueueId::generate(), 10, n)
    }

    #[tokio::test]
    async fn tls_reports_sent_before_dmarc_reports_existed_stay_recorded_as_tls() {
        use crate::reports::{ReportKind, ReportStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let before = MIGRATIONS.iter().position(|m| m.contains("CREATE TABLE dmarc_rows")).unwrap();
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        for (i, step) in MIGRATIONS[..before].iter().enumerate() {
            sqlx::raw_sql(step).execute(&pool).await.unwrap();
            sqlx::raw_sql(&format!("PRAGMA user_version = {}", i + 1)).execute(&pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO sent_reports (domain, day, destination, report_id, at, status) \
             VALUES ('example.jp', '2026-12-03', 'mailto:tls@example.jp', 'r1', 5, 'queued as Q1')",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let s = SqliteStore::open(&path).await.unwrap();
        let tls = s.sent_reports(ReportKind::Tls, "example.jp", "2026-12-03").await.unwrap();
        assert_eq!(tls.len(), 1);
        assert_eq!((tls[0].destination.as_str(), tls[0].status.as_str()), ("mailto:tls@example.jp", "queued as Q1"));
        assert!(s.sent_reports(ReportKind::Dmarc, "example.jp", "2026-12-03").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_held_message_is_deleted_only_while_every_recipient_is_still_held() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (mut held, queued) = (message(2), message(2));
        held.held = true;
        s.insert_messages(&[held.clone(), queued.clone()]).await.unwrap();
        assert!(!s.delete_held_message(&queued.info.id).await.unwrap(), "its recipients are due");
        assert!(s.message(&queued.info.id).await.unwrap().is_some());
        s.apply_move(Some(&held.info.id), crate::state::Move::Release, Some(1)).await.unwrap();
        assert!(!s.delete_held_message(&held.info.id).await.unwrap(), "released meanwhile");
        s.apply_move(Some(&held.info.id), crate::state::Move::Hold, None).await.unwrap();
        assert!(s.delete_held_message(&held.info.id).await.unwrap());
        assert!(s.message(&held.info.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_database_a_newer_version_migrated_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let s = SqliteStore::open(&path).await.unwrap();
        let newer = MIGRATIONS.len() + 1;
        sqlx::raw_sql(&format!("PRAGMA user_version = {newer}"))
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        s.close().await;
        let Err(e) = SqliteStore::open(&path).await else { panic!("a newer schema was opened") };
        assert!(
            matches!(e, StoreError::SchemaTooNew { found, known } if found == newer as i64 && known == MIGRATIONS.len())
        );
        let text = e.to_string();
        assert!(text.contains("newer sekisho") && text.contains(&format!("schema version {newer}")), "{text}");
        let Err(again) = SqliteStore::open(&path).await else { panic!("opened once refused: it was changed") };
        assert!(matches!(again, StoreError::SchemaTooNew { .. }), "{again}");
    }

    #[tokio::test]
    async fn the_outcomes_of_a_message_to_3000_recipients_are_recorded_with_every_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let m = message(3000);
        s.insert_messages(std::slice::from_ref(&m)).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 3000).await.unwrap().len(), 3000);
        let updates: Vec<RecipientUpdate> = (0..3000)
            .map(|idx| RecipientUpdate {
                message_id: m.info.id.clone(),
                idx,
                outcome: AttemptOutcome::Delivered,
                next_attempt_at: 2000,
                last_reply: Some("250 ok".into()),
                delay_warned: false,
                attempt: Some(Attempt {
                    at: 2000,
                    host: "mx.example.com".into(),
                    ip: "127.0.0.2".into(),
                    port: 25,
                    reply: "250 ok".into(),
                    tls: None,
                    outcome: AttemptOutcome::Delivered,
                    evidence: None,
                    variant: None,
                    dkim: None,
                    smime: None,
                }),
                notice: None,
            })
            .collect();
        assert_eq!(s.record_outcomes(&updates, 2001).await.unwrap(), vec![m.info.id.clone()], "the message is done");
        let d = s.message(&m.info.id).await.unwrap().unwrap();
        assert_eq!(d.attempts.len(), 3000);
        assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered));
    }

    #[tokio::test]
    async fn insert_list_show_claim_release() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let m = message(3);
        s.insert_messages(&[m.clone(), message(1)]).await.unwrap();
        let list = s.list_messages(false).await.unwrap();
        assert_eq!(list.len(), 2);
        let d = s.message(&m.info.id).await.unwrap().unwrap();
        assert_eq!(d.recipients.len(), 3);
        assert_eq!(d.info.ret.as_deref(), Some("HDRS"));
        assert_eq!(d.recipients[1].notify.as_deref(), Some("FAILURE"));
        assert_eq!(d.recipients[0].state, RecipientState::Queued);

        let claims = s.claim_due(2000, 10).await.unwrap();
        assert_eq!(claims.len(), 4);
        assert!(s.claim_due(2000, 10).await.unwrap().is_empty(), "claimed recipients are not due");
        // One node: a claim has no lease, lasts until recovery, and its renewal keeps it as it is.
        assert_eq!(s.claim_lease(), None);
        assert_eq!(s.renew_claims(&m.info.id, &[2, 0, 1]).await.unwrap(), [0, 1, 2]);
        assert!(s.claim_due(i64::MAX, 10).await.unwrap().is_empty(), "no claim lapses, however late");
        assert_eq!(s.apply_move(None, Move::Recover, Some(1)).await.unwrap(), 4);
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 4, "released claims are due again");
    }

    #[tokio::test]
    async fn a_failed_batch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let m = message(1);
        s.insert_messages(std::slice::from_ref(&m)).await.unwrap();
        let fresh = message(2);
        assert!(s.insert_messages(&[fresh.clone(), m]).await.is_err(), "duplicate id fails the batch");
        assert!(s.message(&fresh.info.id).await.unwrap().is_none());
        assert_eq!(s.list_messages(false).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn outcomes_attempts_and_done() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let m = message(2);
        let id = m.info.id.clone();
        s.insert_messages(&[m]).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 2);
        let attempt = |outcome| Attempt {
            at: 5,
            host: "mx1.example.jp".into(),
            ip: "127.0.0.2".into(),
            port: 25,
            reply: "250 ok".into(),
            tls: Some("TLSv1.3 X".into()),
            outcome,
            evidence: Some(serde_json::json!({ "assurance": "encrypted" })),
            variant: Some(crate::model::Variant {
                kind: sekisho_policy::Carriage::Link,
                reason: "link — mx1.example.jp offered no STARTTLS".into(),
            }),
            dkim: Some("signed: d=example.jp s=ed1 ed25519-sha256".into()),
            smime: Some("signed: S/MIME by CN=alice <alice@example.jp>, sha-256".into()),
        };
        let update = |idx, outcome| RecipientUpdate {
            message_id: id.clone(),
            idx,
            outcome,
            next_attempt_at: 100,
            last_reply: Some("reply".into()),
            delay_warned: false,
            attempt: Some(attempt(outcome)),
            notice: None,
        };
        let finished = s
            .record_outcomes(&[update(0, AttemptOutcome::Delivered), update(1, AttemptOutcome::Deferred)], 7)
            .await
            .unwrap();
        assert!(finished.is_empty(), "one recipient is still queued");
        assert!(!s.finish_if_done(&id, 7).await.unwrap());
        let d = s.message(&id).await.unwrap().unwrap();
        assert_eq!(d.attempts.len(), 2);
        assert_eq!(d.attempts[1].recipient, "r1@example.jp");
        assert_eq!(d.attempts[1].attempt.variant, attempt(AttemptOutcome::Delivered).variant, "the decision is kept");
        assert_eq!(
            d.attempts[1].attempt.dkim.as_deref(),
            Some("signed: d=example.jp s=ed1 ed25519-sha256"),
            "the signatures are kept"
        );
        assert_eq!(
            d.attempts[1].attempt.smime.as_deref(),
            Some("signed: S/MIME by CN=alice <alice@example.jp>, sha-256"),
            "who S/MIME-signed is kept"
        );
        assert_eq!(d.recipients[1].attempts, 1);
        assert_eq!(d.recipients[1].state, RecipientState::Queued);
        assert_eq!(s.apply_move(Some(&id), Move::Hold, None).await.unwrap(), 1, "the delivered one stays delivered");
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap(), vec![], "held recipients are never claimed");
        assert_eq!(s.apply_move(None, Move::Release, Some(1)).await.unwrap(), 1);
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 1);
        let finished = s.record_outcomes(&[update(1, AttemptOutcome::Bounced)], 8).await.unwrap();
        assert_eq!(
            finished,
            std::slice::from_ref(&id),
            "the last outcome finishes the message in the same transaction"
        );
        assert!(s.list_messages(false).await.unwrap().is_empty(), "done messages leave the queue listing");
        assert_eq!(s.list_messages(true).await.unwrap().len(), 1);
        assert!(s.message_sizes().await.unwrap().is_empty(), "recovery ignores done messages");
        assert_eq!(s.message(&id).await.unwrap().unwrap().done_at, Some(8));
    }

    /// The SQL generated from `state::next` does what the table says, on a real database.
    #[tokio::test]
    async fn a_hold_during_delivery_survives_a_deferral_and_the_sql_follows_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let m = message(3);
        let id = m.info.id.clone();
        s.insert_messages(&[m]).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 3);
        assert_eq!(s.apply_move(Some(&id), Move::Hold, None).await.unwrap(), 3, "active recipients are held too");
        let outcome = |idx, outcome| RecipientUpdate {
            message_id: id.clone(),
            idx,
            outcome,
            next_attempt_at: 50,
            last_reply: None,
            delay_warned: false,
            attempt: None,
            notice: None,
        };
        let updates = [
            outcome(0, AttemptOutcome::Deferred),
            outcome(1, AttemptOutcome::Delivered),
            outcome(2, AttemptOutcome::Bounced),
        ];
        s.record_outcomes(&updates, 9).await.unwrap();
        let states: Vec<RecipientState> =
            s.message(&id).await.unwrap().unwrap().recipients.iter().map(|r| r.state).collect();
        let expected: Vec<RecipientState> =
            updates.iter().map(|u| state::next(RecipientState::Held, Move::Outcome(u.outcome)).unwrap()).collect();
        assert_eq!(states, expected);
        assert_eq!(states, [RecipientState::Held, RecipientState::Delivered, RecipientState::Bounced]);
        // A late outcome never moves a final state.
        s.record_outcomes(&[outcome(1, AttemptOutcome::Deferred)], 10).await.unwrap();
        assert_eq!(s.message(&id).await.unwrap().unwrap().recipients[1].state, RecipientState::Delivered);
    }

    #[test]
    fn the_final_states_in_the_sql_are_the_tables() {
        let finals: Vec<String> =
            state::ALL_STATES.iter().filter(|s| state::is_final(**s)).map(|s| format!("'{}'", s.as_str())).collect();
        let list = finals.join(",");
        assert_eq!(FINAL, list);
        for sql in [FINISHED, SUMMARY_SELECT, crate::purge::OLD_FINISHED] {
            assert!(sql.contains(&list), "{sql}");
        }
    }

    #[tokio::test]
    async fn an_outcome_for_a_deleted_message_does_not_fail_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let (kept, gone) = (message(1), message(1));
        s.insert_messages(&[kept.clone(), gone.clone()]).await.unwrap();
        assert_eq!(s.claim_due(i64::MAX, 10).await.unwrap().len(), 2);
        assert!(s.delete_message(&gone.info.id).await.unwrap());
        let update = |id: &str| RecipientUpdate {
            message_id: id.to_string(),
            idx: 0,
            outcome: AttemptOutcome::Delivered,
            next_attempt_at: 1,
            last_reply: Some("250 ok".into()),
            delay_warned: false,
            attempt: Some(Attempt {
                at: 1,
                host: "h".into(),
                ip: "127.0.0.1".into(),
                port: 25,
                reply: "250 ok".into(),
                tls: None,
                outcome: AttemptOutcome::Delivered,
                evidence: None,
                variant: None,
                dkim: None,
                smime: None,
            }),
            notice: None,
        };
        let finished = s.record_outcomes(&[update(&gone.info.id), update(&kept.info.id)], 5).await.unwrap();
        assert_eq!(finished, std::slice::from_ref(&kept.info.id));
        assert_eq!(s.message(&kept.info.id).await.unwrap().unwrap().attempts.len(), 1);
    }

    #[tokio::test]
    async fn users_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        s.put_user("alice", "h1").await.unwrap();
        s.put_user("alice", "h2").await.unwrap();
        assert_eq!(s.password_hash("alice").await.unwrap().as_deref(), Some("h2"));
        assert_eq!(s.users().await.unwrap().len(), 1);
        assert!(s.delete_user("alice").await.unwrap());
        assert!(!s.delete_user("alice").await.unwrap());
    }
}
