//! The PostgreSQL schema, in order; `sekisho_schema` records how many steps are applied. A step
//! once released is never edited: changes are new steps at the end.

/// Schema changes in order.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the queue (messages, recipients, attempts) and accounts.
    r#"
CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
"#,
];
