//! PostgreSQL: portal sessions of recipients and senders, and the console's sign-in links.
//! A session is a row, never process memory: made on one node, it is valid on every node, and
//! its expiry or end is seen by all of them at once.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::links::{ConsoleSession, PortalSession, SessionStore};
use crate::rows::{self, Cols as _};

use super::PgStore;

#[async_trait]
impl SessionStore for PgStore {
    async fn put_session(&self, id_hash: &str, s: &PortalSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM portal_sessions WHERE expires_at < $1")
            .bind(crate::sqlite::now())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO portal_sessions (id_hash, message_id, idx, csrf, verified, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(&s.message_id)
        .bind(s.idx)
        .bind(&s.csrf)
        .bind(s.verified)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: i64) -> Result<Option<PortalSession>, StoreError> {
        let row = sqlx::query("SELECT * FROM portal_sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::portal_session))
    }

    async fn verify_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE portal_sessions SET verified = TRUE WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn put_console_session(&self, id_hash: &str, s: &ConsoleSession) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM console_sessions WHERE expires_at < $1")
            .bind(crate::sqlite::now())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, sender, account, csrf, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&s.sender)
        .bind(s.account)
        .bind(&s.csrf)
        .bind(s.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn console_session(&self, id_hash: &str, now: i64) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query("SELECT * FROM console_sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::console_session))
    }

    async fn put_console_login(&self, token_hash: &str, address: &str, expires_at: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = crate::sqlite::now();
        sqlx::query("DELETE FROM console_logins WHERE expires_at < $1 AND created_at < $2")
            .bind(now)
            .bind(now - 86_400)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO console_logins (token_hash, address, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(address)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_console_login(&self, token_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        // Used up in one statement (a second node's use finds it expired), but kept for the
        // per-address count of the last day.
        let row = sqlx::query(
            "UPDATE console_logins SET expires_at = 0 WHERE token_hash = $1 AND expires_at > $2 RETURNING address",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.text("address")))
    }

    async fn console_logins_since(&self, address: &str, since: i64) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_logins WHERE address = $1 AND created_at >= $2")
            .bind(address)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u32)
    }

    // --- Console sessions: sign-out --------------------------------------------------------

    async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(())
    }
}
