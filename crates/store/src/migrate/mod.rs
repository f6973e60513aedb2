//! Moving one node's state from SQLite (`<data>/queue.db`) into an empty PostgreSQL database
//! (`sekisho store migrate --to postgres URL`), with sekisho stopped.
//!
//! In this order: the data directory's lock (refused while `serve` runs); the target's schema
//! brought up to date and found empty (and the object storage of `[store.objects]`, when the
//! objects go there); every message body and sealed file stored as an object, then checked
//! (each one, at its size); then every table's rows ([`tables::TABLES`]) in one
//! PostgreSQL transaction, whose row counts are compared with SQLite's before it commits. A
//! failure leaves the database as it was: the rows are rolled back and the objects removed.
//! The data directory is only read. What is done is told as it goes ([`Progress`]: every
//! hundred objects, every table).
//!
//! `quarantine/` (damaged messages recovery set aside, each body beside its JSON note) is not
//! copied: on PostgreSQL too it is the node's own directory (recovery's `quarantine_shared`
//! keeps a damaged shared body there), so it stays where it is, in the data directory the node
//! keeps serving with; the migration counts it ([`Migrated::quarantine`]) so that it is said.

mod copy;
mod objects;
mod tables;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::StoreError;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;

/// Why a migration did not happen; the database is as it was.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The URL is not a PostgreSQL URL sekisho can use.
    #[error("not a PostgreSQL URL ({0}): give postgres://user:password@host:port/database")]
    Url(String),
    /// There is no data directory, or no queue database in it.
    #[error("{} does not exist: there is nothing to move", .0.display())]
    NothingToMove(PathBuf),
    /// `sekisho serve` (or another command that changes it) holds the data directory.
    #[error("the data directory {} is in use by a running sekisho: stop sekisho first", .0.display())]
    Running(PathBuf),
    /// PostgreSQL could not be reached or its schema not brought up to date.
    #[error("cannot use the PostgreSQL database: {0}")]
    Connect(#[source] StoreError),
    /// The object storage given could not be listed.
    #[error("cannot use the object storage: {0}")]
    Objects(#[source] StoreError),
    /// The object storage given already holds bodies or sealed files.
    #[error("the object storage already holds {count} {what}; nothing was copied: give an empty bucket or prefix")]
    ObjectsNotEmpty {
        /// "message bodies" or "sealed files".
        what: &'static str,
        /// How many.
        count: u64,
    },
    /// The target already holds sekisho's data.
    #[error(
        "the PostgreSQL database already holds sekisho data (table {table} has {rows} row(s)); nothing was \
         copied: give an empty database"
    )]
    NotEmpty {
        /// The first table found with rows.
        table: &'static str,
        /// How many.
        rows: u64,
    },
    /// A column of one schema has no place in the other.
    #[error("cannot copy {table}.{column}: {why}")]
    Schema {
        /// The table.
        table: &'static str,
        /// The column (`*` for the whole table).
        column: String,
        /// Why.
        why: String,
    },
    /// Reading a table from SQLite failed.
    #[error("reading {table} from the SQLite queue database: {source}")]
    Read {
        /// The table.
        table: &'static str,
        /// What SQLite said.
        source: sqlx::Error,
    },
    /// Writing a table to PostgreSQL failed (the transaction is rolled back).
    #[error("writing {table} to PostgreSQL: {source}")]
    Write {
        /// The table.
        table: &'static str,
        /// What PostgreSQL said.
        source: sqlx::Error,
    },
    /// A file of the data directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A body or sealed file could not be stored.
    #[error("cannot store {} in the shared store: {source}", path.display())]
    Object {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// What PostgreSQL holds after copying differs from the source.
    #[error("verification failed: {what}: expected {expected}, found {found}; nothing was kept")]
    Mismatch {
        /// What was counted.
        what: String,
        /// In the data directory.
        expected: u64,
        /// In PostgreSQL.
        found: u64,
    },
    /// The queue database or the data directory's lock.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MigrateError {
    fn read(table: &'static str, source: sqlx::Error) -> MigrateError {
        MigrateError::Read { table, source }
    }

    fn write(table: &'static str, source: sqlx::Error) -> MigrateError {
        MigrateError::Write { table, source }
    }

    /// True when the administrator asked for something that cannot be done as asked (a URL
    /// that is not one), rather than something that failed.
    pub fn is_usage(&self) -> bool {
        matches!(self, MigrateError::Url(_))
    }
}

/// Objects of one kind copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Objects {
    /// How many.
    pub count: u64,
    /// Their bytes, together.
    pub bytes: u64,
}

/// One table's rows copied (and counted again in PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its rows, in SQLite and now in PostgreSQL.
    pub rows: u64,
}

/// What a migration moved, all of it verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Migrated {
    /// Every table, in the order copied.
    pub tables: Vec<TableRows>,
    /// Message bodies (`spool/msg`).
    pub bodies: Objects,
    /// Sealed portal files (`files`).
    pub files: Objects,
    /// The damaged messages recovery set aside in `quarantine/` (bodies, without their JSON
    /// notes): not copied, they stay in the data directory, the node's own on PostgreSQL too.
    pub quarantine: Objects,
}

