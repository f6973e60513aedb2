//! How long does `sekisho partners` wait for the store? 100,000 delivery attempts in the
//! window (`SEKISHO_ATTEMPTS` sets how many) to 1,000 recipient domains, with the evidence
//! delivery records (a tenth without STARTTLS, a tenth with an expired certificate, the rest
//! authenticated; a third of them with files, inline or as links), and as many older attempts
//! outside the window; time `TlsStore::partner_evidence` (the median of 11).
//! `cargo run --release -p sekisho-store --features seeding --example partners_query`

use std::time::Instant;

use sekisho_store::{SqliteStore, TlsStore};

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
    let mut times = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..11 {
        let start = Instant::now();
        rows = s.partner_evidence(now - window, now - window / 2).await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    let attempts: u64 = rows.iter().map(|r| r.attempts).sum();
    println!(
        "partner_evidence over {attempts} attempts in the window ({} before it): {} rows, median {:?} (min {:?}, max {:?})",
        count,
        rows.len(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
