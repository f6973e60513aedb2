//! How long does the administrator's dashboard wait for the store? 100,000 delivery attempts
//! in the last 30 days (`SEKISHO_ATTEMPTS` sets how many) with the evidence delivery records (a
//! tenth without STARTTLS, a tenth with an expired certificate, the rest authenticated), and
//! as many older attempts outside the window; time each of the dashboard's statements
//! (the median of 11): `delivered_by_assurance` per hour over 24 hours and per day over 30
//! days, `recent_deliveries`, `oldest_queued` and `queue_depth`.
//! `cargo run --release -p sekisho-store --features seeding --example dashboard_query`

use std::time::{Duration, Instant};

use sekisho_store::{MessageStore, NewMessage, QueueWrites, SqliteStore};

#[path = "seeded/mod.rs"]
mod seeded;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
    let now = 1_800_000_000;
    let count: usize = std::env::var("SEKISHO_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let window = 30 * 86_400;
    seeded::seed(&s, now, count, window).await;
    macro_rules! median {
        ($what:expr, $e:expr) => {{
            let mut times: Vec<Duration> = Vec::new();
            let mut n = 0;
            for _ in 0..11 {
                let start = Instant::now();
                n = $e;
                times.push(start.elapsed());
            }
            times.sort();
            println!(
                "{}: {n} rows, median {:?} (min {:?}, max {:?})",
                $what,
                times[times.len() / 2],
                times[0],
                times[times.len() - 1]
            );
        }};
    }
    // And a thousand messages still queued.
    let waiting: Vec<NewMessage> = (0..1000).map(|i| seeded::message(now - i, 2 * count + i as usize)).collect();
    s.insert_messages(&waiting).await.unwrap();
    let day = 86_400;
    let hours_since = now - 23 * 3600;
    println!("{count} attempts in the last 30 days, {count} before");
    median!(
        "delivered_by_assurance, 24 hourly buckets",
        s.delivered_by_assurance(hours_since, hours_since + day, 3600).await.unwrap().len()
    );
    median!(
        "delivered_by_assurance, 30 daily buckets",
        s.delivered_by_assurance(now - window, now, day).await.unwrap().len()
    );
    median!("recent_deliveries, 20", s.recent_deliveries(now, 20).await.unwrap().len());
    median!("oldest_queued", usize::from(s.oldest_queued().await.unwrap().is_some()));
    median!("queue_depth", s.queue_depth().await.unwrap().queued as usize);
}
