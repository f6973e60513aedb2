//! SIGHUP on a running gateway, as an administrator uses it: edit the file, `kill -HUP`, and
//! logrotate's `postrotate kill -HUP`.
//!
//! Scenario: the administrator moves a route to a new server and lowers the message size limit,
//! then sends SIGHUP; a client that connected before finishes under the old limit, the next
//! client gets the new one, and every delivery from then on takes the new route. A typo in the
//! file on the next SIGHUP is logged with its line and key, and the gateway keeps serving as it
//! was. logrotate renames the log file and sends SIGHUP: the gateway writes a new file. A
//! renewed certificate is presented to the next client after SIGHUP.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sekisho_testkit::{Client, FakeMx, MxBehavior, TestPki};
use support::{Running, own_address};

/// The configuration text: `route` for example.com, `extra` appended (whole sections).
fn config_text(dir: &Path, submission: SocketAddr, route: SocketAddr, extra: &str) -> String {
    let ip = submission.ip();
    format!(
        "hostname = \"gw.sekisho.test\"\nlocal_domains = [\"example.jp\"]\n\n\
         [delivery]\nrelay_host = \"[127.0.0.1]:9\"\n\n\
         [routes]\n\"example.com\" = \"[{rip}]:{rport}\"\n\n\
         [store]\npath = \"{data}\"\nmin_free_space = 0\n\n\
         [log]\nlevel = \"info\"\nfile = \"{log}\"\n\n\
         [portal]\naddress = \"{ip}:8025\"\nurl = \"http://{ip}:8025\"\n\n\
         [[listener]]\naddress = \"{submission}\"\nrole = \"submission\"\ntrusted_networks = [\"127.0.0.0/8\"]\n\n{extra}",
        rip = route.ip(),
        rport = route.port(),
        data = dir.join("data").display(),
        log = dir.join("sekisho.log").display(),
    )
}

