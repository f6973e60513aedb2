//! What moves from SQLite to PostgreSQL, in one place: every table, in an order that puts a
//! row's parent before it (PostgreSQL checks each foreign key as the row goes in), the SQLite
//! columns PostgreSQL has no use for, and how each column's value changes type on the way.

/// Every table of the SQLite schema (`sqlite.rs` MIGRATIONS) with a PostgreSQL counterpart
/// (`postgres/schema.rs`), parents before children. The tests below compare this list with
/// both schemas, so a table added to either is never left behind silently.
pub(crate) const TABLES: &[&str] = &[
    // The queue.
    "messages",
    "recipients",
    "attempts",
    "cancellations",
    "approvals",
    "cancel_links",
    // Accounts.
    "users",
    "user_addresses",
    // What delivery knows of other domains' TLS.
    "tls_memory",
    "sts_policies",
    "tls_probes",
    // The portal: kept files' rows and their wrapped keys, links, codes, sessions, audit log.
    "link_messages",
    "link_files",
    "links",
    "link_session_codes",
    "portal_sessions",
    "link_downloads",
    "portal_events",
    "console_sessions",
    "console_logins",
    // Quarantine digests, withheld originals.
    "quarantine_digests",
    "quarantine_digest_runs",
    "withheld_originals",
    // Reports: TLS sessions, DMARC rows, what was sent and received.
    "tls_sessions",
    "sent_reports",
    "dmarc_rows",
    "received_reports",
];

/// Tables of the PostgreSQL schema SQLite does not have: the objects the migration copies from
/// files (`objects.rs`). (The schema's version, `sekisho_schema`, is PostgreSQL's own too.)
pub(crate) const POSTGRES_ONLY: &[&str] = &["objects"];

/// SQLite columns left behind, each with why: no version of sekisho reads them any more.
pub(crate) const NOT_COPIED: &[(&str, &str, &str)] =
    &[("messages", "attachments", "replaced by `findings`; no longer written or read")];

/// The PostgreSQL column filled from SQLite's `rowid` where SQLite has none: the order of an
/// append-only table's rows (attempts, the audit log, received reports).
pub(crate) const ROWID_COLUMN: &str = "seq";

/// How one column's value is read from SQLite and bound for PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// TEXT to TEXT.
    Text,
    /// INTEGER to BIGINT (epoch seconds, sizes, counts, indexes).
    Integer,
    /// INTEGER 0/1 to BOOLEAN (SQLite has no boolean type).
    Flag,
}

/// The conversion from a SQLite column declared `sqlite_type` to a PostgreSQL column of
/// `postgres_type` (`information_schema.columns.data_type`); `None` for a pair no sekisho
/// schema has, which the migration refuses rather than guess.
pub(crate) fn conversion(sqlite_type: &str, postgres_type: &str) -> Option<Conversion> {
    match (sqlite_type.to_ascii_uppercase().as_str(), postgres_type) {
        ("TEXT", "text") => Some(Conversion::Text),
        ("INTEGER", "bigint" | "integer" | "smallint") => Some(Conversion::Integer),
        ("INTEGER", "boolean") => Some(Conversion::Flag),
        _ => None,
    }
}

/// Whether `column` of `table` is a SQLite column deliberately left behind.
pub(crate) fn not_copied(table: &str, column: &str) -> bool {
    NOT_COPIED.iter().any(|(t, c, _)| *t == table && *c == column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The tables the PostgreSQL schema creates, read from its text.
    fn postgres_tables() -> BTreeSet<String> {
        crate::postgres::schema_steps()
            .iter()
            .flat_map(|step| step.split("CREATE TABLE ").skip(1))
            .map(|rest| rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn every_sqlite_table_is_copied_and_has_a_postgresql_counterpart() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let sqlite: BTreeSet<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                .fetch_all(&s.reader)
                .await
                .unwrap()
                .into_iter()
                .collect();
        let listed: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
        assert_eq!(listed.len(), TABLES.len(), "a table listed twice");
        assert_eq!(sqlite, listed, "every SQLite table, and only those, is copied");
        let postgres = postgres_tables();
        let expected: BTreeSet<String> =
            listed.iter().cloned().chain(POSTGRES_ONLY.iter().map(|t| t.to_string())).collect();
        assert_eq!(postgres, expected, "every copied table exists in PostgreSQL, and nothing else is there");
    }

    #[tokio::test]
    async fn the_columns_left_behind_exist_in_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        for (table, column, _) in NOT_COPIED {
            let names: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&s.reader)
                .await
                .unwrap();
            assert!(names.iter().any(|n| n == column), "{table}.{column} is not in SQLite: remove it from the list");
        }
    }

    #[test]
    fn flags_become_booleans_and_other_pairs_are_refused() {
        assert_eq!(conversion("INTEGER", "boolean"), Some(Conversion::Flag));
        assert_eq!(conversion("INTEGER", "bigint"), Some(Conversion::Integer));
        assert_eq!(conversion("integer", "smallint"), Some(Conversion::Integer));
        assert_eq!(conversion("TEXT", "text"), Some(Conversion::Text));
        assert_eq!(conversion("TEXT", "bigint"), None, "text is never parsed as a number");
        assert_eq!(conversion("INTEGER", "text"), None);
        assert_eq!(conversion("BLOB", "bytea"), None, "no sekisho table stores blobs in SQLite");
        assert!(not_copied("messages", "attachments"));
        assert!(!not_copied("messages", "findings"));
    }
}
