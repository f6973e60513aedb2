//! The crash tests' machinery: one or several `sekisho serve` processes on one queue (SQLite
//! in the node's data directory, or one PostgreSQL database every node shares), clients
//! sending mail to all of them, nodes killed with SIGKILL at random moments, and the count of
//! what got a 250 against what the queue or the destination holds afterwards. The crash
//! scenarios are here too, parameterised by backend and number of nodes, so that
//! tests/crash.rs and tests/several_nodes.rs run the same bodies on both backends.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use sekisho_testkit::postgres::Postgres;
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior};

use super::{Running, own_address, run, write_node_config};

/// Scenarios run one at a time within a test binary: on two cores, one scenario's nodes,
/// database and clients are load enough, and a scenario starved by another would time out.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The number in environment variable `name`, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Where the nodes keep the queue's state (`[store] backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `queue.db` in the data directory: one node.
    Sqlite,
    /// One PostgreSQL database, shared by every node.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// One node: a directory of its own (configuration, data directory), a hostname (its name in
/// the claims it takes) and a submission listener.
pub struct Node {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub addr: SocketAddr,
    pub hostname: String,
    server: Option<Running>,
}

/// Nodes sharing one queue and one store key.
pub struct Cluster {
    /// Dropped (killed) before the database.
    pub nodes: Vec<Node>,
    /// The database of [`Backend::Postgres`].
    pub postgres: Option<Postgres>,
    pub backend: Backend,
}

