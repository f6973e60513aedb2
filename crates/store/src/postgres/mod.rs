//! The PostgreSQL store: the state several sekisho nodes share (`[store] backend = "postgres"`).
//!
//! Each role trait is implemented in a file of its own beside this one, as the SQLite store
//! does; the schema is [`schema::MIGRATIONS`], applied once under an advisory lock so that
//! nodes starting together never migrate twice.

mod accounts;
mod dashboard;
mod digest;
mod keys;
mod links;
mod objects;
mod originals;
mod queue;
mod reports;
mod schema;
mod sessions;
mod tls;
mod writes;

use std::sync::Arc;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::StoreError;

/// The advisory lock every node takes while it migrates (an arbitrary constant: "sekisho" in ASCII).
const MIGRATION_LOCK: i64 = 0x0073_656b_6973_686f;

/// The class of the advisory locks a serving node holds on its own name (its second key is the
/// name's hash): "seki" in ASCII. The two-key locks never meet [`MIGRATION_LOCK`]'s.
const NODE_NAME_LOCK_CLASS: i32 = 0x7365_6b69;

/// How long a node that finds its name held waits for it: a node that just stopped under the same
/// name gives it back once the database notices its session closed.
const NODE_NAME_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Connections each node keeps to PostgreSQL at most.
pub(crate) const POOL_SIZE: u32 = 16;

/// Object transfers (a body or sealed file stored or fetched, each holding a connection for the
/// whole object) under way at once on one node: a quarter of the pool, so that many large
/// fetches together never leave claims, renewals and outcomes without a connection.
pub(crate) const OBJECT_TRANSFERS: usize = POOL_SIZE as usize / 4;

/// How long a claim lasts unless renewed (the default of `[store] lease`). A delivering node renews
/// its claims every third of it ([`crate::Queue::renew_claims`]), so a live node keeps them
/// however long its delivery takes, and a node that died leaves its recipients to the others
/// within five minutes, the first retry's wait of the default schedule.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// A PostgreSQL store shared by every node pointed at the same database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    /// This node's name in the claims it takes (`recipients.claimed_by`).
    pub(crate) node: Arc<str>,
    /// How long a claim lasts, in seconds by the database's clock: after that, unless renewed,
    /// another node may take the recipient over.
    pub(crate) lease: i64,
    /// Permits for object transfers ([`OBJECT_TRANSFERS`]), shared by every clone.
    pub(crate) transfers: Arc<tokio::sync::Semaphore>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and brings the schema
    /// up to date; refuses a database a newer sekisho migrated ([`StoreError::SchemaTooNew`]).
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new().max_connections(POOL_SIZE).connect(url).await?;
        migrate(&pool).await?;
        let node = format!("node-{}-{:08x}", std::process::id(), rand::random::<u32>());
        let transfers = Arc::new(tokio::sync::Semaphore::new(OBJECT_TRANSFERS));
        Ok(PgStore { pool, node: node.into(), lease: DEFAULT_LEASE.as_secs() as i64, transfers })
    }

    /// Names this node in its claims and sets how long a claim lasts (whole seconds, at least
    /// one), judged by the database's clock: the nodes' own clocks never decide whose claim
    /// is live. A node that restarts under the same name gives its old claims back at once
    /// (crash recovery's `Move::Recover` releases only this node's claims); under a new name
    /// they wait out their lease. A delivery renews its claims while it lasts
    /// (`QueueWrites::renew_claims`); a claim not renewed within the lease is taken over by
    /// another node (the message may then be delivered twice, never lost).
    pub fn with_claims(mut self, node: &str, lease: std::time::Duration) -> PgStore {
        self.node = node.into();
        self.lease = lease.as_secs().max(1) as i64;
        self
    }

    /// This node's name in its claims.
    pub fn node(&self) -> &str {
        &self.node
    }
}

/// The session holding a serving node's name ([`hold_node_name`]) for as long as it lives.
#[derive(Debug)]
pub(crate) struct NodeNameLock {
    _conn: sqlx::PgConnection,
}

/// Takes the advisory lock on `node` (a serving node's name) on a session of its own, held for
/// as long as the returned guard lives: two nodes serving from one database under one name would
/// each release the other's live claims at start-up. [`StoreError::NodeNameInUse`] when another
/// session holds it (after a short wait, for a node of that name that just stopped).
pub(crate) async fn hold_node_name(url: &str, node: &str) -> Result<NodeNameLock, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let deadline = tokio::time::Instant::now() + NODE_NAME_WAIT;
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(NODE_NAME_LOCK_CLASS)
            .bind(node)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            return Ok(NodeNameLock { _conn: conn });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::NodeNameInUse(node.to_string()));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The schema's steps, for the tests that compare it with SQLite's.
#[cfg(test)]
pub(crate) fn schema_steps() -> &'static [&'static str] {
    schema::MIGRATIONS
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
