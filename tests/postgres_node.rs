//! sekisho nodes whose queue lives in PostgreSQL (`[store] backend = "postgres"`), against a
//! real PostgreSQL server started by the test kit: mail is accepted, delivered and explained
//! as on SQLite, what it recorded is read back through the same roles (the dashboard's
//! queries among them, and the commands' read-back), and, message bodies being shared through
//! the database, a second node with a data directory of its own delivers what the first one
//! accepted and could not deliver before it stopped; a delivery longer than the claims' lease
//! keeps its claims by renewing them, so no other node takes its message meanwhile.

use std::time::Duration;

use sekisho_config::StoreBackend;
use sekisho_store::{Database, PgStore, QueueWrites, RecipientState};
use sekisho_testkit::mail::done;
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_postgresql_delivers_and_explains() {
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

    let id = s
        .submit(
            "alice@example.jp",
            &["bob@partner.example"],
            "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: on PostgreSQL\r\n\r\nhello\r\n",
        )
        .await;
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

    // What the node recorded is read back by the administrator's commands from PostgreSQL.
    let data_dir = s.stop().await;
    let database =
        Database::Postgres { url: url.clone(), node: "admin".into(), lease: Duration::from_secs(60), objects: None };
    let (stores, _) = sekisho_store::open_store_on(&data_dir.path().join("data"), &database).await.unwrap();
    let again = stores.messages.message(&id).await.unwrap().expect("still recorded");
    assert_eq!(again.recipients[0].state, RecipientState::Delivered);
}

async fn count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

/// A node configured on the database at `url` under `hostname`.
fn on_postgres(url: &str, hostname: &str) -> impl FnOnce(&mut sekisho_config::Config) {
    let (url, hostname) = (url.to_string(), hostname.to_string());
    move |c| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url);
        c.hostname = hostname;
    }
}

