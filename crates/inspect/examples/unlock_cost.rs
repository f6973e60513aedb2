//! What one password try costs, per format, and what finding the candidates of a large text
//! costs: the figures of BENCHMARKS.md ("Opening encrypted archives with a password").
//!
//! `cargo run --release -p sekisho-inspect --example unlock_cost`

use std::time::{Duration, Instant};

use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::unlock::{TryLimits, password_candidates, try_candidates, unlock};

const PASSWORD: &str = "Kx7#pQ2v";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/unlock/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The median of `runs` timings of `f(i)`.
fn median(runs: usize, mut f: impl FnMut(usize)) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|i| {
            let start = Instant::now();
            f(i);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let limits = Limits::default();
    println!("| archive | a wrong password | the right password | 20 wrong candidates, default TryLimits |");
    println!("|---|---|---|---|");
    for (name, runs) in [
        ("zipcrypto.zip", 2001),
        ("aes128.zip", 201),
        ("aes192.zip", 201),
        ("aes256.zip", 201),
        ("content.7z", 11),
        ("headers.7z", 11),
    ] {
        let bytes = fixture(name);
        // A new password each time: sevenz-rust2 caches the last derived key.
        let wrong = median(runs, |i| {
            let result = unlock(name, &bytes, &format!("wrong-{i}"), &limits);
            assert!(result.is_err());
        });
        // Each right try after a wrong one, untimed, so that no derived key is cached.
        let mut right = Vec::new();
        for i in 0..runs.min(21) {
            let _ = unlock(name, &bytes, &format!("other-{i}"), &limits);
            right.push(median(1, |_| {
                unlock(name, &bytes, PASSWORD, &limits).unwrap();
            }));
        }
        right.sort();
        let right = right[right.len() / 2];
        let mut round = 0;
        let search = median(5, |_| {
            round += 1;
            let candidates: Vec<String> = (0..20).map(|i| format!("cand-{round}-{i}")).collect();
            let found = try_candidates(name, &bytes, &candidates, &limits, &TryLimits::default());
            assert_eq!(found, Ok(None));
        });
        println!("| {name} | {wrong:.2?} | {right:.2?} | {search:.2?} |");
    }
    let mut big = "いつもお世話になっております。lorem ipsum x1y2z3 ".repeat(20_000);
    big.push_str("\nPassword: late123\n");
    let text = median(101, |_| {
        password_candidates(&big);
    });
    let labels = "パスワード：".repeat(200_000);
    let hostile = median(101, |_| {
        password_candidates(&labels);
    });
    let body = "添付ファイル名：請求書.zip\n解凍パスワード：Kx7#pQ2v\n";
    let mail = median(1001, |_| {
        password_candidates(body);
    });
    println!();
    println!(
        "password_candidates: a mail {mail:.2?}, {} MB of text {text:.2?}, {} MB of labels {hostile:.2?}",
        big.len() >> 20,
        labels.len() >> 20
    );
}
