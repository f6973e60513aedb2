//! PostgreSQL: submission accounts and the sender addresses bound to them.

use async_trait::async_trait;
use sqlx::Row;

use super::PgStore;
use crate::error::StoreError;
use crate::model::UserRecord;
use crate::sqlite::now;
use crate::store::AccountStore;

#[async_trait]
impl AccountStore for PgStore {
    async fn put_user(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(name)
        .bind(password_hash)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_addresses WHERE name = $1").bind(name).execute(&mut *tx).await?;
        let done = sqlx::query("DELETE FROM users WHERE name = $1").bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, created_at FROM users ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| UserRecord { name: r.get("name"), created_at: r.get("created_at") }).collect())
    }

    async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("password_hash")))
    }

    async fn bind_address(&self, name: &str, address: &str) -> Result<bool, StoreError> {
        let address = address.to_lowercase();
        let done = sqlx::query(
            "INSERT INTO user_addresses (name, address) SELECT name, $1 FROM users WHERE name = $2 \
             ON CONFLICT DO NOTHING",
        )
        .bind(&address)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0 || self.addresses(name).await?.contains(&address))
    }

    async fn unbind_address(&self, name: &str, address: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM user_addresses WHERE name = $1 AND address = $2")
            .bind(name)
            .bind(address.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn addresses(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT address FROM user_addresses WHERE name = $1 ORDER BY address")
            .bind(name)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get("address")).collect())
    }
}