impl Cluster {
    /// Writes the configurations of `count` nodes under `dir`, all on `backend`'s queue and one
    /// store key; `store` adds lines to each `[store]` table, `extra` is as
    /// [`super::write_config`]'s. Starts PostgreSQL for [`Backend::Postgres`]; no node yet.
    pub fn new(dir: &Path, backend: Backend, count: usize, store: &str, extra: &str) -> Cluster {
        assert!(backend == Backend::Postgres || count == 1, "on SQLite one node serves");
        let postgres =
            (backend == Backend::Postgres).then(|| Postgres::start(&dir.join("pg"), &own_address(0).ip().to_string()));
        let key = dir.join("store.key");
        std::fs::write(&key, rand::random::<[u8; 32]>()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut lines = format!("key_file = \"{}\"\n", key.display());
        if let Some(pg) = &postgres {
            lines += &format!("backend = \"postgres\"\nurl = \"{}\"\n", pg.url());
        }
        lines += store;
        let nodes = (1..=count)
            .map(|i| {
                let dir = dir.join(format!("node{i}"));
                let addr = own_address(2525);
                let hostname = format!("node{i}.sekisho.test");
                let config = write_node_config(&dir, addr, &hostname, &lines, extra);
                Node { dir, config, addr, hostname, server: None }
            })
            .collect();
        Cluster { nodes, postgres, backend }
    }

    /// Starts node `i` and waits until it listens.
    pub async fn start(&mut self, i: usize) {
        let config = self.nodes[i].config.clone();
        let server = tokio::task::spawn_blocking(move || Running::start(&config)).await.unwrap();
        self.nodes[i].server = Some(server);
    }

    /// Starts every node, one after the other.
    pub async fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i).await;
        }
    }

    /// Kills node `i` with SIGKILL, if it runs.
    pub async fn kill(&mut self, i: usize) {
        if let Some(server) = self.nodes[i].server.take() {
            tokio::task::spawn_blocking(move || server.kill()).await.unwrap();
        }
    }

    /// Stops every running node with SIGTERM; each must exit cleanly.
    pub async fn terminate_all(&mut self) {
        for node in &mut self.nodes {
            if let Some(server) = node.server.take() {
                let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
                assert!(status.success(), "{} stopped with {status}", node.hostname);
            }
        }
    }

    /// Every node's listener.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.addr).collect()
    }

    /// The first node's configuration, through which the queue every node shares is read.
    pub fn config(&self) -> &Path {
        &self.nodes[0].config
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        self.postgres.as_ref().expect("a PostgreSQL cluster").url()
    }

    /// The messages `sekisho queue list --json [ARGS]` shows.
    pub fn list(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["queue", "list", "--json"];
        all.extend_from_slice(args);
        let (code, out, err) = run(Some(self.config()), &all, "");
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// Waits until no message is queued any more, at most `limit`; how many are left.
    pub async fn drain(&self, limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let left = self.list(&[]).len();
            if left == 0 || started.elapsed() > limit {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Six clients sending mail, each message with a sender of its own, spread over the nodes.
pub struct Clients {
    acked: Arc<Mutex<HashSet<String>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    /// Starts them: client `i` sends to `addrs[i % addrs.len()]`, reconnecting whenever its
    /// server goes away.
    pub fn start(addrs: &[SocketAddr]) -> Clients {
        let acked = Arc::new(Mutex::new(HashSet::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..6)
            .map(|i| tokio::spawn(client(i, addrs[i % addrs.len()], acked.clone(), count.clone(), stop.clone())))
            .collect();
        Clients { acked, count, stop, tasks }
    }

    /// Messages acknowledged with a 250 so far.
    pub fn acked(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops every client; the senders of the messages that got a 250.
    pub async fn stop(self) -> HashSet<String> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        std::mem::take(&mut *self.acked.lock().unwrap())
    }
}

/// One client: sends messages with unique senders to `addr` until `stop`, recording each
/// acknowledged sender.
async fn client(
    id: usize,
    addr: SocketAddr,
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

/// Kills one node at a time with SIGKILL, every 50-400 ms, and starts it again at once, until
/// `clients` have `target` messages acknowledged and at least `min_kills` kills were made (at
/// most five minutes); the number of kills.
pub async fn kill_in_turn(cluster: &mut Cluster, clients: &Clients, target: usize, min_kills: usize) -> usize {
    let started = Instant::now();
    let mut kills = 0;
    while (clients.acked() < target || kills < min_kills) && started.elapsed() < Duration::from_secs(300) {
        let (pause, victim) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(50..400), rng.gen_range(0..cluster.nodes.len()))
        };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        cluster.kill(victim).await;
        kills += 1;
        cluster.start(victim).await;
    }
    kills
}

/// What became of the acknowledged messages, against the messages found where they should be
/// (the queue, or the destination).
#[derive(Debug)]
pub struct Tally {
    /// Messages found, copies included.
    pub found: usize,
    /// Distinct messages found.
    pub distinct: usize,
    /// Acknowledged but not found.
    pub lost: Vec<String>,
    /// Copies beyond the first, over every message.
    pub duplicates: usize,
}

/// Counts `found` (the sender of each message found, once per copy) against `acked`.
pub fn tally(acked: &HashSet<String>, found: impl IntoIterator<Item = String>) -> Tally {
    let mut copies: HashMap<String, usize> = HashMap::new();
    for sender in found {
        *copies.entry(sender).or_default() += 1;
    }
    let mut lost: Vec<String> = acked.iter().filter(|s| !copies.contains_key(*s)).cloned().collect();
    lost.sort();
    Tally {
        found: copies.values().sum(),
        distinct: copies.len(),
        lost,
        duplicates: copies.values().map(|n| n - 1).sum(),
    }
}

/// A destination for the load's recipients (`@example.com`): a fake DNS naming a fake MX, on
/// loopback, and the configuration that makes the nodes deliver there quickly.
pub struct Destination {
    pub dns: FakeDns,
    pub sink: FakeMx,
    /// `[dns]` and `[delivery]` tables for [`Cluster::new`]'s `extra`.
    pub config: String,
}

impl Destination {
    /// Starts it; the MX behaves as `behavior` says.
    pub async fn start(behavior: MxBehavior) -> Destination {
        let dns = FakeDns::start("127.0.0.53").await;
        let sink = FakeMx::start("127.0.0.120:0", behavior).await;
        dns.mx("example.com", 10, "mx.example.com");
        dns.addr("mx.example.com", "127.0.0.120");
        let config = format!(
            "[dns]\nservers = [\"{}\"]\n[delivery]\nport = {}\nretry_schedule = [\"1s\"]\nscan_interval = \"100ms\"\n",
            dns.addr,
            sink.addr.port()
        );
        Destination { dns, sink, config }
    }

    /// The senders of the messages delivered, once per copy.
    pub fn senders(&self) -> Vec<String> {
        self.sink.received().into_iter().map(|m| m.mail_from).collect()
    }
}

/// The crash test on `backend` with one node: a load of at least `target` messages while the
/// node is killed with SIGKILL at least `min_kills` times at random moments and restarted.
/// Afterwards every message that got a 250 is in the queue exactly once, and none was
/// quarantined as damaged.
pub async fn queue_survives_kills(backend: Backend, target: usize, min_kills: usize) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), backend, 1, "", "");
    let started = Instant::now();
    cluster.start_all().await;
    let clients = Clients::start(&cluster.addrs());
    let kills = kill_in_turn(&mut cluster, &clients, target, min_kills).await;
    let acked = clients.stop().await;
    cluster.kill(0).await;
    // One more start runs recovery over whatever the last kill left.
    cluster.start(0).await;
    cluster.terminate_all().await;

    let list = cluster.list(&["--all"]);
    let t = tally(&acked, list.iter().map(|m| m["sender"].as_str().unwrap().to_string()));
    let quarantined = std::fs::read_dir(cluster.nodes[0].dir.join("data/quarantine")).unwrap().count();
    println!(
        "crash test on {backend}: kills {kills}, acked {}, present {} (acked ones {}), lost {}, duplicates {}, \
         quarantined {quarantined}, {:.1}s",
        acked.len(),
        t.found,
        acked.len() - t.lost.len(),
        t.lost.len(),
        t.duplicates,
        started.elapsed().as_secs_f64()
    );
    assert!(kills >= min_kills);
    assert!(acked.len() >= target, "only {} messages acked", acked.len());
    assert!(t.lost.is_empty(), "lost after 250: {:?}", t.lost);
    assert_eq!(t.duplicates, 0, "a message acknowledged once is queued once");
    assert_eq!(quarantined, 0, "no damaged message after SIGKILL");
}

