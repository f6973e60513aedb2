//! The PostgreSQL store against a real PostgreSQL server (Debian's `postgresql`, started by the
//! test kit): nodes that start together migrate once, and a database a newer sekisho migrated
//! is refused.

use sekisho_store::{PgStore, StoreError};
use sekisho_testkit::postgres::Postgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    // Three nodes open the same empty database at once: the advisory lock lets one migrate.
    let (a, b, c) = tokio::join!(PgStore::open(&url), PgStore::open(&url), PgStore::open(&url));
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let rows: i64 = sqlx_count(&url, "SELECT COUNT(*) FROM sekisho_schema").await;
    let distinct: i64 = sqlx_count(&url, "SELECT COUNT(DISTINCT version) FROM sekisho_schema").await;
    assert_eq!(rows, distinct, "every step recorded once");
    drop(a);
    // A newer sekisho's step recorded: this version refuses the database and names both versions.
    sqlx_exec(&url, "INSERT INTO sekisho_schema (version) VALUES (100000)").await;
    match PgStore::open(&url).await {
        Err(StoreError::SchemaTooNew { found, .. }) => assert_eq!(found, 100000),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

async fn sqlx_count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

async fn sqlx_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut c).await.unwrap();
}
