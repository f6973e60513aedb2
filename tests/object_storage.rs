//! Nodes on PostgreSQL with their message bodies and sealed files in S3-compatible object
//! storage (`[store.objects]`), against PostgreSQL and moto started by the test kit: a message
//! accepted by one `sekisho serve` is delivered by another after the first stopped, a link
//! made by one node downloads on another, and the bytes are in the bucket, never in the
//! database's `objects` table. A storage that cannot be reached stops `serve` at start.

mod support;

use std::path::Path;
use std::time::Duration;

use sekisho_config::{ObjectsConfig, StoreBackend};
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, done, link_in, message_with_files, notice_text, random_bytes, sha256};
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::s3::S3;
use sekisho_testkit::{Browser, Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};
use support::{Running, own_address, run, write_node_config};

/// The database's answer to `sql`, a count.
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

/// Waits up to 30 s for `cond`.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `[store]` lines of a node on `pg` with its objects in `s3` under `prefix`, and the store
/// key every node shares.
fn store_lines(dir: &Path, pg: &Postgres, s3: &S3, prefix: &str) -> String {
    let key = dir.join("store.key");
    if !key.exists() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&key, rand::random::<[u8; 32]>()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // The table comes last among the `[store]` lines: `[store.objects]` closes `[store]`.
    format!(
        "key_file = \"{}\"\nbackend = \"postgres\"\nurl = \"{}\"\n{}",
        key.display(),
        pg.url(),
        s3.config_toml(prefix, &dir.join("s3.secret"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_delivers_from_object_storage_what_the_first_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let ip = own_address(0).ip().to_string();
    let pg = Postgres::start(&dir.path().join("pg"), &ip);
    let s3 = S3::start(&dir.path().join("moto"), &ip, "sekisho-mail");
    let store = store_lines(dir.path(), &pg, &s3, "gw");

    // Node A relays to a closed port: it accepts and keeps the message, due again in a second.
    let a_addr = own_address(2525);
    let deferring = "[delivery]\nrelay_host = \"[127.0.0.1]:9\"\nretry_schedule = [\"1s\"]\n";
    let a_config = write_node_config(&dir.path().join("a"), a_addr, "a.sekisho.test", &store, deferring);
    let a = tokio::task::spawn_blocking(move || Running::start(&a_config)).await.unwrap();
    let content = format!("Subject: via S3\r\n\r\n{}\r\n", "a line of the body\r\n".repeat(30_000));
    let (mut c, _) = Client::connect(a_addr).await;
    c.cmd("EHLO client.test").await;
    let reply = c.send_mail("alice@example.jp", &["bob@example.com"], &content).await;
    assert_eq!(reply.code, 250, "{}", reply.text());
    let id = queue_id(&reply).expect("queued as");
    drop(c);
    let body_key = format!("gw/body/{id}");
    assert!(s3.keys().contains(&body_key), "stored in the bucket before the 250: {:?}", s3.keys());
    assert_eq!(count(&pg.url(), "SELECT COUNT(*) FROM objects").await, 0, "nothing in PostgreSQL's objects");
    assert!(a.terminate().success());

    // Node B: its own data directory, the same database and bucket; it delivers.
    let destination = support::cluster::Destination::start(MxBehavior::default()).await;
    let b_addr = own_address(2525);
    let b_config = write_node_config(&dir.path().join("b"), b_addr, "b.sekisho.test", &store, &destination.config);
    let b = tokio::task::spawn_blocking(move || Running::start(&b_config)).await.unwrap();
    let received = destination.sink.wait_for(1, 30).await;
    assert_eq!(received[0].mail_from, "alice@example.jp");
    assert!(String::from_utf8_lossy(&received[0].data).contains("Subject: via S3"));
    assert!(received[0].data.len() > content.len() - 100, "the whole body: {} bytes", received[0].data.len());
    // Delivered: its object leaves the bucket.
    eventually("the delivered body's object is removed", || !s3.keys().contains(&body_key)).await;
    assert_eq!(count(&pg.url(), "SELECT COUNT(*) FROM objects").await, 0);
    assert!(b.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_when_the_object_storage_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let ip = own_address(0).ip().to_string();
    let pg = Postgres::start(&dir.path().join("pg"), &ip);
    let s3 = S3::start(&dir.path().join("moto"), &ip, "sekisho-mail");
    let store = store_lines(dir.path(), &pg, &s3, "gw");
    // A bucket that does not exist, then a port nothing listens on.
    let cases = [
        ("no such bucket", store.replace("s3://sekisho-mail/", "s3://no-such-bucket/"), "no-such-bucket"),
        ("unreachable", store.replace(&s3.endpoint(), &format!("http://{ip}:9")), "s3://sekisho-mail/gw"),
    ];
    for (what, store, named) in cases {
        let config = write_node_config(&dir.path().join("node"), own_address(2525), "a.sekisho.test", &store, "");
        let (code, _, err) = tokio::task::spawn_blocking(move || run(Some(&config), &["serve"], "")).await.unwrap();
        assert_eq!(code, 1, "{what}: {err}");
        assert!(err.contains("cannot use the object storage") && err.contains(named), "{what}: {err}");
    }
    // Configured without PostgreSQL: a configuration error naming the key and its line.
    let config = write_node_config(&dir.path().join("node"), own_address(2525), "a.sekisho.test", "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[store.objects]\nurl = \"s3://sekisho-mail\"\n")).unwrap();
    let (code, _, err) = run(Some(&config), &["serve"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("store.objects: is only used with [store] backend = \"postgres\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_by_one_node_downloads_on_another_from_object_storage() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let s3 = S3::start(&dir.path().join("moto"), "127.0.0.1", "sekisho-files");
    let url = pg.url();
    let dns = FakeDns::start("127.0.0.53").await;
    let plain = FakeMx::start("127.0.26.2:0", MxBehavior::default()).await;
    dns.addr("mx.plain.example", "127.0.26.2");
    dns.mx("plain.example", 10, "mx.plain.example");
    let port = plain.addr.port();
    let key_file = dir.path().join("store.key");
    let secret = dir.path().join("s3.secret");
    std::fs::write(&secret, "moto-secret\n").unwrap();
    let objects = ObjectsConfig {
        url: format!("s3://{}/tenant", s3.bucket),
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some("moto".into()),
        secret_access_key_file: Some(secret),
        allow_http: true,
    };
    let node = |c: &mut sekisho_config::Config| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url.clone());
        c.store.key_file = Some(key_file.clone());
        c.store.objects = Some(objects.clone());
        c.portal.access = sekisho_policy::Access::None;
        c.smtp.max_message_size = 64 << 20;
    };

    let a = TestServer::start_delivering(&dns, port, node).await;
    // The body (base64) and the sealed file are each uploaded in parts.
    let report = random_bytes(12_000_000);
    let submitted = message_with_files("bob@plain.example", &[("決算.pdf", &report)], Names::Quoted);
    let id = a.submit("alice@example.jp", &["bob@plain.example"], &submitted).await;
    let d = a.wait_for(&id, 60, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let link = link_in(&notice_text(&plain.wait_for(1, 5).await[0].data));
    let kept = a.queue.stores().links.link_message(&id).await.unwrap().expect("the file is kept");
    let file_id = kept.files[0].file_id.clone();
    let file_key = format!("tenant/file/{file_id}");
    assert!(s3.keys().contains(&file_key), "the sealed file is in the bucket: {:?}", s3.keys());
    assert_eq!(count(&url, "SELECT COUNT(*) FROM objects").await, 0, "and nothing in PostgreSQL's objects");
    let a_portal = format!("http://{}", a.portal.unwrap());
    // Node A's own copy goes: only the bucket has the file now.
    std::fs::remove_file(a.config.store.path.join("files").join(&file_id)).unwrap();

    // Node B has never seen the file: it fetches the sealed copy from the bucket.
    let b = TestServer::start_delivering(&dns, port, |c: &mut sekisho_config::Config| {
        node(c);
        c.hostname = "gw2.sekisho.test".into();
    })
    .await;
    let b_portal = format!("http://{}", b.portal.unwrap());
    let mut browser = Browser::new(&b_portal);
    let (status, page) = browser.open(&link.replacen(&a_portal, &b_portal, 1)).await;
    assert_eq!(status, 200, "{page}");
    let (status, _, body) = browser.get("/d/files/0").await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&body), sha256(&report), "the file downloaded on B is the file A kept");
    let b_copy = std::fs::read(b.config.store.path.join("files").join(&file_id)).unwrap();
    assert!(!b_copy.windows(64).any(|w| w == &report[..64]), "the bucket and B hold sealed bytes only");

    // The link expires; B's purge removes the object.
    b.queue.stores().links.set_link_expiry(&id, None, 1).await.unwrap();
    assert_eq!(b.portal_app.as_ref().unwrap().purge().await.unwrap(), 1);
    assert!(!s3.keys().contains(&file_key), "the shared copy is gone: {:?}", s3.keys());
    assert_eq!(count(&url, "SELECT COUNT(*) FROM objects").await, 0);
    drop(a);
}
