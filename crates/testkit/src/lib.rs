//! Shared test kit: a sekisho server on loopback port 0 with a temporary data directory, a
//! certificate authority for its STARTTLS certificate, and a small SMTP client that speaks
//! exactly the bytes a test gives it. Fake DNS and fake MX hosts join it with delivery.

mod browser;
mod clamd;
mod client;
pub mod console;
mod dns;
mod https;
pub mod mail;
mod mx;
pub mod oidc;
mod pki;
pub mod postgres;
pub mod s3;
mod seed;
pub mod slapd;

pub use browser::{Browser, csrf_in};
pub use clamd::{
    CLAM_TEST_PATTERN, CLAMAV_TEST_FILES, Clamd, ClamdOptions, EICAR, EICAR_SIGNATURE, PATTERN_SIGNATURE,
    TEST_FILE_SIGNATURE,
};
pub use client::{Client, Response};
pub use dns::FakeDns;
pub use https::{FakeHttps, HttpAnswer, Request as HttpRequest};
pub use mx::{Delivered, FakeMx, MxBehavior};
pub use pki::TestPki;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sekisho_config::{Config, ListenerConfig, Role};
use sekisho_receive::Server;
use sekisho_store::{Queue, RecipientState, users};
use tokio::sync::oneshot;

/// A running sekisho SMTP server for one test.
pub struct TestServer {
    /// Submission listener trusting 127.0.0.0/8: relays without AUTH.
    pub trusted: SocketAddr,
    /// Submission listener trusting nobody: AUTH (after STARTTLS) needed to relay.
    pub submission: SocketAddr,
    /// MX listener for `example.jp`.
    pub mx: SocketAddr,
    /// The download portal (servers that deliver), at `config.portal.url`.
    pub portal: Option<SocketAddr>,
    /// The running portal itself (servers that deliver), for what its counters tell.
    pub portal_app: Option<sekisho_portal::Portal>,
    /// The certificates in use; `pki.ca_pem` is what clients trust.
    pub pki: TestPki,
    /// The queue the server writes to.
    pub queue: Queue,
    /// The sealed file store, opened with the store key (`config.store.key_file`).
    pub files: sekisho_store::files::FileStore,
    /// The configuration the server runs with.
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    dir: tempfile::TempDir,
}

/// The file store opened with the configured key file (created when missing), its keys
/// wrapped as `serve` wraps them.
async fn open_files(config: &Config, queue: &Queue) -> sekisho_store::files::FileStore {
    use sekisho_store::files::{KeyRing, create_key_file, read_key_file};
    let path = config.store.key_file.as_ref().expect("the test kit's configuration names a key file");
    let key = if path.exists() { read_key_file(path) } else { create_key_file(path) }.expect("store key");
    let (files, _) = sekisho_store::files::open_with_keys(&config.store.path, queue.stores(), KeyRing::new(key))
        .await
        .expect("open the file store");
    files
}

/// The configuration the test kit starts from: three listeners on port 0, local domain
/// `example.jp`, data in `dir`, certificate from `pki`.
pub fn base_config(dir: &Path, pki: &TestPki) -> Config {
    let mut config = Config::embedded();
    config.hostname = "gw.sekisho.test".into();
    config.local_domains = vec!["example.jp".into()];
    config.store.path = dir.join("data");
    // Beside the data directory, created at start when missing (as `serve` creates its default).
    config.store.key_file = Some(dir.join("store.key"));
    config.store.min_free_space = 0;
    config.tls.certificate = Some(pki.cert_path.clone());
    config.tls.key = Some(pki.key_path.clone());
    config.smtp.auth_failure_delay = sekisho_config::Duration::parse("50ms").expect("literal");
    let listener = |role, trusted: &[&str]| ListenerConfig {
        address: "127.0.0.1:0".parse().expect("literal"),
        role,
        trusted_networks: trusted.iter().map(|n| n.parse().expect("literal")).collect(),
        plaintext_auth_on_loopback: false,
        max_connections: None,
        max_connections_per_client: None,
        max_message_size: None,
        requiretls: None,
    };
    config.listeners =
        vec![listener(Role::Submission, &["127.0.0.0/8"]), listener(Role::Submission, &[]), listener(Role::Mx, &[])];
    config
}

