//! PostgreSQL: links, kept files, one-time codes, downloads and the audit log. Nothing lives
//! in a node's memory: any node serves any link, and every count (downloads, wrong tries, codes
//! issued) moves in one atomic statement or under the link's row lock.

use async_trait::async_trait;
use sqlx::postgres::PgConnection;

use crate::error::StoreError;
use crate::links::{CodeReport, LinkMessage, LinkRecord, LinkStore, NewCode, NewLink, PortalEvent, Proof};
use crate::model::MessageSummary;
use crate::rows::{self, Cols as _, LINK_COLUMNS, link_record};

use super::PgStore;

/// Takes the row lock of link (`message_id`, `idx`) for the rest of the transaction: what
/// changes a link's codes and sessions goes through it first, so two nodes never interleave
/// (and always lock link before code).
async fn lock_link(conn: &mut PgConnection, message_id: &str, idx: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM links WHERE message_id = $1 AND idx = $2 FOR UPDATE")
        .bind(message_id)
        .bind(idx)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

/// Counts one try against the link unless it is locked; None when it is. The row stays locked
/// until the transaction ends, so concurrent tries from any node are counted one by one.
async fn count_try(
    conn: &mut PgConnection,
    message_id: &str,
    idx: i64,
    max_failures: u32,
) -> Result<Option<u32>, StoreError> {
    let failures: Option<i64> = sqlx::query_scalar(
        "UPDATE links SET failures = failures + 1 WHERE message_id = $1 AND idx = $2 AND failures < $3 \
         RETURNING failures",
    )
    .bind(message_id)
    .bind(idx)
    .bind(i64::from(max_failures))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(failures.map(|f| f as u32))
}

/// The answer to a counted try: a right one sets the count back to zero.
async fn judge(
    conn: &mut PgConnection,
    (message_id, idx): (&str, i64),
    failures: u32,
    max_failures: u32,
    right: bool,
) -> Result<Proof, StoreError> {
    if !right {
        return Ok(Proof::Wrong { left: max_failures.saturating_sub(failures) });
    }
    sqlx::query("UPDATE links SET failures = 0 WHERE message_id = $1 AND idx = $2")
        .bind(message_id)
        .bind(idx)
        .execute(&mut *conn)
        .await?;
    Ok(Proof::Accepted)
}

#[async_trait]
impl LinkStore for PgStore {
    async fn count_events(&self, event: crate::links::LinkEvent, since: i64) -> Result<u64, StoreError> {
        self.count_events_of(event, since).await
    }

    async fn link_counts(&self, now: i64, since: i64) -> Result<crate::LinkCounts, StoreError> {
        self.link_counts_of(now, since).await
    }

    async fn put_link_message(&self, m: &LinkMessage) -> Result<LinkMessage, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO link_messages (message_id, sender, subject, header_from, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
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
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        if inserted == 1 {
            return Ok(m.clone());
        }
        self.link_message(&m.message_id).await?.ok_or_else(|| StoreError::Damaged(m.message_id.clone()))
    }

    async fn set_message_password(&self, message_id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE link_messages SET password_hash = $1 WHERE message_id = $2 AND password_hash IS NULL")
                .bind(password_hash)
                .bind(message_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn link_message(&self, message_id: &str) -> Result<Option<LinkMessage>, StoreError> {
        let Some(m) = sqlx::query("SELECT * FROM link_messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let files = sqlx::query("SELECT * FROM link_files WHERE message_id = $1 ORDER BY idx")
            .bind(message_id)
            .fetch_all(&self.pool)
            .await?;
        let (files, original) = rows::split_original(&files);
        Ok(Some(LinkMessage {
            message_id: m.text("message_id"),
            sender: m.text("sender"),
            subject: m.text("subject"),
            header_from: m.text("header_from"),
            created_at: m.int("created_at"),
            files,
            original,
            password_hash: m.opt_text("password_hash"),
        }))
    }

    async fn kept_bytes(&self, sender: Option<&str>) -> Result<u64, StoreError> {
        // Files kept now, and what undelivered messages with no kept files yet may still make
        // the portal keep.
        let total: i64 = sqlx::query_scalar(
            "SELECT (SELECT COALESCE(SUM(f.size), 0) FROM link_files f JOIN link_messages m USING (message_id) \
             WHERE NOT f.purged AND ($1::TEXT IS NULL OR m.sender = $1))::BIGINT \
             + (SELECT COALESCE(SUM(q.portal_bytes), 0) FROM messages q WHERE q.done_at IS NULL \
             AND q.portal_bytes > 0 AND ($1::TEXT IS NULL OR q.sender = $1) \
             AND NOT EXISTS (SELECT 1 FROM link_messages k WHERE k.message_id = q.id))::BIGINT",
        )
        .bind(sender)
        .fetch_one(&self.pool)
        .await?;
        Ok(total.max(0) as u64)
    }

    async fn put_link(&self, l: &NewLink) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_link(&mut tx, &l.message_id, l.idx).await?;
        // A new token for the recipient: its earlier sessions and codes go with the old one.
        for sql in [
            "DELETE FROM portal_sessions WHERE message_id = $1 AND idx = $2",
            "DELETE FROM link_session_codes WHERE message_id = $1 AND idx = $2",
        ] {
            sqlx::query(sql).bind(&l.message_id).bind(l.idx).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO links (message_id, idx, recipient, token_hash, access, created_at, expires_at, \
             max_downloads, secret_hash, hint) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (message_id, idx) DO UPDATE SET token_hash = excluded.token_hash, \
             access = excluded.access, expires_at = excluded.expires_at, revoked = FALSE, \
             max_downloads = excluded.max_downloads, secret_hash = excluded.secret_hash, hint = excluded.hint",
        )
        .bind(&l.message_id)
        .bind(l.idx)
        .bind(&l.recipient)
        .bind(&l.token_hash)
        .bind(l.access.as_str())
        .bind(l.created_at)
        .bind(l.expires_at)
        .bind(i64::from(l.max_downloads))
        .bind(&l.secret_hash)
        .bind(&l.hint)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_by_token(&self, token_hash: &str) -> Result<Option<LinkRecord>, StoreError> {
        sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| link_record(&r))
            .transpose()
    }

    async fn link(&self, message_id: &str, idx: i64) -> Result<Option<LinkRecord>, StoreError> {
        sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE message_id = $1 AND idx = $2"))
            .bind(message_id)
            .bind(idx)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| link_record(&r))
            .transpose()
    }

    async fn links(&self, message_id: Option<&str>) -> Result<Vec<LinkRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE $1::TEXT IS NULL OR message_id = $1 \
             ORDER BY created_at DESC, message_id, idx"
        ))
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(link_record)
        .collect()
    }

    async fn revoke_links(&self, message_id: &str, idx: Option<i64>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE links SET revoked = TRUE WHERE message_id = $1 AND ($2::BIGINT IS NULL OR idx = $2) \
             AND NOT revoked",
        )
        .bind(message_id)
        .bind(idx)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn set_link_expiry(&self, message_id: &str, idx: Option<i64>, expires_at: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE links SET expires_at = $3 WHERE message_id = $1 AND ($2::BIGINT IS NULL OR idx = $2)")
                .bind(message_id)
                .bind(idx)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    async fn unlock_link(&self, message_id: &str, idx: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE links SET failures = 0 WHERE message_id = $1 AND idx = $2")
            .bind(message_id)
            .bind(idx)
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let Some(failures) = count_try(&mut tx, message_id, idx, max_failures).await? else {
            return Ok(Proof::Locked);
        };
        let proof = judge(&mut tx, (message_id, idx), failures, max_failures, right).await?;
        tx.commit().await?;
        Ok(proof)
    }

    async fn count_download(&self, message_id: &str, idx: i64, file_idx: i64, max: u32) -> Result<bool, StoreError> {
        // One statement: the row is locked by the upsert, and the condition is checked again on
        // the newest row, so downloads through any number of nodes never pass `max`.
        let done = sqlx::query(
            "INSERT INTO link_downloads AS d (message_id, idx, file_idx, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (message_id, idx, file_idx) DO UPDATE SET count = d.count + 1 WHERE d.count < $4",
        )
        .bind(message_id)
        .bind(idx)
        .bind(file_idx)
        .bind(i64::from(max))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1 && max > 0)
    }

    async fn downloads(&self, message_id: &str, idx: i64) -> Result<Vec<(i64, u32)>, StoreError> {
        let rows = sqlx::query(
            "SELECT file_idx, count FROM link_downloads WHERE message_id = $1 AND idx = $2 ORDER BY file_idx",
        )
        .bind(message_id)
        .bind(idx)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.int("file_idx"), r.int("count") as u32)).collect())
    }

    async fn record_event(&self, e: &PortalEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO portal_events (at, message_id, idx, event, client, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.at)
        .bind(&e.message_id)
        .bind(e.idx)
        .bind(e.event.as_str())
        .bind(&e.client)
        .bind(&e.user_agent)
        .bind(&e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn events(&self, message_id: &str) -> Result<Vec<PortalEvent>, StoreError> {
        let rows = sqlx::query("SELECT * FROM portal_events WHERE message_id = $1 ORDER BY seq")
            .bind(message_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::portal_event).collect()
    }

    /// Reads the queue's `messages.done_at` (pg-core's step 1).
    async fn files_to_purge(&self, now: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.message_id, f.idx, f.file_id FROM link_files f WHERE NOT f.purged \
             AND NOT EXISTS (SELECT 1 FROM links l WHERE l.message_id = f.message_id \
                 AND NOT l.revoked AND l.expires_at > $1) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = f.message_id AND m.done_at IS NULL) \
             ORDER BY f.message_id, f.idx",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.text("message_id"), r.int("idx"), r.text("file_id"))).collect())
    }

    async fn mark_purged(&self, message_id: &str, file_idx: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE link_files SET purged = TRUE WHERE message_id = $1 AND idx = $2")
            .bind(message_id)
            .bind(file_idx)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Reads the queue's `messages` and `recipients` (pg-core's step 1) as the SQLite store
    /// does; ASCII letters match in any case (the cluster's C locale).
    async fn messages_from(
        &self,
        sender: &str,
        account: Option<&str>,
        search: Option<&str>,
        limit: u32,
    ) -> Result<Vec<MessageSummary>, StoreError> {
        let pattern = search.map(rows::contains_pattern);
        let rows = sqlx::query(&format!(
            "{} WHERE m.origin = 'submission' AND (lower(m.sender) = lower($1) \
             OR ($2::TEXT IS NOT NULL AND m.auth_user = $2)) \
             AND ($3::TEXT IS NULL \
               OR EXISTS (SELECT 1 FROM recipients s WHERE s.message_id = m.id AND s.address ILIKE $3 ESCAPE '\\') \
               OR EXISTS (SELECT 1 FROM link_messages k WHERE k.message_id = m.id AND k.subject ILIKE $3 ESCAPE '\\') \
               OR EXISTS (SELECT 1 FROM link_files f WHERE f.message_id = m.id AND f.idx >= 0 \
                   AND f.name ILIKE $3 ESCAPE '\\')) \
             GROUP BY m.id ORDER BY m.received_at DESC, m.id DESC LIMIT $4",
            crate::sqlite::SUMMARY_SELECT
        ))
        .bind(sender)
        .bind(account)
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::summary).collect())
    }

    // Files at rest: implemented in keys.rs.
    async fn file_keys(&self) -> Result<Vec<crate::files::FileKeyRow>, StoreError> {
        super::keys::file_keys(self).await
    }

    async fn replace_file_keys(&self, changes: &[crate::files::FileKeyChange]) -> Result<(), StoreError> {
        super::keys::replace_file_keys(self, changes).await
    }

    // --- One-time codes bound to the portal session that asked for them ---------------------

    async fn issue_code(&self, c: &NewCode, max_per_hour: u32) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The link's row lock makes the count and the insert one step for every node.
        lock_link(&mut tx, &c.message_id, c.idx).await?;
        let issued: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM link_session_codes WHERE message_id = $1 AND idx = $2 AND created_at > $3",
        )
        .bind(&c.message_id)
        .bind(c.idx)
        .bind(c.created_at - 3600)
        .fetch_one(&mut *tx)
        .await?;
        if issued >= i64::from(max_per_hour) {
            return Ok(false);
        }
        // The session's earlier codes stop working; their rows stay for the count and reports.
        sqlx::query(
            "UPDATE link_session_codes SET expires_at = 0 WHERE message_id = $1 AND idx = $2 AND session_hash = $3",
        )
        .bind(&c.message_id)
        .bind(c.idx)
        .bind(&c.session_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM link_session_codes WHERE created_at < $1")
            .bind(c.created_at - 7 * 86_400)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO link_session_codes (message_id, idx, session_hash, code_hash, report_hash, client, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        let mut tx = self.pool.begin().await?;
        let Some(failures) = count_try(&mut tx, message_id, idx, max_failures).await? else {
            return Ok(Proof::Locked);
        };
        let used = sqlx::query(
            "UPDATE link_session_codes SET expires_at = 0 WHERE message_id = $1 AND idx = $2 \
             AND session_hash = $3 AND code_hash = $4 AND expires_at > $5",
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
        let proof = judge(&mut tx, (message_id, idx), failures, max_failures, used).await?;
        tx.commit().await?;
        Ok(proof)
    }

    async fn report_code(&self, report_hash: &str, max_failures: u32) -> Result<Option<CodeReport>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The link first, as every other writer of codes locks it.
        let Some(link) = sqlx::query("SELECT message_id, idx FROM link_session_codes WHERE report_hash = $1")
            .bind(report_hash)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        lock_link(&mut tx, &link.text("message_id"), link.int("idx")).await?;
        let Some(row) = sqlx::query(
            "UPDATE link_session_codes SET reported = TRUE, expires_at = 0 WHERE report_hash = $1 AND NOT reported \
             RETURNING message_id, idx, session_hash, client, created_at",
        )
        .bind(report_hash)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let report = CodeReport {
            message_id: row.text("message_id"),
            idx: row.int("idx"),
            client: row.text("client"),
            created_at: row.int("created_at"),
        };
        sqlx::query("UPDATE links SET failures = GREATEST(failures, $1) WHERE message_id = $2 AND idx = $3")
            .bind(i64::from(max_failures))
            .bind(&report.message_id)
            .bind(report.idx)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1")
            .bind(row.text("session_hash"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(report))
    }
}
