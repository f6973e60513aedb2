//! The SQLite link store: links, kept files, codes, portal sessions, downloads, audit log.

use async_trait::async_trait;
use sqlx::Row;

use crate::error::StoreError;
use crate::links::{
    CodeReport, ConsoleSession, LinkMessage, LinkRecord, LinkStore, NewCode, NewLink, PortalEvent, PortalSession,
    Proof, SessionStore,
};
use crate::model::MessageSummary;
use crate::sqlite::SqliteStore;

use crate::rows::{LINK_COLUMNS, link_record};

impl SqliteStore {
    /// Counts one try against the link unless it is locked; None when it is.
    async fn count_try(
        &self,
        conn: &mut sqlx::SqliteConnection,
        message_id: &str,
        idx: i64,
        max_failures: u32,
    ) -> Result<Option<u32>, StoreError> {
        let row = sqlx::query(
            "UPDATE links SET failures = failures + 1 WHERE message_id = ? AND idx = ? AND failures < ? \
             RETURNING failures",
        )
        .bind(message_id)
        .bind(idx)
        .bind(max_failures as i64)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>("failures") as u32))
    }

    async fn judge(
        &self,
        conn: &mut sqlx::SqliteConnection,
        message_id: &str,
        idx: i64,
        failures: u32,
        max_failures: u32,
        right: bool,
    ) -> Result<Proof, StoreError> {
        if !right {
            return Ok(Proof::Wrong { left: max_failures.saturating_sub(failures) });
        }
        sqlx::query("UPDATE links SET failures = 0 WHERE message_id = ? AND idx = ?")
            .bind(message_id)
            .bind(idx)
            .execute(&mut *conn)
            .await?;
        Ok(Proof::Accepted)
    }
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn put_link_message(&self, m: &LinkMessage) -> Result<LinkMessage, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let inserted = sqlx::query(
            "INSERT INTO link_messages (message_id, sender, subject, header_from, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(&m.message_id)
        .bind(&m.sender)
        .bind(&m.subject)
        .bind(&m.header_from)
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            for f in m.files.iter().chain(&m.original) {
                sqlx::query(
                    "INSERT INTO link_files (message_id, idx, file_id, key, name, content_type, size, sha256) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&m.message_id)
                .bind(f.idx)
                .bind(&f.file_id)
                .bind(&f.key)
                .bind(&f.name)
                .bind(&f.content_type)
                .bind(f.size as i64)
                .bind(&f.sha256)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        drop(conn);
        if inserted == 1 {
            return Ok(m.clone());
        }
        self.link_message(&m.message_id).await?.ok_or_else(|| StoreError::Damaged(m.message_id.clone()))
    }

    async fn set_message_password(&self, message_id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE link_messages SET password_hash = ? WHERE message_id = ? AND password_hash IS NULL")
                .bind(password_hash)
                .bind(message_id)
                .execute(&mut *self.write_conn(true).await?)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn kept_bytes(&self, sender: Option<&str>) -> Result<u64, StoreError> {
        // Files kept now, and what undelivered messages that have no kept files yet may still
        // make the portal keep: one statement, so that a message's bytes are counted on one
        // side or the other even when its files are committed meanwhile.
        let sql = match sender {
            Some(_) => {
                "SELECT (SELECT COALESCE(SUM(f.size), 0) FROM link_files f JOIN link_messages m USING (message_id) \
                 WHERE f.purged = 0 AND m.sender = ?1) \
                 + (SELECT COALESCE(SUM(q.portal_bytes), 0) FROM messages q WHERE q.done_at IS NULL \
                 AND q.portal_bytes > 0 AND q.sender = ?1 \
                 AND NOT EXISTS (SELECT 1 FROM link_messages k WHERE k.message_id = q.id))"
            }
            None => {
                "SELECT (SELECT COALESCE(SUM(size), 0) FROM link_files WHERE purged = 0 AND ?1 IS NULL) \
                 + (SELECT COALESCE(SUM(q.portal_bytes), 0) FROM messages q WHERE q.done_at IS NULL \
                 AND q.portal_bytes > 0 AND ?1 IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM link_messages k WHERE k.message_id = q.id))"
            }
        };
        let total: i64 = sqlx::query_scalar(sql).bind(sender).fetch_one(&self.reader).await?;
        Ok(total.max(0) as u64)
    }

    async fn link_message(&self, message_id: &str) -> Result<Option<LinkMessage>, StoreError> {
        let Some(m) = sqlx::query("SELECT * FROM link_messages WHERE message_id = ?")
            .bind(message_id)
            .fetch_optional(&self.reader)
            .await?
        else {
            return Ok(None);
        };
        let rows = sqlx::query("SELECT * FROM link_files WHERE message_id = ? ORDER BY idx")
            .bind(message_id)
            .fetch_all(&self.reader)
            .await?;
        let (files, original) = crate::rows::split_original(&rows);
        Ok(Some(LinkMessage {
            message_id: m.get("message_id"),
            sender: m.get("sender"),
            subject: m.get("subject"),
            header_from: m.get("header_from"),
            created_at: m.get("created_at"),
            files,
            original,
            password_hash: m.get("password_hash"),
        }))
    }

    async fn put_link(&self, l: &NewLink) -> Result<(), StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // A new token for the recipient: its earlier sessions and codes go with the old one.
        for table in ["portal_sessions", "link_session_codes"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE message_id = ? AND idx = ?"))
                .bind(&l.message_id)
                .bind(l.idx)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO links (message_id, idx, recipient, token_hash, access, created_at, expires_at, \
             max_downloads, secret_hash, hint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (message_id, idx) DO UPDATE SET token_hash = excluded.token_hash, \
             access = excluded.access, expires_at = excluded.expires_at, revoked = 0, \
             max_downloads = excluded.max_downloads, secret_hash = excluded.secret_hash, hint = excluded.hint",
        )
        .bind(&l.message_id)
        .bind(l.idx)
        .bind(&l.recipient)
        .bind(&l.token_hash)
        .bind(l.access.as_str())
        .bind(l.created_at)
        .bind(l.expires_at)
        .bind(l.max_downloads as i64)
        .bind(&l.secret_hash)
        .bind(&l.hint)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_by_token(&self, token_hash: &str) -> Result<Option<LinkRecord>, StoreError> {
        sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| link_record(&r))
            .transpose()
    }

    async fn link(&self, message_id: &str, idx: i64) -> Result<Option<LinkRecord>, StoreError> {
        sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE message_id = ? AND idx = ?"))
            .bind(message_id)
            .bind(idx)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| link_record(&r))
            .transpose()
    }

    async fn links(&self, message_id: Option<&str>) -> Result<Vec<LinkRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE ?1 IS NULL OR message_id = ?1 \
             ORDER BY created_at DESC, message_id, idx"
        ))
        .bind(message_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(link_record)
        .collect()
    }

    async fn revoke_links(&self, message_id: &str, idx: Option<i64>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE links SET revoked = 1 WHERE message_id = ?1 AND (?2 IS NULL OR idx = ?2) AND revoked = 0",
        )
        .bind(message_id)
        .bind(idx)
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_link_expiry(&self, message_id: &str, idx: Option<i64>, expires_at: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE links SET expires_at = ?3 WHERE message_id = ?1 AND (?2 IS NULL OR idx = ?2)")
            .bind(message_id)
            .bind(idx)
            .bind(expires_at)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(done.rows_affected())
    }

    async fn unlock_link(&self, message_id: &str, idx: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE links SET failures = 0 WHERE message_id = ? AND idx = ?")
            .bind(message_id)
            .bind(idx)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prove_secret(
        &self,
        message_id: &str,
        idx: i64,
        max_failures: u32,
        right: bool,
    ) -> Result<Proof, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(failures) = self.count_try(&mut tx, message_id, idx, max_failures).await? else {
            return Ok(Proof::Locked);
        };
        let proof = self.judge(&mut tx, message_id, idx, failures, max_failures, right).await?;
        tx.commit().await?;
        Ok(proof)
    }

    async fn count_download(&self, message_id: &str, idx: i64, file_idx: i64, max: u32) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO link_downloads (message_id, idx, file_idx, count) VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (message_id, idx, file_idx) DO UPDATE SET count = count + 1 WHERE count < ?4",
        )
        .bind(message_id)
        .bind(idx)
        .bind(file_idx)
        .bind(max as i64)
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(done.rows_affected() == 1 && max > 0)
    }

    async fn downloads(&self, message_id: &str, idx: i64) -> Result<Vec<(i64, u32)>, StoreError> {
        let rows = sqlx::query("SELECT file_idx, count FROM link_downloads WHERE message_id = ? AND idx = ?")
            .bind(message_id)
            .bind(idx)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| (r.get("file_idx"), r.get::<i64, _>("count") as u32)).collect())
    }

    async fn count_events(&self, event: crate::links::LinkEvent, since: i64) -> Result<u64, StoreError> {
        self.count_events_of(event, since).await
    }

    async fn link_counts(&self, now: i64, since: i64) -> Result<crate::LinkCounts, StoreError> {
        self.link_counts_of(now, since).await
    }

    async fn record_event(&self, e: &PortalEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO portal_events (at, message_id, idx, event, client, user_agent, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.at)
        .bind(&e.message_id)
        .bind(e.idx)
        .bind(e.event.as_str())
        .bind(&e.client)
        .bind(&e.user_agent)
        .bind(&e.detail)
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(())
    }

    async fn events(&self, message_id: &str) -> Result<Vec<PortalEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM portal_events WHERE message_id = ? ORDER BY rowid")
            .bind(message_id)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(crate::rows::portal_event).collect()
    }

    async fn files_to_purge(&self, now: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.message_id, f.idx, f.file_id FROM link_files f WHERE f.purged = 0 \
             AND NOT EXISTS (SELECT 1 FROM links l WHERE l.message_id = f.message_id \
                 AND l.revoked = 0 AND l.expires_at > ?) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = f.message_id AND m.done_at IS NULL)",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(|r| (r.get("message_id"), r.get("idx"), r.get("file_id"))).collect())
    }

    async fn mark_purged(&self, message_id: &str, file_idx: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE link_files SET purged = 1 WHERE message_id = ? AND idx = ?")
            .bind(message_id)
            .bind(file_idx)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }

    async fn messages_from(
        &self,
        sender: &str,
        account: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let pattern = search.map(crate::rows::contains_pattern);
        let rows = sqlx::query(&format!(
            "{} WHERE m.origin = 'submission' AND (m.sender = ?1 COLLATE NOCASE \
             OR (?2 IS NOT NULL AND m.auth_user = ?2)) \
             AND (?3 IS NULL \
               OR EXISTS (SELECT 1 FROM recipients s WHERE s.message_id = m.id AND s.address LIKE ?3 ESCAPE '\\') \
               OR EXISTS (SELECT 1 FROM link_messages k WHERE k.message_id = m.id AND k.subject LIKE ?3 ESCAPE '\\') \
               OR EXISTS (SELECT 1 FROM link_files f WHERE f.message_id = m.id AND f.idx >= 0 \
                   AND f.name LIKE ?3 ESCAPE '\\')) \
             GROUP BY m.id ORDER BY m.received_at DESC, m.id DESC LIMIT ?4",
            crate::sqlite::SUMMARY_SELECT
        ))
        .bind(sender)
        .bind(account)
        .bind(pattern)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.iter().map(crate::rows::summary).collect())
    }

    // Files at rest: implemented in sqlite_keys.rs.
    async fn file_keys(&self) -> Result<Vec<crate::files::FileKeyRow>, StoreError> {
        crate::sqlite_keys::file_keys(self).await
    }

    async fn replace_file_keys(&self, changes: &[crate::files::FileKeyChange]) -> Result<(), StoreError> {
        crate::sqlite_keys::replace_file_keys(self, changes).await
    }

    // --- One-time codes bound to the portal session that asked for them ---------------------

    async fn issue_code(&self, c: &NewCode, max_per_hour: u32) -> Result<bool, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let issued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM link_session_codes WHERE message_id = ? AND idx = ? AND created_at > ?",
        )
        .bind(&c.message_id)
        .bind(c.idx)
        .bind(c.created_at - 3600)
        .fetch_one(&mut *tx)
        .await?;
        if issued >= max_per_hour as i64 {
            return Ok(false);
        }
        // The session's earlier codes stop working; their rows stay for the count and reports.
        sqlx::query(
            "UPDATE link_session_codes SET expires_at = 0 WHERE message_id = ? AND idx = ? AND session_hash = ?",
        )
        .bind(&c.message_id)
        .bind(c.idx)
        .bind(&c.session_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM link_session_codes WHERE created_at < ?")
            .bind(c.created_at - 7 * 86_400)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO link_session_codes (message_id, idx, session_hash, code_hash, report_hash, client, \
             created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.message_id)
        .bind(c.idx)
        .bind(&c.session_hash)
        .bind(&c.code_hash)
        .bind(&c.report_hash)
        .bind(&c.client)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_code(
        &self,
        message_id: &str,
        idx: i64,
        session_hash: &str,
        code_hash: &str,
        now: i64,
        max_failures: u32,
    ) -> Result<Proof, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(failures) = self.count_try(&mut tx, message_id, idx, max_failures).await? else {
            return Ok(Proof::Locked);
        };
        let used = sqlx::query(
            "UPDATE link_session_codes SET expires_at = 0 WHERE message_id = ? AND idx = ? AND session_hash = ? \
             AND code_hash = ? AND expires_at > ?",
        )
        .bind(message_id)
        .bind(idx)
        .bind(session_hash)
        .bind(code_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let proof = self.judge(&mut tx, message_id, idx, failures, max_failures, used).await?;
        tx.commit().await?;
        Ok(proof)
    }

    async fn report_code(&self, report_hash: &str, max_failures: u32) -> Result<Option<CodeReport>, StoreError> {
        let mut conn = self.write_conn(true).await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let Some(row) = sqlx::query(
            "UPDATE link_session_codes SET reported = 1, expires_at = 0 WHERE report_hash = ? AND reported = 0 \
             RETURNING message_id, idx, session_hash, client, created_at",
        )
        .bind(report_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let report = CodeReport {
            message_id: row.get("message_id"),
            idx: row.get("idx"),
            client: row.get("client"),
            created_at: row.get("created_at"),
        };
        let session_hash: String = row.get("session_hash");
        sqlx::query("UPDATE links SET failures = MAX(failures, ?) WHERE message_id = ? AND idx = ?")
            .bind(max_failures as i64)
            .bind(&report.message_id)
            .bind(report.idx)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM portal_sessions WHERE id_hash = ?").bind(&session_hash).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(report))
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn put_session(&self, id_hash: &str, s: &PortalSession) -> Result<(), StoreError> {
        let mut conn = self.write_conn(true).await?;
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM portal_sessions WHERE expires_at < ?")
            .bind(crate::sqlite::now())
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO portal_sessions (id_hash, message_id, idx, csrf, verified, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(&s.message_id)
        .bind(s.idx)
        .bind(&s.csrf)
        .bind(s.verified)
        .bind(s.expires_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: i64) -> Result<Option<PortalSession>, StoreError> {
        let row = sqlx::query("SELECT * FROM portal_sessions WHERE id_hash = ? AND expires_at > ?")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(crate::rows::portal_session))
    }

    async fn verify_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE portal_sessions SET verified = 1 WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }

    async fn put_console_session(&self, id_hash: &str, s: &ConsoleSession) -> Result<(), StoreError> {
        let mut conn = self.write_conn(true).await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < ?")
            .bind(crate::sqlite::now())
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO console_sessions (id_hash, sender, account, csrf, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id_hash)
            .bind(&s.sender)
            .bind(s.account)
            .bind(&s.csrf)
            .bind(s.expires_at)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn console_session(&self, id_hash: &str, now: i64) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query("SELECT * FROM console_sessions WHERE id_hash = ? AND expires_at > ?")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(crate::rows::console_session))
    }

    async fn put_console_login(&self, token_hash: &str, address: &str, expires_at: i64) -> Result<(), StoreError> {
        let mut conn = self.write_conn(true).await?;
        let now = crate::sqlite::now();
        sqlx::query("DELETE FROM console_logins WHERE expires_at < ? AND created_at < ?")
            .bind(now)
            .bind(now - 86_400)
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO console_logins (token_hash, address, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(address)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn use_console_login(&self, token_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        // Used up, but kept (expired) for the per-address count of the last day.
        let row = sqlx::query(
            "UPDATE console_logins SET expires_at = 0 WHERE token_hash = ? AND expires_at > ? RETURNING address",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *self.write_conn(true).await?)
        .await?;
        Ok(row.map(|r| r.get("address")))
    }

    async fn console_logins_since(&self, address: &str, since: i64) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_logins WHERE address = ? AND created_at >= ?")
            .bind(address)
            .bind(since)
            .fetch_one(&self.reader)
            .await?;
        Ok(n as u32)
    }

    // --- Console sessions: sign-out --------------------------------------------------------

    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::{Access, LinkFile};

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        (dir, s)
    }

    fn message() -> LinkMessage {
        LinkMessage {
            message_id: "M1".into(),
            sender: "alice@example.jp".into(),
            subject: "見積書".into(),
            header_from: String::new(),
            created_at: 100,
            files: vec![LinkFile {
                idx: 0,
                file_id: "ab".repeat(16),
                key: "00".repeat(32),
                name: "a.pdf".into(),
                content_type: "application/pdf".into(),
                size: 10,
                sha256: "cd".repeat(32),
                purged: false,
            }],
            original: None,
            password_hash: None,
        }
    }

    fn link(token_hash: &str) -> NewLink {
        NewLink {
            message_id: "M1".into(),
            idx: 0,
            recipient: "bob@example.com".into(),
            token_hash: token_hash.into(),
            access: Access::Otp,
            created_at: 100,
            expires_at: 1000,
            max_downloads: 2,
            secret_hash: None,
            hint: None,
        }
    }

    #[tokio::test]
    async fn sign_in_links_work_once_and_senders_see_their_own_messages() {
        let (_d, s) = store().await;
        s.put_console_login("t", "alice@example.jp", i64::MAX).await.unwrap();
        assert_eq!(s.use_console_login("t", 100).await.unwrap().as_deref(), Some("alice@example.jp"));
        assert_eq!(s.use_console_login("t", 100).await.unwrap(), None, "used up");
        assert_eq!(s.console_logins_since("alice@example.jp", 0).await.unwrap(), 1);
        use crate::store::QueueWrites as _;
        let mut m = crate::model::sample_message(&crate::QueueId::generate(), 10, 1);
        m.info.sender = "Alice@Example.jp".into();
        let mut other = crate::model::sample_message(&crate::QueueId::generate(), 10, 1);
        other.info.sender = "carol@example.jp".into();
        other.info.auth_user = Some("alice".into());
        s.insert_messages(&[m.clone(), other.clone()]).await.unwrap();
        let by_address = s.messages_from("alice@example.jp", None, None, 10).await.unwrap();
        assert_eq!(by_address.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(), [m.info.id.as_str()]);
        assert_eq!(s.messages_from("alice@example.jp", Some("alice"), None, 10).await.unwrap().len(), 2);
        assert!(s.messages_from("bob@example.jp", None, None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_sender_finds_sent_mail_by_recipient_subject_or_file_name() {
        let (_d, s) = store().await;
        use crate::store::QueueWrites as _;
        let mut quote = crate::model::sample_message(&crate::QueueId::generate(), 10, 1);
        quote.info.sender = "alice@example.jp".into();
        quote.recipients[0].address = "Buyer@Partner.example".into();
        let mut other = crate::model::sample_message(&crate::QueueId::generate(), 20, 1);
        other.info.sender = "alice@example.jp".into();
        other.recipients[0].address = "carol@elsewhere.example".into();
        let mut not_hers = crate::model::sample_message(&crate::QueueId::generate(), 30, 1);
        not_hers.info.sender = "dave@example.jp".into();
        not_hers.recipients[0].address = "buyer@partner.example".into();
        s.insert_messages(&[quote.clone(), other.clone(), not_hers]).await.unwrap();
        let mut kept = message();
        kept.message_id = quote.info.id.to_string();
        kept.subject = "2026年度 見積書 100%".into();
        kept.files[0].name = "quote_2026.pdf".into();
        s.put_link_message(&kept).await.unwrap();
        let found = async |q: &str| -> Vec<String> {
            let rows = s.messages_from("alice@example.jp", None, Some(q), 10).await.unwrap();
            rows.into_iter().map(|r| r.id).collect()
        };
        let quote_id = vec![quote.info.id.to_string()];
        assert_eq!(found("buyer@partner").await, quote_id, "a recipient, whatever its case");
        assert_eq!(found("見積").await, quote_id, "the subject");
        assert_eq!(found("QUOTE_2026").await, quote_id, "a file name");
        assert_eq!(found("100%").await, quote_id, "% is a plain character");
        assert!(found("2026年度_見積").await.is_empty(), "_ is a plain character");
        assert_eq!(found("example").await.len(), 2, "both of hers, never someone else's");
        assert!(found("nothing like it").await.is_empty());
    }

    #[tokio::test]
    async fn downloads_stop_at_the_limit_and_files_purge_after_expiry() {
        let (_d, s) = store().await;
        s.put_link_message(&message()).await.unwrap();
        s.put_link(&link("t")).await.unwrap();
        assert!(s.count_download("M1", 0, 0, 2).await.unwrap());
        assert!(s.count_download("M1", 0, 0, 2).await.unwrap());
        assert!(!s.count_download("M1", 0, 0, 2).await.unwrap());
        assert_eq!(s.downloads("M1", 0).await.unwrap(), [(0, 2)]);
        assert!(s.files_to_purge(999).await.unwrap().is_empty());
        assert_eq!(s.files_to_purge(1000).await.unwrap(), [("M1".to_string(), 0, "ab".repeat(16))]);
        s.set_link_expiry("M1", None, 5000).await.unwrap();
        assert!(s.files_to_purge(1000).await.unwrap().is_empty(), "extended");
        s.revoke_links("M1", Some(0)).await.unwrap();
        assert_eq!(s.files_to_purge(1000).await.unwrap().len(), 1, "revoked everywhere");
        s.mark_purged("M1", 0).await.unwrap();
        assert!(s.files_to_purge(1000).await.unwrap().is_empty());
    }

    /// Files sealed before a delivery that then sent every recipient the attachments inline
    /// have no link, and files whose links were all revoked may still be needed by recipients
    /// not yet delivered: they go once the message has left the queue, never while it is in it.
    #[tokio::test]
    async fn files_kept_for_links_nobody_got_go_when_the_message_is_done() {
        use crate::store::QueueWrites as _;
        let (_d, s) = store().await;
        let queued = crate::model::sample_message(&crate::QueueId::generate(), 10, 1);
        let id = queued.info.id.clone();
        s.insert_messages(&[queued]).await.unwrap();
        s.put_link_message(&LinkMessage { message_id: id.clone(), ..message() }).await.unwrap();
        assert!(s.files_to_purge(i64::MAX).await.unwrap().is_empty(), "still in the queue: a link may come");
        s.put_link(&NewLink { message_id: id.clone(), ..link("t") }).await.unwrap();
        s.revoke_links(&id, None).await.unwrap();
        assert!(s.files_to_purge(i64::MAX).await.unwrap().is_empty(), "revoked, but another recipient may need them");
        sqlx::query("UPDATE messages SET done_at = 1 WHERE id = ?")
            .bind(&id)
            .execute(&mut *s.writer.lock().await.unwrap())
            .await
            .unwrap();
        assert_eq!(s.files_to_purge(0).await.unwrap(), [(id, 0, "ab".repeat(16))]);
    }
}
