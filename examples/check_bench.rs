//! Benchmark of `sekisho check --file`: 1,000 domains with mixed configurations, served by a
//! fake DNS server and fake MX hosts on loopback; measures wall time and peak memory of the
//! checker, and that results equal one-by-one checks for a sample.
//!
//! Run: `cargo run --release --example check_bench [DOMAINS]` (builds sekisho in release too).

use std::process::Command;
use std::time::Instant;

use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki};

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let bin =
        std::env::current_exe().expect("exe").parent().and_then(|p| p.parent()).expect("target dir").join("sekisho");
    assert!(bin.exists(), "build sekisho first: cargo build --release");

    let dns = FakeDns::start("127.0.0.53").await;
    let pki = TestPki::generate(&dir.path().join("pki"), "mx.tls.bench");
    let tls = FakeMx::start("127.0.1.1:0", MxBehavior { tls: Some(pki.clone()), ..Default::default() }).await;
    let port = tls.addr.port();
    let _plain = FakeMx::start(&format!("127.0.1.2:{port}"), MxBehavior::default()).await;
    let other = TestPki::generate(&dir.path().join("pki2"), "someone-else.bench");
    let _untrusted =
        FakeMx::start(&format!("127.0.1.3:{port}"), MxBehavior { tls: Some(other), ..Default::default() }).await;
    dns.addr("mx.tls.bench", "127.0.1.1");
    dns.addr("mx.plain.bench", "127.0.1.2");
    dns.addr("mx.untrusted.bench", "127.0.1.3");
    let mut list = String::new();
    for i in 0..n {
        let domain = format!("d{i}.bench");
        match i % 5 {
            0 | 1 => dns.mx(&domain, 10, "mx.tls.bench"),
            2 => dns.mx(&domain, 10, "mx.plain.bench"),
            3 => {
                dns.mx(&domain, 10, "mx.tls.bench");
                dns.mx(&domain, 20, "mx.untrusted.bench");
            }
            _ => dns.mx(&domain, 0, "."),
        }
        list.push_str(&domain);
        list.push('\n');
    }
    let domains = dir.path().join("domains.txt");
    std::fs::write(&domains, list).expect("write list");
    let config = dir.path().join("sekisho.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[dns]\nservers = [\"{}\"]\n[delivery]\nport = {port}\n[tls]\nextra_roots = [\"{}\"]\n",
            dir.path().join("data").display(),
            dns.addr,
            pki.ca_path.display()
        ),
    )
    .expect("write config");

    let started = Instant::now();
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .args(["check", "--json", "--file"])
        .arg(&domains)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run sekisho check");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait")).await.expect("join");
    let elapsed = started.elapsed();
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let reports = reports.as_array().expect("array");
    let mut by_level = std::collections::BTreeMap::new();
    for r in reports {
        *by_level.entry(r["assurance"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    // Peak memory of the checker, from the kernel's accounting of waited-for children (only
    // the checker has been waited for at this point).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage with a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let mut same = 0;
    for i in (0..n).step_by((n / 20).max(1)) {
        let single = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(["check", "--json", &format!("d{i}.bench")])
            .output()
            .expect("single check");
        let one: serde_json::Value = serde_json::from_slice(&single.stdout).expect("json");
        let batch = &reports[i];
        if one[0]["assurance"] == batch["assurance"] && one[0]["verdict"] == batch["verdict"] {
            same += 1;
        }
    }
    println!(
        "check --file over {n} domains: {:.2} s, peak RSS {} MiB, {} reports {:?}; \
         {same} of {} sampled domains identical to one-by-one checks",
        elapsed.as_secs_f64(),
        usage.ru_maxrss / 1024,
        reports.len(),
        by_level,
        (0..n).step_by((n / 20).max(1)).count()
    );
}
