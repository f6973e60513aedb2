//! The crash tests, on both backends (the queue in SQLite, and in PostgreSQL with one node): a
//! load of at least 1000 messages from several clients while the server is killed with
//! SIGKILL many times at random moments and restarted. Afterwards every message that got a
//! 250 must be in the queue exactly once, or, with a destination to deliver to, must reach it.
//! The bodies are shared with tests/several_nodes.rs (tests/support/cluster.rs).
//!
//! SEKISHO_CRASH_MESSAGES (default 1000) and SEKISHO_CRASH_KILLS (default 20) scale it.

mod support;

use support::cluster::{Backend, deliveries_survive_kills, env_usize, queue_survives_kills};

fn messages() -> usize {
    env_usize("SEKISHO_CRASH_MESSAGES", 1000)
}

fn kills() -> usize {
    env_usize("SEKISHO_CRASH_KILLS", 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_message() {
    queue_survives_kills(Backend::Sqlite, messages(), kills()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_message_on_postgresql() {
    queue_survives_kills(Backend::Postgres, messages(), kills()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_delivering_every_acked_message_reaches_the_sink() {
    deliveries_survive_kills(Backend::Sqlite, 1, messages(), kills()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_delivering_every_acked_message_reaches_the_sink_on_postgresql() {
    deliveries_survive_kills(Backend::Postgres, 1, messages(), kills()).await;
}