impl TestServer {
    /// Starts a server on the base configuration.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server that also delivers, resolving through `dns` (a fake DNS server) and
    /// connecting to `port` on every MX, after `tweak` changed the base configuration.
    pub async fn start_delivering(dns: &FakeDns, port: u16, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_inner(None, Some((dns.addr, port)), tweak).await
    }

    /// Like `start_delivering`, on the data of a server stopped before (`stop`'s directory).
    pub async fn restart_delivering(
        dir: tempfile::TempDir,
        dns: &FakeDns,
        port: u16,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        Self::start_inner(Some(dir), Some((dns.addr, port)), tweak).await
    }

    /// Starts a server after `tweak` changed the base configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_inner(None, None, tweak).await
    }

    async fn start_inner(
        dir: Option<tempfile::TempDir>,
        delivery: Option<(SocketAddr, u16)>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let pki = TestPki::generate(dir.path(), "gw.sekisho.test");
        let mut config = base_config(dir.path(), &pki);
        let portal_listener = match delivery {
            Some(_) => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the portal")),
            None => None,
        };
        let portal_addr = portal_listener.as_ref().map(|l| l.local_addr().expect("portal address"));
        if let Some(addr) = portal_addr {
            config.portal.address = addr;
            config.portal.url = format!("http://{addr}");
        }
        if let Some((dns, port)) = delivery {
            config.dns.servers = vec![dns];
            config.dns.timeout = sekisho_config::Duration::parse("2s").expect("literal");
            config.delivery.port = port;
            config.delivery.retry_schedule = vec![sekisho_config::Duration::parse("1s").expect("literal")];
            config.delivery.scan_interval = sekisho_config::Duration::parse("200ms").expect("literal");
            config.delivery.connect_timeout = sekisho_config::Duration::parse("3s").expect("literal");
        }
        // Authentication asks DNS about every MX message; only the tests about it turn it on
        // (`config.authentication.enabled = true`), so the others keep their DNS traffic.
        config.authentication.enabled = false;
        tweak(&mut config);
        let mut database = sekisho_receive::database(&config);
        sekisho_objects_s3::attach(&mut database, &config).expect("[store.objects]");
        let (queue, _) =
            Queue::open_on(&config.store.path, &database, config.store.group_commit_max, config.store.group_sync)
                .await
                .expect("open queue");
        let files = open_files(&config, &queue).await;
        let server = Server::bind(config.clone(), queue.clone()).await.expect("bind");
        let addrs = server.local_addrs();
        let pick = |i: usize| addrs.get(i).map_or("127.0.0.1:9".parse().expect("literal"), |a| a.0);
        let (stop, stopped) = oneshot::channel::<()>();
        let deliverer = match delivery {
            Some(_) => {
                let dns = sekisho_dns::Resolver::new(&config.dns).expect("resolver");
                Some(
                    sekisho_deliver::Deliverer::new(
                        config.clone(),
                        queue.clone(),
                        std::sync::Arc::new(dns),
                        files.clone(),
                    )
                    .expect("deliverer"),
                )
            }
            None => None,
        };
        let portal = portal_listener
            .map(|l| (l, sekisho_portal::Portal::new(config.clone(), queue.clone(), files.clone()).expect("portal")));
        if let Some((_, p)) = &portal {
            p.set_submitter(server.submitter());
        }
        let portal_app = portal.as_ref().map(|(_, p)| p.clone());
        let task = tokio::spawn(async move {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let until_stopped = || {
                let mut rx = rx.clone();
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                }
            };
            let delivering = deliverer.map(|d| tokio::spawn(d.run(until_stopped())));
            let serving = portal.map(|(l, p)| tokio::spawn(p.run(l, until_stopped())));
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await;
            let _ = tx.send(true);
            if let Some(d) = delivering {
                let _ = d.await;
            }
            if let Some(s) = serving {
                let _ = s.await;
            }
        });
        TestServer {
            trusted: pick(0),
            submission: pick(1),
            mx: pick(2),
            portal: portal_addr,
            portal_app,
            pki,
            queue,
            files,
            config,
            stop: Some(stop),
            task: Some(task),
            dir,
        }
    }

    /// Creates a submission account.
    pub async fn add_user(&self, name: &str, password: &str) {
        let hash = users::hash_password(password);
        self.queue.stores().accounts.put_user(name, &hash).await.expect("add user");
    }

    /// Number of messages in the queue.
    pub async fn queued(&self) -> usize {
        self.queue.stores().messages.list_messages(false).await.expect("list").len()
    }

    /// The stored record of the message a "250 ... queued as ID" reply names.
    pub async fn stored(&self, reply: &Response) -> sekisho_store::MessageDetail {
        let id = queue_id(reply).unwrap_or_else(|| panic!("not a queued reply: {reply:?}"));
        self.queue.stores().messages.message(&id).await.expect("read queue").expect("message in the queue")
    }

    /// Every stored message, oldest first.
    pub async fn stored_all(&self) -> Vec<sekisho_store::MessageDetail> {
        let mut out = Vec::new();
        for m in self.queue.stores().messages.list_messages(false).await.expect("list") {
            out.push(self.queue.stores().messages.message(&m.id).await.expect("read").expect("listed message"));
        }
        out
    }

    /// Waits up to `secs` seconds until `done` holds for the stored record of message `id`.
    pub async fn wait_for(
        &self,
        id: &str,
        secs: u64,
        done: impl Fn(&sekisho_store::MessageDetail) -> bool,
    ) -> sekisho_store::MessageDetail {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let d = self.queue.stores().messages.message(id).await.expect("read").expect("message in the queue");
            if done(&d) || tokio::time::Instant::now() >= deadline {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Sends one message through the trusted submission listener; returns its queue ID.
    pub async fn submit(&self, from: &str, to: &[&str], content: &str) -> String {
        let (mut c, _) = Client::connect(self.trusted).await;
        c.cmd("EHLO client.test").await;
        let r = c.send_mail(from, to, content).await;
        assert_eq!(r.code, 250, "submission refused: {r:?}");
        queue_id(&r).expect("queue id")
    }

    /// Submits one short message from alice@example.jp to `rcpt` and waits up to 20 seconds for
    /// its first delivery attempt (or a final state). Returns the record and the TLS evidence of
    /// the last attempt (`Null` when there is none).
    pub async fn first_attempt(&self, rcpt: &str) -> (sekisho_store::MessageDetail, serde_json::Value) {
        const MSG: &str = "From: alice@example.jp\r\nSubject: test\r\n\r\nbody\r\n";
        let id = self.submit("alice@example.jp", &[rcpt], MSG).await;
        let d = self
            .wait_for(&id, 20, |d| {
                let r = &d.recipients[0];
                r.attempts >= 1 || matches!(r.state, RecipientState::Delivered | RecipientState::Bounced)
            })
            .await;
        let e = d.attempts.last().and_then(|a| a.attempt.evidence.clone()).unwrap_or_default();
        (d, e)
    }

    /// The spooled bytes of message `id`.
    pub fn body(&self, id: &str) -> Vec<u8> {
        std::fs::read(self.queue.body_path(id)).expect("spooled body")
    }

    /// A visitor of this server's portal (servers that deliver run one).
    pub fn browser(&self) -> Browser {
        Browser::new(&format!("http://{}", self.portal.expect("a delivering test server runs the portal")))
    }

    /// The temporary directory holding data and certificates.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops accepting and waits for the accept loops to end. Returns the temporary
    /// directory so the data outlives the server.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The queue ID in a "250 2.0.0 Ok: queued as ID" reply.
pub fn queue_id(reply: &Response) -> Option<String> {
    reply.text().rsplit_once("queued as ").map(|(_, id)| id.trim().to_string())
}
