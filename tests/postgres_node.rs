//! A sekisho node whose queue lives in PostgreSQL (`[store] backend = "postgres"`), against a
//! real PostgreSQL server started by the test kit: mail is accepted, delivered and explained
//! as on SQLite, what it recorded is read back through the same roles (the dashboard's
//! queries among them, and the commands' read-back), and while message bodies stay in each
//! node's own spool a second node on the same database is refused with a sentence instead of
//! moving the first one's mail aside; a delivery longer than the claims' lease keeps its
//! claims by renewing them, so no other node takes its message meanwhile.

use std::time::Duration;

use sekisho_config::StoreBackend;
use sekisho_store::{Database, PgStore, Queue, QueueWrites, RecipientState, StoreError};
use sekisho_testkit::mail::done;
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgresql_delivers_explains_and_keeps_a_second_node_out() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let dns = FakeDns::start("127.0.0.53").await;
    let partner = FakeMx::start("127.0.23.2:0", MxBehavior::default()).await;
    dns.addr("mx.partner.example", "127.0.23.2");
    dns.mx("partner.example", 10, "mx.partner.example");
    let url = pg.url();
    let s = TestServer::start_delivering(&dns, partner.addr.port(), |c| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url.clone());
    })
    .await;

    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c
        .send_mail(
            "alice@example.jp",
            &["bob@partner.example"],
            "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: on PostgreSQL\r\n\r\nhello\r\n",
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = sekisho_testkit::queue_id(&r).expect("queue id");
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    assert_eq!(partner.received().len(), 1);
    assert!(String::from_utf8_lossy(&partner.received()[0].data).contains("Subject: on PostgreSQL"));
    // The message's trace and the dashboard's reads come from PostgreSQL.
    assert!(!d.attempts.is_empty(), "the attempt is recorded: {d:#?}");
    let rows: i64 = count(&url, &format!("SELECT COUNT(*) FROM recipients WHERE message_id = '{id}'")).await;
    assert_eq!(rows, 1, "the queue is in PostgreSQL");
    let recent = s.queue.stores().messages.recent_deliveries(i64::MAX, 10).await.unwrap();
    assert_eq!(
        recent.iter().map(|r| (r.message_id.as_str(), r.domain.as_str(), r.outcome.as_str())).collect::<Vec<_>>(),
        [(id.as_str(), "partner.example", "delivered")]
    );
    let by_level = s.queue.stores().messages.delivered_by_assurance(0, i64::MAX / 2, i64::MAX / 4).await.unwrap();
    assert_eq!(by_level.iter().map(|c| c.delivered).sum::<u64>(), 1, "{by_level:?}");

    // A second node with a spool of its own would find none of the first node's bodies: refused.
    let other = tempfile::tempdir().unwrap();
    let database = Database::Postgres { url: url.clone(), node: "second".into(), lease: Duration::from_secs(60) };
    match Queue::open_on(other.path(), &database, 16, false).await {
        Err(e @ StoreError::DatabaseInUse) => assert!(e.to_string().contains("one node serves per database"), "{e}"),
        Err(e) => panic!("expected DatabaseInUse, got {e}"),
        Ok(_) => panic!("a second serving node was let in"),
    }
    // What the node recorded is read back by the administrator's commands from PostgreSQL.
    let data_dir = s.stop().await;
    let (stores, _) = sekisho_store::open_store_on(&data_dir.path().join("data"), &database).await.unwrap();
    let again = stores.messages.message(&id).await.unwrap().expect("still recorded");
    assert_eq!(again.recipients[0].state, RecipientState::Delivered);
}

async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_longer_than_the_lease_renews_its_claim_and_no_other_node_takes_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let dns = FakeDns::start("127.0.0.53").await;
    // The destination takes 7 s to answer the data: more than three leases of 2 s.
    let slow = MxBehavior { reply_delay: Duration::from_secs(7), ..Default::default() };
    let partner = FakeMx::start("127.0.24.2:0", slow).await;
    dns.addr("mx.partner.example", "127.0.24.2");
    dns.mx("partner.example", 10, "mx.partner.example");
    let url = pg.url();
    let s = TestServer::start_delivering(&dns, partner.addr.port(), |c| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url.clone());
        c.store.lease = sekisho_config::Duration::from_secs(2);
    })
    .await;
    // Another node on the same database, looking for work all along (its clock is irrelevant).
    let other = PgStore::open(&url).await.unwrap().with_claims("other", Duration::from_secs(60));

    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c
        .send_mail(
            "alice@example.jp",
            &["bob@partner.example"],
            "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: slow\r\n\r\nhello\r\n",
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = sekisho_testkit::queue_id(&r).expect("queue id");
    let started = std::time::Instant::now();
    let mut looked = 0;
    loop {
        let d = s.queue.stores().messages.message(&id).await.unwrap().expect("queued");
        if done(&d) {
            assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
            break;
        }
        let taken = other.claim_due(i64::MAX / 2, 10).await.unwrap();
        assert!(taken.is_empty(), "another node took a message under delivery: {taken:?}");
        looked += 1;
        assert!(started.elapsed() < Duration::from_secs(40), "not delivered: {:#?}", d.recipients);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(6) && looked > 10, "the delivery outlasted the lease");
    assert_eq!(partner.received().len(), 1, "delivered once");
    // Nor did this node take its own claim over as lapsed and start the delivery again.
    assert_eq!(partner.connections(), 1, "one delivery, one connection");
    s.stop().await;
}