/// Waits up to 10 s for `cond`.
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_delivers_what_the_first_accepted_before_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let dns = FakeDns::start("127.0.0.53").await;
    // The partner's MX refuses for now as seen from the first node, and takes mail as seen from
    // the second (the same address, two ports).
    let deferring = MxBehavior { mail_reply: "451 4.3.2 try again later".into(), ..MxBehavior::default() };
    let down = FakeMx::start("127.0.23.2:0", deferring).await;
    let up = FakeMx::start("127.0.23.2:0", MxBehavior::default()).await;
    dns.addr("mx.partner.example", "127.0.23.2");
    dns.mx("partner.example", 10, "mx.partner.example");

    let first = TestServer::start_delivering(&dns, down.addr.port(), on_postgres(&url, "gw1.sekisho.test")).await;
    let content = "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: across nodes\r\n\r\nhello\r\n";
    let id = first.submit("alice@example.jp", &["bob@partner.example"], content).await;
    let d = first.wait_for(&id, 30, |d| d.recipients[0].attempts >= 1).await;
    assert_ne!(d.recipients[0].state, RecipientState::Delivered, "deferred on the first node: {:#?}", d.recipients);
    let spooled = first.body(&id);
    let first_dir = first.stop().await;

    // The second node: a data directory of its own, the same database, another name. It has
    // no copy of the body: it fetches the one the first node stored before its 250.
    let second = TestServer::start_delivering(&dns, up.addr.port(), on_postgres(&url, "gw2.sekisho.test")).await;
    assert!(!second.queue.body_path(&id).exists());
    let d = second.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let received = up.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].data, spooled, "the message as the first node accepted it");
    assert!(d.attempts.iter().any(|a| a.attempt.reply.contains("try again later")), "{:#?}", d.attempts);
    // Finished: its body leaves the shared store and the second node's spool.
    let parts = format!("SELECT COUNT(*) FROM objects WHERE id = '{id}'");
    eventually("the shared body is removed", async || count(&url, &parts).await == 0).await;
    eventually("the second node's copy is removed", async || !second.queue.body_path(&id).exists()).await;

    // The first node starts again under its own name beside the second: its copy of the
    // finished message goes, and both serve from the one database.
    let first_copy = first_dir.path().join("data/spool/msg").join(&id);
    assert!(first_copy.exists(), "the stopped node still had its copy");
    let first =
        TestServer::restart_delivering(first_dir, &dns, up.addr.port(), on_postgres(&url, "gw1.sekisho.test")).await;
    assert!(!first_copy.exists(), "swept at start: no queued message needs it");
    let again = first.submit("alice@example.jp", &["bob@partner.example"], content).await;
    let d = second.wait_for(&again, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    assert_eq!(up.received().len(), 2);
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

    let id = s
        .submit(
            "alice@example.jp",
            &["bob@partner.example"],
            "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: slow\r\n\r\nhello\r\n",
        )
        .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_taken_over_during_a_delivery_gets_no_transaction_from_this_node() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let dns = FakeDns::start("127.0.0.53").await;
    // Two destinations, one transaction each, in this order: a.example's host takes 5 s to
    // answer the data, time for another node to take b.example's recipient over meanwhile.
    let slow = MxBehavior { reply_delay: Duration::from_secs(5), ..Default::default() };
    let a = FakeMx::start("127.0.25.2:0", slow).await;
    let b = FakeMx::start(&format!("127.0.25.3:{}", a.addr.port()), MxBehavior::default()).await;
    dns.addr("mx.a.example", "127.0.25.2");
    dns.mx("a.example", 10, "mx.a.example");
    dns.addr("mx.b.example", "127.0.25.3");
    dns.mx("b.example", 10, "mx.b.example");
    let url = pg.url();
    let s = TestServer::start_delivering(&dns, a.addr.port(), |c| {
        c.store.backend = StoreBackend::Postgres;
        c.store.url = Some(url.clone());
        c.store.lease = sekisho_config::Duration::from_secs(2);
    })
    .await;

    let id = s
        .submit(
            "alice@example.jp",
            &["bob@a.example", "carol@b.example"],
            "From: alice@example.jp\r\nTo: bob@a.example, carol@b.example\r\nSubject: two\r\n\r\nhello\r\n",
        )
        .await;
    eventually("the slow transaction starts", async || a.connections() >= 1).await;
    // Another node takes carol's claim over (as after a pause of this node longer than the
    // lease), with a lease of its own for an hour.
    let taken = count(
        &url,
        &format!(
            "WITH t AS (UPDATE recipients SET claimed_by = 'gw-other', lease_until = lease_until + 3600 \
             WHERE message_id = '{id}' AND address = 'carol@b.example' AND state = 'active' RETURNING 1) \
             SELECT COUNT(*) FROM t"
        ),
    )
    .await;
    assert_eq!(taken, 1, "carol's claim was this node's, under way");

    let d = s.wait_for(&id, 30, |d| d.recipients.iter().any(|r| r.state == RecipientState::Delivered)).await;
    let state = |addr: &str| d.recipients.iter().find(|r| r.address == addr).unwrap().state;
    assert_eq!(state("bob@a.example"), RecipientState::Delivered, "{:#?}", d.recipients);
    assert_eq!(a.received().len(), 1);
    // The delivery's second transaction went without carol: the node that holds her claim
    // sends to her; this one neither sent nor deferred her.
    assert!(b.received().is_empty(), "sent to a recipient another node holds: {:?}", b.received().len());
    assert_eq!(b.connections(), 0);
    assert_eq!(state("carol@b.example"), RecipientState::Active, "{:#?}", d.recipients);
    let owner = count(
        &url,
        &format!(
            "SELECT COUNT(*) FROM recipients WHERE message_id = '{id}' AND address = 'carol@b.example' \
             AND claimed_by = 'gw-other' AND attempts = 0"
        ),
    )
    .await;
    assert_eq!(owner, 1, "still the other node's, untouched");
    s.stop().await;
}
