//! Several sekisho nodes on one PostgreSQL database, killed: the built binary, three
//! `sekisho serve` processes on loopback addresses of their own (each with its own data
//! directory and hostname, the same database and store key), one real PostgreSQL server, and
//! a fake MX (with a fake DNS naming it) as the destination.
//!
//! - Clients send to all three nodes at once while one node at a time is killed with SIGKILL
//!   at random moments and restarted; afterwards every message that got a 250 has reached the
//!   destination at least once. Copies delivered twice are counted and printed (a node killed
//!   after the destination's 250 and before recording it delivers again); a loss fails.
//! - A node killed and not restarted: the recipients it had claimed are delivered by the
//!   others once its claims' lease (`[store] lease`) has run out.
//!
//! The single-node crash tests on both backends are in tests/crash.rs; both files run the
//! bodies of tests/support/cluster.rs.
//!
//! SEKISHO_NODES_MESSAGES (default 300: messages that must get a 250) and SEKISHO_NODES_KILLS
//! (default 10: kills at least) scale it; at the defaults each test takes well under a minute.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use sekisho_testkit::MxBehavior;
use sqlx::Connection;
use support::cluster::{
    Backend, Clients, Cluster, Destination, ONE_AT_A_TIME, deliveries_survive_kills, env_usize, tally,
};

/// The claims' lease in the lease test: how long a dead node's claims keep others away.
const LEASE: &str = "10s";

fn messages() -> usize {
    env_usize("SEKISHO_NODES_MESSAGES", 300)
}

fn kills() -> usize {
    env_usize("SEKISHO_NODES_KILLS", 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_killed_in_turn_deliver_every_acknowledged_message() {
    deliveries_survive_kills(Backend::Postgres, 3, messages(), kills()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_for_good_has_its_claims_delivered_by_the_others_after_the_lease() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let target = messages();
    // A slow destination: deliveries take a while, so a node always holds claims.
    let destination =
        Destination::start(MxBehavior { reply_delay: Duration::from_millis(200), ..MxBehavior::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("lease = \"{LEASE}\"\n");
    let mut cluster = Cluster::new(dir.path(), Backend::Postgres, 3, &store, &destination.config);
    cluster.start_all().await;
    let started = Instant::now();
    let clients = Clients::start(&cluster.addrs());

    let victim = 2;
    let name = cluster.nodes[victim].hostname.clone();
    let url = cluster.url();
    while claims(&url, &name).await.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "{name} never claimed a recipient");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.kill(victim).await;
    let orphaned = claims(&url, &name).await;
    assert!(!orphaned.is_empty(), "{name} was killed holding claims");

    // The two others go on taking mail, and deliver what the dead one had claimed.
    while clients.acked() < target && started.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked = clients.stop().await;
    let drain_started = Instant::now();
    let left = cluster.drain(Duration::from_secs(120)).await;
    let after = states(&url, &orphaned).await;
    cluster.terminate_all().await;

    let t = tally(&acked, destination.senders());
    println!(
        "lease test: {} recipients claimed by {name} when it was killed, acked {}, delivered {} distinct ({} in all), \
         lost {}, duplicates {}, left queued {left}, drained in {:.1}s",
        orphaned.len(),
        acked.len(),
        t.distinct,
        t.found,
        t.lost.len(),
        t.duplicates,
        drain_started.elapsed().as_secs_f64()
    );
    assert!(acked.len() >= target, "only {} messages acked", acked.len());
    assert!(t.lost.is_empty(), "acknowledged but never delivered: {} e.g. {:?}", t.lost.len(), t.lost.first());
    for (recipient, (state, claimed_by)) in orphaned.iter().zip(&after) {
        assert_eq!(state, "delivered", "{recipient:?}, claimed by the killed {name}");
        assert_ne!(claimed_by.as_deref(), Some(name.as_str()), "{recipient:?}: delivered by another node");
    }
    let senders: HashSet<String> = destination.senders().into_iter().collect();
    for (id, _, sender) in &orphaned {
        assert!(senders.contains(sender), "{id} (from {sender}) reached the destination");
    }
}

/// The recipients `node` holds under a claim: (message id, index, envelope sender).
async fn claims(url: &str, node: &str) -> Vec<(String, i64, String)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT r.message_id, r.idx, m.sender FROM recipients r JOIN messages m ON m.id = r.message_id \
         WHERE r.state = 'active' AND r.claimed_by = $1 ORDER BY r.message_id, r.idx",
    )
    .bind(node)
    .fetch_all(&mut c)
    .await
    .unwrap()
}

/// Each recipient's state and the node that claimed it last, in the order of `recipients`.
async fn states(url: &str, recipients: &[(String, i64, String)]) -> Vec<(String, Option<String>)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let mut out = Vec::new();
    for (id, idx, _) in recipients {
        let row = sqlx::query_as("SELECT state, claimed_by FROM recipients WHERE message_id = $1 AND idx = $2")
            .bind(id)
            .bind(idx)
            .fetch_one(&mut c)
            .await
            .unwrap();
        out.push(row);
    }
    out
}
