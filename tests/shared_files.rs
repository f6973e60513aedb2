//! Files kept for download shared by every node on PostgreSQL: node A relays a message to a
//! server without STARTTLS, so the recipient gets a link; node B — its own data directory, the
//! same database and the same store key — serves that link over real HTTP after node A's
//! `files/` directory was emptied, from the sealed copy kept in the database. Once the link
//! expires, B's purge removes the shared copy and B answers as for any purged file. Both
//! nodes serve at the same time.

use sekisho_config::StoreBackend;
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, done, link_in, message_with_files, notice_text, random_bytes, sha256};
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::{Browser, FakeDns, FakeMx, MxBehavior, TestServer};

/// The database's answer to `sql`, a count.
async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

/// The names in a node's `files/` directory (its cached sealed files).
fn cached(data: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("files"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n != "tmp")
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_by_one_node_opens_and_downloads_on_another_until_it_is_purged() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let dns = FakeDns::start("127.0.0.53").await;
    let plain = FakeMx::start("127.0.24.2:0", MxBehavior::default()).await;
    dns.addr("mx.plain.example", "127.0.24.2");
    dns.mx("plain.example", 10, "mx.plain.example");
    let port = plain.addr.port();
    // Every node gets the same store key file.
    let key_file = dir.path().join("store.key");
    let node = |c: &mut sekisho_config::Config| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url.clone());
        c.store.key_file = Some(key_file.clone());
        c.portal.access = sekisho_policy::Access::None;
    };

    // Node A: the message goes to a server without STARTTLS, so its file goes as a link.
    let a = TestServer::start_delivering(&dns, port, node).await;
    // Larger than one stored part (1 MiB): the shared copy is read back part by part.
    let report = random_bytes(2_500_000);
    let submitted = message_with_files("bob@plain.example", &[("決算.pdf", &report)], Names::Quoted);
    let id = a.submit("alice@example.jp", &["bob@plain.example"], &submitted).await;
    let d = a.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let notice = notice_text(&plain.wait_for(1, 5).await[0].data);
    let link = link_in(&notice);
    let a_portal = format!("http://{}", a.portal.unwrap());
    assert!(link.starts_with(&a_portal), "{link}");
    let kept = a.queue.stores().links.link_message(&id).await.unwrap().expect("the file is kept");
    let file_id = kept.files[0].file_id.clone();
    let shared = format!("SELECT COUNT(*) FROM objects WHERE kind = 2 AND id = '{file_id}'");
    assert_eq!(count(&url, &shared).await, 3, "kept in the database, in 1 MiB parts, before the link was sent");
    let sealed: Vec<u8> = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT data FROM objects WHERE kind = 2 AND id = $1 AND part = 0")
            .bind(&file_id)
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert!(!sealed.windows(64).any(|w| w == &report[..64]), "the database holds sealed bytes, never the file");
    let a_data = a.config.store.path.clone();
    assert_eq!(cached(&a_data), std::slice::from_ref(&file_id));

    // Node A's files/ is emptied while it keeps serving; node B starts beside it and has never
    // seen the file.
    std::fs::remove_file(a_data.join("files").join(&file_id)).unwrap();
    // Each node sharing a database has a name of its own (`hostname`).
    let b = TestServer::start_delivering(&dns, port, |c: &mut sekisho_config::Config| {
        node(c);
        c.hostname = "gw2.sekisho.test".into();
    })
    .await;
    let b_data = b.config.store.path.clone();
    assert_ne!(a_data, b_data);
    assert!(cached(&b_data).is_empty());

    // The recipient follows the link through node B's portal (behind one address, as a load
    // balancer would send it) and downloads the file sent.
    let b_portal = format!("http://{}", b.portal.unwrap());
    let mut browser = Browser::new(&b_portal);
    let (status, page) = browser.open(&link.replacen(&a_portal, &b_portal, 1)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("決算.pdf") && page.contains(&sha256(&report)), "{page}");
    let (status, _, body) = browser.get("/d/files/0").await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&body), sha256(&report), "the file downloaded on B is the file A kept");
    assert_eq!(cached(&b_data), std::slice::from_ref(&file_id), "B keeps the sealed copy it fetched");
    let b_copy = std::fs::read(b_data.join("files").join(&file_id)).unwrap();
    assert!(!b_copy.windows(64).any(|w| w == &report[..64]), "sealed on B's disk too");
    let (status, _, zip) = browser.get("/d/all.zip").await;
    assert_eq!(status, 200);
    assert!(zip.windows(64).any(|w| w == &report[..64]), "the ZIP (stored) carries the file");

    // The link expires; B's purge removes the shared copy and its own.
    b.queue.stores().links.set_link_expiry(&id, None, 1).await.unwrap();
    let purged = b.portal_app.as_ref().unwrap().purge().await.unwrap();
    assert_eq!(purged, 1);
    assert_eq!(count(&url, &shared).await, 0, "the shared copy is gone");
    assert!(cached(&b_data).is_empty(), "and B's copy");
    let kept = b.queue.stores().links.link_message(&id).await.unwrap().unwrap();
    assert!(kept.files[0].purged);
    let (status, page) = browser.get_text("/d/files/0").await;
    assert_eq!(status, 410, "{page}");
    let (status, _) = Browser::new(&b_portal).open(&link.replacen(&a_portal, &b_portal, 1)).await;
    assert_eq!(status, 410, "the expired link opens nothing");
    drop(a);
}
