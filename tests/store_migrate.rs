//! `sekisho store migrate --to postgres URL`, the real binary against a real PostgreSQL: a node
//! that ran on SQLite (a message still queued behind a deferring next hop, one delivered as a
//! link with its file kept, an account) is stopped and moved; every table's rows and every
//! body and sealed file arrive, and the PostgreSQL store reads them back as the node wrote
//! them. Refused while the node runs, onto a database that already holds sekisho's data, and
//! for a URL that is not one or a database that cannot be reached.

mod support;

use std::path::Path;

use sekisho_store::objects::ObjectKind;
use sekisho_store::{Database, RecipientState};
use sekisho_testkit::mail::{Names, done, message_with_files, random_bytes};
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};
use support::{own_address, run, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_sqlite_node_moves_into_postgresql_whole_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let dns = FakeDns::start("127.0.0.53").await;
    // One MX without STARTTLS: files go as links. It defers every recipient at later.example.
    let mx = FakeMx::start(
        "127.0.41.2:0",
        MxBehavior {
            rcpt_reply: Box::new(|rcpt| {
                if rcpt.contains("@later.example") { "451 4.3.0 try again later".into() } else { "250 2.1.5 Ok".into() }
            }),
            ..Default::default()
        },
    )
    .await;
    for domain in ["plain.example", "later.example"] {
        dns.mx(domain, 10, "mx.shared.example");
    }
    dns.addr("mx.shared.example", "127.0.41.2");
    let s = TestServer::start_delivering(&dns, mx.addr.port(), |_| {}).await;
    s.add_user("alice@example.jp", "pa55 word").await;

    let quote = random_bytes(70_000);
    let files: [(&str, &[u8]); 1] = [("quote.pdf", &quote)];
    let linked =
        s.submit("alice@example.jp", &["bob@plain.example"], &message_with_files("bob", &files, Names::Quoted)).await;
    let d = s.wait_for(&linked, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    assert_eq!(d.attempts.last().unwrap().attempt.variant.as_ref().unwrap().kind.as_str(), "link");
    let queued = s
        .submit(
            "alice@example.jp",
            &["carol@later.example"],
            "From: alice@example.jp\r\nSubject: later\r\n\r\nwait\r\n",
        )
        .await;
    let q = s.wait_for(&queued, 30, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(q.recipients[0].state, RecipientState::Queued, "deferred: {:#?}", q.recipients);

    let server_dir = s.dir();
    let config = write_config(&server_dir, own_address(2525), "");
    let data = server_dir.join("data");

    // While the node runs, its data directory is locked: nothing is copied.
    let (code, stdout, stderr) = run(Some(&config), &["store", "migrate", "--to", "postgres", &url], "");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("stop sekisho first"), "{stderr}");
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'messages'").await, 0);

    let kept = s.stop().await;
    // What the SQLite store reads, to compare with what the PostgreSQL store reads afterwards.
    let (before, _) = sekisho_store::open_store(&data).await.unwrap();
    let shown = |d: Option<sekisho_store::MessageDetail>| serde_json::to_value(d.expect("the message")).unwrap();
    let (queued_before, linked_before) = (
        shown(before.messages.message(&queued).await.unwrap()),
        shown(before.messages.message(&linked).await.unwrap()),
    );
    let link_before = before.links.link_message(&linked).await.unwrap().expect("the link's message");
    let links_before = before.links.links(Some(&linked)).await.unwrap();
    let body = std::fs::read(data.join("spool/msg").join(&queued)).expect("the queued message's body");
    let sqlite = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("queue.db").display())).await.unwrap();
    let file_ids: Vec<String> = sqlx::query_scalar("SELECT file_id FROM link_files WHERE message_id = ?")
        .bind(&linked)
        .fetch_all(&sqlite)
        .await
        .unwrap();
    assert!(!file_ids.is_empty(), "the file of the link is kept");

    // A damaged message recovery set aside earlier: its body beside its note.
    let damaged = sekisho_store::QueueId::generate();
    std::fs::create_dir_all(data.join("quarantine")).unwrap();
    std::fs::write(data.join("quarantine").join(damaged.as_str()), b"Subj").unwrap();
    std::fs::write(data.join("quarantine").join(format!("{damaged}.json")), b"{}").unwrap();

    let (code, stdout, stderr) =
        migrate_when_unlocked(&config, &["store", "migrate", "--to", "postgres", &url, "--json"]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Progress goes to stderr as it happens; stdout is the JSON alone.
    assert!(stderr.contains("bodies and sealed files") && stderr.contains("copied table 1 of"), "{stderr}");
    assert!(stderr.contains(": messages, 2 row(s)"), "{stderr}");
    let moved: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(moved["quarantine"]["count"], 1, "{moved}");
    assert_eq!(std::fs::read(data.join("quarantine").join(damaged.as_str())).unwrap(), b"Subj", "left in place");
    assert_eq!(moved["set"]["backend"], "postgres");
    let tables = moved["tables"].as_array().unwrap();
    assert!(tables.len() >= 27, "every table is listed: {moved}");
    for t in tables {
        let table = t["table"].as_str().unwrap();
        let in_sqlite: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\"")).fetch_one(&sqlite).await.unwrap();
        let in_pg = pg_count(&url, &format!("SELECT COUNT(*) FROM \"{table}\"")).await;
        assert_eq!((t["rows"].as_i64().unwrap(), in_pg), (in_sqlite, in_sqlite), "{table}");
    }
    let rows = |name: &str| tables.iter().find(|t| t["table"] == name).unwrap()["rows"].as_i64().unwrap();
    assert_eq!((rows("messages"), rows("users"), rows("link_messages")), (2, 1, 1), "{moved}");
    assert!(rows("attempts") >= 2 && rows("links") == 1, "{moved}");
    let bodies = std::fs::read_dir(data.join("spool/msg")).unwrap().count() as u64;
    assert_eq!(moved["bodies"]["count"].as_u64().unwrap(), bodies);
    assert_eq!(moved["files"]["count"].as_u64().unwrap(), file_ids.len() as u64);

    // The PostgreSQL store reads back what the node wrote.
    let database = Database::Postgres {
        url: url.clone(),
        node: "gw.sekisho.test".into(),
        lease: std::time::Duration::from_secs(300),
        objects: None,
    };
    let (stores, _) = sekisho_store::open_store_on(&data, &database).await.unwrap();
    let again = stores.messages.message(&queued).await.unwrap().expect("the queued message");
    assert_eq!(shown(Some(again.clone())), queued_before, "the queued message reads as it did on SQLite");
    assert_eq!(again.recipients[0].state, RecipientState::Queued);
    assert!(!again.attempts.is_empty() && again.attempts[0].attempt.reply.contains("try again later"));
    assert_eq!(stores.messages.list_messages(false).await.unwrap().len(), 1, "one message is still to deliver");
    let delivered = stores.messages.message(&linked).await.unwrap().expect("the delivered message");
    assert_eq!(delivered.recipients[0].state, RecipientState::Delivered);
    assert_eq!(shown(Some(delivered.clone())), linked_before, "with its attempts, findings and decisions");
    let link = stores.links.link_message(&linked).await.unwrap().expect("the link's message");
    assert_eq!(link, link_before, "the kept file's row and its wrapped key");
    assert!(link.files.iter().all(|f| !f.purged), "flags arrive as booleans");
    let records = stores.links.links(Some(&linked)).await.unwrap();
    assert_eq!(records, links_before);
    assert_eq!(records[0].recipient, "bob@plain.example");
    let hash = stores.accounts.password_hash("alice@example.jp").await.unwrap().expect("the account");
    assert!(sekisho_store::users::verify_password(&hash, "pa55 word"), "the account's password still works");
    let objects = stores.objects.clone().expect("PostgreSQL shares objects");
    let fetched = dir.path().join("fetched");
    assert!(objects.fetch_object(ObjectKind::Body, &queued, &fetched).await.unwrap());
    assert_eq!(std::fs::read(&fetched).unwrap(), body, "the body is the spooled file, byte for byte");
    for id in &file_ids {
        let dest = dir.path().join(id);
        assert!(objects.fetch_object(ObjectKind::File, id, &dest).await.unwrap());
        assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(data.join("files").join(id)).unwrap());
    }
    // New attempts continue after the copied ones.
    let next_seq = pg_count(&url, "SELECT nextval(pg_get_serial_sequence('attempts', 'seq'))").await;
    assert!(next_seq > pg_count(&url, "SELECT MAX(seq) FROM attempts").await);

    // Once more onto the same database: refused, naming a table that has rows; nothing changes.
    let (code, stdout, stderr) = run(Some(&config), &["store", "migrate", "--to", "postgres", &url], "");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("already holds sekisho data") && stderr.contains("table messages has 2 row(s)"),
        "{stderr}"
    );
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM messages").await, 2);

    // Into a second, empty database, as an administrator reads it: the counts and the two lines.
    exec(&url, "CREATE DATABASE other").await;
    let other = url.rsplit_once('/').map(|(base, _)| format!("{base}/other")).unwrap();
    let (code, stdout, stderr) = run(Some(&config), &["store", "migrate", "--to", "postgres", &other], "");
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["messages", "2", "row(s)"]),
        "{stdout}"
    );
    assert!(stdout.contains("backend = \"postgres\"") && stdout.contains(&format!("url = \"{other}\"")), "{stdout}");
    assert!(stdout.contains("1 damaged message(s) set aside by recovery stay in"), "{stdout}");
    drop(kept);
}

