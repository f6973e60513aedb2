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
CREATE INDEX messages_pending ON messages (done_at);
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
];