/// Waits until the file at `path` has a line containing `needle`; that line.
fn line_in(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no line with {needle:?} in {}:\n{text}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn start(config: PathBuf) -> Running {
    tokio::task::spawn_blocking(move || Running::start(&config)).await.unwrap()
}

async fn session(addr: SocketAddr) -> Client {
    let (mut c, _) = Client::connect(addr).await;
    assert_eq!(c.cmd("EHLO client.test").await.code, 250);
    c
}

/// A message of about `size` bytes, in lines of 72.
fn message(subject: &str, size: usize) -> String {
    format!("Subject: {subject}\r\n\r\n{}", format!("{}\r\n", "x".repeat(70)).repeat(size / 72 + 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sighup_new_mail_takes_the_new_route_and_limit_while_an_open_session_finishes_on_the_old() {
    let old = FakeMx::start("127.0.0.1:0", MxBehavior::default()).await;
    let new = FakeMx::start("127.0.0.1:0", MxBehavior::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = dir.path().join("sekisho.toml");
    std::fs::write(&config, config_text(dir.path(), addr, old.addr, "")).unwrap();
    let server = start(config.clone()).await;

    let mut before = session(addr).await;
    assert_eq!(before.send_mail("alice@example.jp", &["bob@example.com"], &message("first", 10)).await.code, 250);
    old.wait_for(1, 20).await;

    // The open session has said MAIL and RCPT when the configuration changes.
    assert_eq!(before.cmd("MAIL FROM:<alice@example.jp>").await.code, 250);
    assert_eq!(before.cmd("RCPT TO:<bob@example.com>").await.code, 250);
    let smaller = "[smtp]\nmax_message_size = 2000\n";
    std::fs::write(&config, config_text(dir.path(), addr, new.addr, smaller)).unwrap();
    server.signal(libc::SIGHUP);
    let reloaded = line_in(&dir.path().join("sekisho.log"), "SIGHUP: configuration reloaded");
    assert!(reloaded.contains("INFO"), "nothing bound at start changed: {reloaded}");

    assert_eq!(before.cmd("DATA").await.code, 354);
    before.send(format!("{}.\r\n", message("opened before", 5000)).as_bytes()).await;
    let r = before.read().await;
    assert_eq!(r.code, 250, "the session opened before keeps the limit it started with: {r:?}");

    let mut after = session(addr).await;
    let r = after.send_mail("alice@example.jp", &["bob@example.com"], &message("too big now", 5000)).await;
    assert_eq!(r.code, 552, "a new session has the new limit: {r:?}");
    let r = after.send_mail("alice@example.jp", &["bob@example.com"], &message("small", 10)).await;
    assert_eq!(r.code, 250, "{r:?}");

    let got = new.wait_for(2, 20).await;
    let subjects: Vec<String> = got
        .iter()
        .map(|d| String::from_utf8_lossy(&d.data).lines().find(|l| l.starts_with("Subject:")).unwrap().to_string())
        .collect();
    assert!(
        subjects.contains(&"Subject: opened before".to_string()) && subjects.contains(&"Subject: small".to_string()),
        "{subjects:?}"
    );
    assert_eq!(old.received().len(), 1, "nothing took the old route after the reload");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_on_sighup_is_logged_with_line_and_key_and_the_old_configuration_keeps_serving() {
    let mx = FakeMx::start("127.0.0.1:0", MxBehavior::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = dir.path().join("sekisho.toml");
    let good = config_text(dir.path(), addr, mx.addr, "");
    std::fs::write(&config, &good).unwrap();
    let server = start(config.clone()).await;

    let broken = format!("{good}\n[outbound]\ntls_require = \"sometimes\"\n");
    let line = broken.lines().position(|l| l.starts_with("tls_require")).unwrap() + 1;
    std::fs::write(&config, &broken).unwrap();
    server.signal(libc::SIGHUP);
    let logged = line_in(&dir.path().join("sekisho.log"), "configuration not reloaded");
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(logged.contains(&format!("sekisho.toml:{line}")), "the line is named: {logged}");
    assert!(logged.contains("tls_require"), "the key is named: {logged}");

    let mut c = session(addr).await;
    assert_eq!(c.send_mail("alice@example.jp", &["bob@example.com"], &message("still", 10)).await.code, 250);
    mx.wait_for(1, 20).await;
    let mut server = server;
    assert!(matches!(server.child.try_wait(), Ok(None)), "still running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_logrotate_renames_the_log_file_sighup_starts_a_new_one() {
    let mx = FakeMx::start("127.0.0.1:0", MxBehavior::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = dir.path().join("sekisho.toml");
    std::fs::write(&config, config_text(dir.path(), addr, mx.addr, "")).unwrap();
    let server = start(config).await;
    let log = dir.path().join("sekisho.log");
    line_in(&log, "queue opened");

    std::fs::rename(&log, dir.path().join("sekisho.log.1")).unwrap();
    server.signal(libc::SIGHUP);
    line_in(&log, "SIGHUP: configuration reloaded");
    let mut c = session(addr).await;
    assert_eq!(c.send_mail("alice@example.jp", &["bob@example.com"], &message("rotated", 10)).await.code, 250);
    line_in(&log, "queued");
    let rotated = std::fs::read_to_string(dir.path().join("sekisho.log.1")).unwrap();
    assert!(rotated.contains("queue opened") && !rotated.contains("queued"), "{rotated}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_presented_to_the_next_client_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestPki::generate_named(&dir.path().join("first"), "gw.sekisho.test", "first");
    let second = TestPki::generate_named(&dir.path().join("second"), "gw.sekisho.test", "second");
    let (cert, key) = (dir.path().join("gw.crt"), dir.path().join("gw.key"));
    std::fs::copy(&first.cert_path, &cert).unwrap();
    std::fs::copy(&first.key_path, &key).unwrap();
    let addr = own_address(2525);
    let config = dir.path().join("sekisho.toml");
    let tls = format!("[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n", cert.display(), key.display());
    std::fs::write(&config, config_text(dir.path(), addr, "127.0.0.1:9".parse().unwrap(), &tls)).unwrap();
    let server = start(config).await;

    let (c, _) = Client::connect(addr).await;
    let c = c.starttls(&first.ca_pem).await;
    assert_eq!(c.peer_cn.as_deref(), Some("first"));

    std::fs::copy(&second.cert_path, &cert).unwrap();
    std::fs::copy(&second.key_path, &key).unwrap();
    server.signal(libc::SIGHUP);
    line_in(&dir.path().join("sekisho.log"), "SIGHUP: configuration reloaded");
    let (c, _) = Client::connect(addr).await;
    let c = c.starttls(&second.ca_pem).await;
    assert_eq!(c.peer_cn.as_deref(), Some("second"), "the renewed certificate");
    drop(server);
}