/// The delivery crash test on `nodes` nodes of `backend`: clients send to every node while one
/// node at a time is killed with SIGKILL at random moments and restarted (at least
/// `min_kills` times, until `target` messages got a 250); then the nodes drain the queue to a
/// fake MX. Every message that got a 250 must reach it at least once; copies delivered twice
/// (a node killed after the destination's 250, before recording it) are counted and printed.
pub async fn deliveries_survive_kills(backend: Backend, nodes: usize, target: usize, min_kills: usize) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let destination = Destination::start(MxBehavior::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::new(dir.path(), backend, nodes, "", &destination.config);
    cluster.start_all().await;
    let clients = Clients::start(&cluster.addrs());
    let kills = kill_in_turn(&mut cluster, &clients, target, min_kills).await;
    let acked = clients.stop().await;
    // Drain: the nodes running after the last kill deliver what is left.
    let drain_started = Instant::now();
    let left = cluster.drain(Duration::from_secs(120)).await;
    cluster.terminate_all().await;

    let t = tally(&acked, destination.senders());
    println!(
        "delivery crash test on {backend}, {nodes} node(s): kills {kills}, acked {}, delivered {} distinct ({} in all), \
         lost {}, duplicates {}, left queued {left}, drained in {:.1}s",
        acked.len(),
        t.distinct,
        t.found,
        t.lost.len(),
        t.duplicates,
        drain_started.elapsed().as_secs_f64()
    );
    assert!(kills >= min_kills);
    assert!(acked.len() >= target, "only {} messages acked", acked.len());
    assert!(t.lost.is_empty(), "acknowledged but never delivered: {} e.g. {:?}", t.lost.len(), t.lost.first());
}
