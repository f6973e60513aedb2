//! The PostgreSQL schema, in order; `sekisho_schema` records how many steps are applied. A step
//! once released is never edited: changes are new steps at the end.

/// Schema changes in order.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the queue (messages, recipients, attempts, holds, approvals, cancel links), accounts,
    // and what delivery knows of other domains' TLS. The tables and columns are SQLite's
    // (`sqlite.rs` MIGRATIONS, all steps), with epoch seconds as BIGINT, flags as BOOLEAN and
    // stored JSON as TEXT. New here: each recipient's claim (`claimed_by`, the node, and
    // `lease_until`, after which another node may take it over: `postgres/writes.rs`), and
    // the attempts' `seq` (their order, SQLite's rowid).
    r#"
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    size BIGINT NOT NULL,
    ret TEXT,
    envid TEXT,
    smtputf8 BOOLEAN NOT NULL,
    body_8bit BOOLEAN NOT NULL,
    client_ip TEXT NOT NULL,
    helo TEXT NOT NULL,
    listener TEXT NOT NULL,
    auth_user TEXT,
    tls TEXT,
    origin TEXT NOT NULL DEFAULT 'submission',
    done_at BIGINT,
    findings TEXT,
    required_tls TEXT,
    inspection TEXT,
    rules TEXT,
    sender_record TEXT,
    sender_tls TEXT,
    portal_bytes BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_pending ON messages (done_at, received_at);
