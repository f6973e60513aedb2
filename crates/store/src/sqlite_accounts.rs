//! SQLite: submission accounts.

use async_trait::async_trait;
use sqlx::Row;

use crate::error::StoreError;
use crate::model::UserRecord;
use crate::sqlite::{SqliteStore, now};
use crate::store::AccountStore;

#[async_trait]
impl AccountStore for SqliteStore {
    async fn put_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?,?,?) \
             ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(name)
        .bind(password_hash)
        .bind(now())
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(())
    }

    async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.write_conn(true).await?;
        sqlx::query("DELETE FROM user_addresses WHERE name = ?").bind(name).execute(&mut *conn).await?;
        let done = sqlx::query("DELETE FROM users WHERE name = ?").bind(name).execute(&mut *conn).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, created_at FROM users ORDER BY name").fetch_all(&self.reader).await?;
        Ok(rows.iter().map(|r| UserRecord { name: r.get("name"), created_at: r.get("created_at") }).collect())
    }

    async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.get("password_hash")))
    }

    async fn bind_address(&self, name: &str, address: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO user_addresses (name, address) SELECT name, ? FROM users WHERE name = ?",
        )
        .bind(address.to_lowercase())
        .bind(name)
        .execute(&mut *self.write_conn(true).await?)
        .await?;
        Ok(done.rows_affected() > 0 || self.addresses(name).await?.contains(&address.to_lowercase()))
    }

    async fn unbind_address(&self, name: &str, address: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_addresses WHERE name = ? AND address = ?")
            .bind(name)
            .bind(address.to_lowercase())
            .execute(&mut *self.write_conn(true).await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn addresses(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT address FROM user_addresses WHERE name = ? ORDER BY address")
            .bind(name)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.iter().map(|r| r.get("address")).collect())
    }
}