#[test]
fn a_url_that_is_not_one_or_a_database_not_there_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (code, _, stderr) = run(Some(&config), &["user", "add", "alice"], "pw\n");
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = run(Some(&config), &["store", "migrate", "--to", "postgres", "mysql://u:secret@h/d"], "");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a PostgreSQL URL") && !stderr.contains("secret"), "{stderr}");

    // Nothing listens on port 9 of loopback.
    let closed = "postgres://sekisho:secret@127.0.0.1:9/sekisho";
    let (code, _, stderr) = run(Some(&config), &["store", "migrate", "--to", "postgres", closed], "");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot use the PostgreSQL database") && !stderr.contains("secret"), "{stderr}");

    let (code, _, stderr) = run(Some(&config), &["store", "migrate", "--to", "mysql", closed], "");
    assert_eq!(code, 2, "only postgres is a target: {stderr}");
}

/// Runs the migration once the stopped node's last task has let go of the data directory.
async fn migrate_when_unlocked(config: &Path, args: &[&str]) -> (i32, String, String) {
    for _ in 0..100 {
        let (config, args) = (config.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        let out = tokio::task::spawn_blocking(move || {
            run(Some(&config), &args.iter().map(String::as_str).collect::<Vec<_>>(), "")
        })
        .await
        .unwrap();
        if !out.2.contains("stop sekisho first") {
            return out;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the data directory stayed locked after the node stopped");
}

async fn pg_count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar::<_, Option<i64>>(sql).fetch_one(&mut c).await.unwrap().unwrap_or(0)
}

async fn exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_fails_half_way_keeps_nothing_and_can_be_run_again() {
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let config = write_config(dir.path(), own_address(2525), "");
    let (code, _, stderr) = run(Some(&config), &["user", "add", "alice"], "pw\n");
    assert_eq!(code, 0, "{stderr}");
    let data = dir.path().join("data");
    let id = sekisho_store::QueueId::generate();
    std::fs::create_dir_all(data.join("spool/msg")).unwrap();
    std::fs::write(data.join("spool/msg").join(id.as_str()), b"Subject: x\r\n\r\nbody\r\n").unwrap();
    // A session whose link is gone, written past SQLite's foreign keys (a database damaged on
    // disk): PostgreSQL refuses it, late in the copy.
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", data.join("queue.db").display()))
            .unwrap()
            .foreign_keys(false);
    let sqlite = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::query(
        "INSERT INTO portal_sessions (id_hash, message_id, idx, csrf, verified, expires_at) \
         VALUES ('h', 'GONE', 0, 'c', 1, 0)",
    )
    .execute(&sqlite)
    .await
    .unwrap();

    let args = ["store", "migrate", "--to", "postgres", url.as_str()];
    let (code, stdout, stderr) = run(Some(&config), &args, "");
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("writing portal_sessions to PostgreSQL"), "{stderr}");
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM users").await, 0, "the rows were rolled back");
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM objects").await, 0, "the objects were removed");

    sqlx::query("DELETE FROM portal_sessions").execute(&sqlite).await.unwrap();
    let (code, stdout, stderr) = run(Some(&config), &args, "");
    assert_eq!(code, 0, "the same database takes the next run: {stdout}{stderr}");
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(pg_count(&url, "SELECT COUNT(*) FROM objects").await, 1);
}