CREATE INDEX messages_portal_pending ON messages (sender) WHERE done_at IS NULL AND portal_bytes > 0;
CREATE INDEX messages_sender ON messages (lower(sender));
CREATE INDEX messages_auth_user ON messages (auth_user);
CREATE INDEX messages_pending_sender ON messages (lower(sender)) WHERE done_at IS NULL;
CREATE TABLE recipients (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    address TEXT NOT NULL,
    orcpt TEXT,
    notify TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_reply TEXT,
    delay_warned BOOLEAN NOT NULL DEFAULT FALSE,
    notice TEXT,
    notice_status TEXT,
    claimed_by TEXT,
    lease_until BIGINT,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX recipients_due ON recipients (state, next_attempt_at);
CREATE INDEX recipients_domain ON recipients (lower(substr(address, strpos(address, '@') + 1)))
    WHERE state = 'delivered';
CREATE TABLE attempts (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    at BIGINT NOT NULL,
    host TEXT NOT NULL,
    ip TEXT NOT NULL,
    port BIGINT NOT NULL,
    reply TEXT NOT NULL,
    tls TEXT,
    outcome TEXT NOT NULL,
    evidence TEXT,
    variant TEXT,
    variant_reason TEXT,
    dkim TEXT,
    smime TEXT
);
CREATE INDEX attempts_message ON attempts (message_id);
CREATE INDEX attempts_at ON attempts (at);
CREATE TABLE cancellations (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    "by" TEXT NOT NULL,
    "at" BIGINT NOT NULL
);
CREATE TABLE approvals (
    message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    approvers TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    release_on_timeout BOOLEAN NOT NULL,
    approved BOOLEAN,
    "by" TEXT,
    "at" BIGINT,
    comment TEXT
);
CREATE INDEX approvals_pending ON approvals (deadline) WHERE approved IS NULL;
CREATE TABLE cancel_links (
    token_hash TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX cancel_links_message ON cancel_links (message_id);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE user_addresses (
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (name, address)
);
CREATE TABLE tls_memory (
    domain TEXT NOT NULL,
    host TEXT NOT NULL,
    secure_sessions BIGINT NOT NULL,
    last_secure_at BIGINT NOT NULL,
    authenticated_sessions BIGINT NOT NULL,
    last_authenticated_at BIGINT NOT NULL,
    PRIMARY KEY (domain, host)
);
CREATE TABLE sts_policies (
    domain TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    fetched_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE tls_probes (
    host TEXT NOT NULL,
    ip TEXT NOT NULL,
    port BIGINT NOT NULL,
    at BIGINT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (host, ip, port)
);
"#,
    // 2: the portal and the reports (`links.rs`, `sessions.rs`, `digest.rs`, `originals.rs`,
    // `reports.rs`), in the final shape of the SQLite migrations. Long text that keys a row
    // (JSON lists, a DMARC row, another organisation's names) is keyed by its MD5, within
    // PostgreSQL's index row size.
    r#"
CREATE TABLE link_messages (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    header_from TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    password_hash TEXT
);
CREATE INDEX link_messages_sender ON link_messages (sender);
CREATE TABLE link_files (
    message_id TEXT NOT NULL REFERENCES link_messages(message_id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    file_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    purged BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX link_files_original ON link_files (message_id) WHERE idx < 0;
CREATE TABLE links (
    message_id TEXT NOT NULL REFERENCES link_messages(message_id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    access TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    failures BIGINT NOT NULL DEFAULT 0,
    max_downloads BIGINT NOT NULL,
    secret_hash TEXT,
    hint TEXT,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX links_expires ON links (expires_at);
CREATE TABLE link_session_codes (
    message_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    session_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    report_hash TEXT NOT NULL UNIQUE,
    client TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reported BOOLEAN NOT NULL DEFAULT FALSE,
    FOREIGN KEY (message_id, idx) REFERENCES links(message_id, idx) ON DELETE CASCADE
);
CREATE INDEX link_session_codes_link ON link_session_codes (message_id, idx, created_at);
CREATE INDEX link_session_codes_created ON link_session_codes (created_at);
CREATE TABLE portal_sessions (
    id_hash TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    csrf TEXT NOT NULL,
    verified BOOLEAN NOT NULL,
    expires_at BIGINT NOT NULL,
    FOREIGN KEY (message_id, idx) REFERENCES links(message_id, idx) ON DELETE CASCADE
);
CREATE INDEX portal_sessions_link ON portal_sessions (message_id, idx);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
CREATE TABLE link_downloads (
    message_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    file_idx BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (message_id, idx, file_idx)
);
CREATE TABLE portal_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    idx BIGINT,
    event TEXT NOT NULL,
    client TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX portal_events_message ON portal_events (message_id);
CREATE INDEX portal_events_at ON portal_events (at);
CREATE INDEX portal_events_event ON portal_events (event, at);
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    account BOOLEAN NOT NULL,
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE TABLE console_logins (
    token_hash TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_logins_address ON console_logins (address, created_at);
CREATE TABLE quarantine_digests (
    message_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    told_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, idx)
);
CREATE TABLE quarantine_digest_runs (
    slot BIGINT PRIMARY KEY,
    ran_at BIGINT NOT NULL
);
CREATE TABLE withheld_originals (
    message_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    file_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    copy_name TEXT NOT NULL,
    copy_sha256 TEXT NOT NULL,
    sender TEXT NOT NULL,
    header_from TEXT NOT NULL,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    kept_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, idx)
);
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
    count BIGINT NOT NULL
);
CREATE UNIQUE INDEX tls_sessions_key ON tls_sessions
    (day, domain, policy_type, md5(policy_strings), md5(mx_patterns), mx_host, receiving_ip, failure);
CREATE TABLE sent_reports (
    kind TEXT NOT NULL,
    domain TEXT NOT NULL,
    day TEXT NOT NULL,
    destination TEXT NOT NULL,
    report_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (kind, domain, day, destination)
);
CREATE TABLE dmarc_rows (
    day TEXT NOT NULL,
    domain TEXT NOT NULL,
    "row" TEXT NOT NULL,
    count BIGINT NOT NULL
);
CREATE UNIQUE INDEX dmarc_rows_key ON dmarc_rows (day, domain, md5("row"));
CREATE TABLE received_reports (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    organization TEXT NOT NULL,
    report_id TEXT NOT NULL,
    domain TEXT NOT NULL,
    begin_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    good BIGINT NOT NULL,
    bad BIGINT NOT NULL,
    failures TEXT NOT NULL,
    report TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    message_id TEXT NOT NULL
);
CREATE UNIQUE INDEX received_reports_key ON received_reports (kind, md5(organization), md5(report_id));
CREATE INDEX received_reports_at ON received_reports (received_at);
"#,
    // 3: message bodies and sealed portal files, shared by every node (`objects.rs`): each in
    // parts of at most 1 MiB, stored uncompressed (bodies are mostly base64 and files sealed),
    // with when it was stored (Unix seconds), so a sweep leaves alone what may still be
    // committing.
    r#"
CREATE TABLE objects (
    kind SMALLINT NOT NULL,
    id TEXT NOT NULL,
    part INTEGER NOT NULL,
    data BYTEA NOT NULL,
    stored_at BIGINT NOT NULL DEFAULT (EXTRACT(EPOCH FROM now()))::BIGINT,
    PRIMARY KEY (kind, id, part)
);
ALTER TABLE objects ALTER COLUMN data SET STORAGE EXTERNAL;
"#,
    // 4: the node that accepted a message: it delivers it from the copy it already holds, and
    // the others take it only once it has waited (`writes.rs`, HANDOFF). None for messages
    // accepted before, or moved in by `store migrate`: any node takes those.
    r#"
ALTER TABLE messages ADD COLUMN received_by TEXT;
"#,
];