/// How far a migration has come, told as it goes (to show an administrator who waits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Bodies and sealed files stored in the shared store so far, of `total` (every hundred, and the
    /// last).
    Objects {
        /// Stored so far.
        done: u64,
        /// To store.
        total: u64,
    },
    /// Every object checked in the shared store, at its size.
    ObjectsVerified,
    /// One table's rows copied and counted (the transaction commits after the last).
    Table {
        /// The table.
        table: &'static str,
        /// Its rows.
        rows: u64,
        /// Tables copied so far, this one included.
        done: usize,
        /// Tables to copy.
        total: usize,
    },
}

/// Where a migration tells its [`Progress`].
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Moves the SQLite state and the files of `data_dir` into the empty PostgreSQL database at
/// `url`, telling `progress` as it goes. Holds the data directory's lock throughout; reads,
/// never changes, the data directory.
pub async fn to_postgres(data_dir: &Path, url: &str, progress: OnProgress<'_>) -> Result<Migrated, MigrateError> {
    to_postgres_with(data_dir, url, None, progress).await
}

/// Like [`to_postgres`], with the bodies and sealed files going to `objects` (the object
/// storage of `[store.objects]`, which must hold none yet) rather than to PostgreSQL.
pub async fn to_postgres_with(
    data_dir: &Path,
    url: &str,
    objects: Option<crate::objects::External>,
    progress: OnProgress<'_>,
) -> Result<Migrated, MigrateError> {
    sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| MigrateError::Url(e.to_string()))?;
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(MigrateError::Url("it does not start with postgres://".into()));
    }
    let queue_db = data_dir.join("queue.db");
    if !data_dir.is_dir() {
        return Err(MigrateError::NothingToMove(data_dir.to_path_buf()));
    }
    let _lock = crate::lock_data_dir(data_dir).map_err(|e| match e {
        StoreError::Locked(dir) => MigrateError::Running(dir),
        e => MigrateError::Store(e),
    })?;
    if !queue_db.is_file() {
        return Err(MigrateError::NothingToMove(queue_db));
    }
    let sqlite = SqliteStore::open(&queue_db).await?;
    let pg = PgStore::open(url).await.map_err(MigrateError::Connect)?;
    let mut conn = pg.pool.acquire().await.map_err(|e| MigrateError::Connect(e.into()))?;
    refuse_unless_empty(&mut conn).await?;
    let pg = std::sync::Arc::new(pg);
    let shared: std::sync::Arc<dyn crate::objects::ObjectStore> = match objects {
        Some(external) => external.0,
        None => pg.clone(),
    };
    objects::refuse_unless_empty(shared.as_ref()).await?;
    let mut plans = Vec::with_capacity(tables::TABLES.len());
    for table in tables::TABLES {
        plans.push(copy::plan(&sqlite.reader, &mut conn, table).await?);
    }
    drop(conn);

    let sources = objects::sources(data_dir)?;
    let quarantine = objects::quarantined(data_dir)?;
    let copied = async {
        objects::copy(shared.as_ref(), &sources, progress).await?;
        let (bodies, files) = objects::verify(shared.as_ref(), &sources).await?;
        progress(Progress::ObjectsVerified);
        let tables = copy_rows(&sqlite, &pg, &plans, progress).await?;
        Ok::<_, MigrateError>(Migrated { tables, bodies, files, quarantine })
    }
    .await;
    if copied.is_err() {
        objects::remove(shared.as_ref(), &sources).await;
    }
    sqlite.close().await;
    copied
}

/// Refuses a database in which any copied table, or `objects`, has a row.
async fn refuse_unless_empty(conn: &mut sqlx::PgConnection) -> Result<(), MigrateError> {
    for &table in tables::TABLES.iter().chain(tables::POSTGRES_ONLY) {
        let rows = copy::pg_count(conn, table).await?;
        if rows > 0 {
            return Err(MigrateError::NotEmpty { table, rows });
        }
    }
    Ok(())
}

/// Every table's rows in one transaction, committed only when each table's count in
/// PostgreSQL is SQLite's.
async fn copy_rows(
    sqlite: &SqliteStore,
    pg: &PgStore,
    plans: &[copy::TablePlan],
    progress: OnProgress<'_>,
) -> Result<Vec<TableRows>, MigrateError> {
    let mut tx = pg.pool.begin().await.map_err(|e| MigrateError::write("the rows", e))?;
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let copied = copy::copy(&sqlite.reader, &mut tx, plan).await?;
        let expected = copy::sqlite_count(&sqlite.reader, plan.table).await?;
        let found = copy::pg_count(&mut tx, plan.table).await?;
        if copied != expected || found != expected {
            return Err(MigrateError::Mismatch {
                what: format!("rows of {} in PostgreSQL", plan.table),
                expected,
                found,
            });
        }
        out.push(TableRows { table: plan.table.to_string(), rows: found });
        progress(Progress::Table { table: plan.table, rows: found, done: out.len(), total: plans.len() });
    }
    tx.commit().await.map_err(|e| MigrateError::write("the rows", e))?;
    Ok(out)
}
