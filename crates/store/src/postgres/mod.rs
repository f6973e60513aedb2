//! The PostgreSQL store: the state several sekisho nodes share (`[store] backend = "postgres"`).
//!
//! Each role trait is implemented in a file of its own beside this one, as the SQLite store
//! does; the schema is [`schema::MIGRATIONS`], applied once under an advisory lock so that
//! nodes starting together never migrate twice.

mod digest;
mod keys;
mod links;
mod originals;
mod reports;
mod schema;
mod sessions;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::StoreError;

/// The advisory lock every node takes while it migrates (an arbitrary constant: "sekisho" in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_656b_6973_686f;

/// A PostgreSQL store shared by every node pointed at the same database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema
    /// up to date; refuses a database a newer sekisho migrated ([`StoreError::SchemaTooNew`]).
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        migrate(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// Applies the migrations not applied yet, one transaction each, while holding the migration
/// lock: a second node waits, then finds nothing to do.
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
    let result = migrate_locked(&mut conn).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
    result?;
    unlocked?;
    Ok(())
}

async fn migrate_locked(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS sekisho_schema (version BIGINT NOT NULL)").execute(&mut *conn).await?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM sekisho_schema").fetch_one(&mut *conn).await?;
    let applied = applied.unwrap_or(0);
    if applied > schema::MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaTooNew { found: applied, known: schema::MIGRATIONS.len() });
    }
    for (i, step) in schema::MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(step).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO sekisho_schema (version) VALUES ($1)").bind(i as i64 + 1).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(())
}
