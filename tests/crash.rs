//! The crash test: a load of at least 1000 messages from several clients while the server is
//! killed with SIGKILL many times at random moments and restarted. Afterwards every message
//! that got a 250 must be in the queue exactly once.
//!
//! SEKISHO_CRASH_MESSAGES (default 1000) and SEKISHO_CRASH_KILLS (default 20) scale it.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior};
use support::{Running, own_address, run, write_config};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One client: sends messages with unique senders until `stop`, recording each acked sender.
async fn client(
    id: usize,
    addr: std::net::SocketAddr,
    acked: Arc<Mutex<HashSet<String>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut seq = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(tcp)) = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        drop(tcp);
        // The server may be killed between the probe and this connection: try again.
        let Some(mut c) = Client::try_connect(addr).await else { continue };
        if c.try_read(Duration::from_secs(5)).await.map(|r| r.code) != Some(220) {
            continue;
        }
        if !c.try_send(b"EHLO load.test\r\n").await || c.try_read(Duration::from_secs(5)).await.is_none() {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            seq += 1;
            let sender = format!("c{id}-m{seq}@load.test");
            let msg = format!("MAIL FROM:<{sender}>\r\nRCPT TO:<r{seq}@example.com>\r\nDATA\r\n");
            if !c.try_send(msg.as_bytes()).await {
                break;
            }
            let mut ok = true;
            for _ in 0..3 {
                match c.try_read(Duration::from_secs(5)).await {
                    Some(r) if r.code == 250 || r.code == 354 => {}
                    _ => ok = false,
                }
            }
            if !ok {
                break;
            }
            let body = format!("Subject: load {sender}\r\n\r\n{}\r\n.\r\n", "payload line\r\n".repeat(40));
            if !c.try_send(body.as_bytes()).await {
                break;
            }
            match c.try_read(Duration::from_secs(5)).await {
                Some(r) if r.code == 250 => {
                    acked.lock().unwrap().insert(sender);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                _ => break,
            }
        }
    }
}

/// What a load under repeated SIGKILL left.
struct Load {
    /// Senders of the messages that got a 250.
    acked: HashSet<String>,
    kills: usize,
    /// The server started after the last kill.
    server: Running,
    started: Instant,
}

/// Six clients send until `target` messages are acknowledged, while the server is killed
/// with SIGKILL every 50-400 ms (at least `min_kills` times) and restarted.
async fn load_while_killing(
    config: &std::path::Path,
    addr: std::net::SocketAddr,
    target: usize,
    min_kills: usize,
) -> Load {
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut server = Running::start(config);
    let clients: Vec<_> =
        (0..6).map(|i| tokio::spawn(client(i, addr, acked.clone(), count.clone(), stop.clone()))).collect();
    let started = Instant::now();
    let mut kills = 0;
    while (count.load(Ordering::Relaxed) < target || kills < min_kills) && started.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(rand::thread_rng().gen_range(50..400))).await;
        tokio::task::spawn_blocking(move || server.kill()).await.unwrap();
        kills += 1;
        let c = config.to_path_buf();
        server = tokio::task::spawn_blocking(move || Running::start(&c)).await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    Load { acked, kills, server, started }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_message() {
    let target = env_usize("SEKISHO_CRASH_MESSAGES", 1000);
    let min_kills = env_usize("SEKISHO_CRASH_KILLS", 20);
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = write_config(dir.path(), addr, "");

    let Load { acked, kills, server, started } = load_while_killing(&config, addr, target, min_kills).await;
    let mut server = Some(server);
    let s = server.take().unwrap();
    tokio::task::spawn_blocking(move || s.kill()).await.unwrap();
    // One more start runs recovery over whatever the last kill left.
    let config2 = config.clone();
    let s = tokio::task::spawn_blocking(move || Running::start(&config2)).await.unwrap();
    assert!(s.terminate().success());

    let (code, stdout, stderr) = run(Some(&config), &["queue", "list", "--all", "--json"], "");
    assert_eq!(code, 0, "{stderr}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let mut present: HashMap<String, usize> = HashMap::new();
    for m in &list {
        *present.entry(m["sender"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let lost: Vec<&String> = acked.iter().filter(|s| !present.contains_key(*s)).collect();
    let duplicates = present.values().filter(|&&n| n > 1).count();
    let quarantined = std::fs::read_dir(dir.path().join("data/quarantine")).unwrap().count();
    println!(
        "crash test: kills {kills}, acked {}, present {} (acked ones {}), lost {}, duplicates {duplicates}, quarantined {quarantined}, {:.1}s",
        acked.len(),
        list.len(),
        acked.len() - lost.len(),
        lost.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= min_kills);
    assert!(acked.len() >= target, "only {} messages acked", acked.len());
    assert!(lost.is_empty(), "lost after 250: {lost:?}");
    assert_eq!(duplicates, 0);
    assert_eq!(quarantined, 0, "no damaged message after SIGKILL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_delivering_every_acked_message_reaches_the_sink() {
    let target = env_usize("SEKISHO_CRASH_MESSAGES", 1000);
    let min_kills = env_usize("SEKISHO_CRASH_KILLS", 20);
    let dns = FakeDns::start("127.0.0.53").await;
    let sink = FakeMx::start("127.0.0.120:0", MxBehavior::default()).await;
    dns.mx("example.com", 10, "mx.example.com");
    dns.addr("mx.example.com", "127.0.0.120");
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\n[delivery]\nport = {}\nretry_schedule = [\"1s\"]\nscan_interval = \"100ms\"\n",
        dns.addr,
        sink.addr.port()
    );
    let config = write_config(dir.path(), addr, &extra);

    let Load { acked, kills, server, .. } = load_while_killing(&config, addr, target, min_kills).await;
    let mut server = Some(server);
    // Drain: the last server delivers what is left.
    let drain_started = Instant::now();
    loop {
        let (code, out, err) = run(Some(&config), &["queue", "list", "--json"], "");
        assert_eq!(code, 0, "{err}");
        let left = serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap().len();
        if left == 0 || drain_started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s = server.take().unwrap();
    assert!(tokio::task::spawn_blocking(move || s.terminate()).await.unwrap().success());

    let mut delivered: HashMap<String, usize> = HashMap::new();
    for m in sink.received() {
        *delivered.entry(m.mail_from.clone()).or_default() += 1;
    }
    let lost: Vec<&String> = acked.iter().filter(|s| !delivered.contains_key(*s)).collect();
    let duplicates: usize = delivered.values().map(|n| n - 1).sum();
    println!(
        "delivery crash test: kills {kills}, acked {}, delivered {} distinct ({} in all), lost {}, duplicates {duplicates}, \
         drained in {:.1}s",
        acked.len(),
        delivered.len(),
        sink.received().len(),
        lost.len(),
        drain_started.elapsed().as_secs_f64()
    );
    assert!(acked.len() >= target);
    assert!(lost.is_empty(), "acknowledged but never delivered: {} e.g. {:?}", lost.len(), lost.first());
}
