//! Independent receiving peers: a real Postfix (a private instance started for the test) and
//! Python's aiosmtpd take mail from sekisho's delivery.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sekisho_store::RecipientState;
use sekisho_testkit::{FakeDns, TestServer};

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

struct Postfix(std::path::PathBuf);

impl Drop for Postfix {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postfix-instance");
        let _ = Command::new(script).arg("stop").arg(&self.0).status();
    }
}

async fn wait_file(path: &Path, needle: &str) -> String {
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains(needle)
        {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never contained {needle}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_postfix_receives_from_sekisho() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.130");
    let pf = dir.path().join("postfix");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postfix-instance");
    let started = Command::new(script)
        .args(["start", pf.to_str().unwrap(), &format!("127.0.0.130:{port}"), "mailbox", "example.net"])
        .status()
        .expect("run scripts/postfix-instance");
    assert!(started.success(), "Postfix must start (root and the postfix package; scripts/test installs it)");
    let _guard = Postfix(pf.clone());

    let dns = FakeDns::start("127.0.0.53").await;
    dns.mx("example.net", 10, "mail.example.net");
    dns.addr("mail.example.net", "127.0.0.130");
    let s = TestServer::start_delivering(&dns, port, |_| {}).await;
    let content = "From: alice@example.jp\r\nTo: user@example.net\r\nSubject: to postfix\r\n\r\n.dot line\r\nbody\r\n";
    let id = s.submit("alice@example.jp", &["user@example.net"], content).await;
    let d = s
        .wait_for(&id, 20, |d| {
            d.recipients.iter().all(|r| matches!(r.state, RecipientState::Delivered | RecipientState::Bounced))
        })
        .await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert!(d.attempts[0].attempt.reply.starts_with("250 2.0.0 Ok: queued as"), "{:?}", d.attempts);
    let inbox = wait_file(&pf.join("mail/inbox"), "Subject: to postfix").await;
    assert!(inbox.contains("by gw.sekisho.test (sekisho)"), "sekisho's Received field arrives: {inbox}");
    assert!(inbox.contains("\n.dot line\n"), "dot-stuffing round-trips");
}

#[test]
fn the_private_postfix_has_its_own_master_cf_and_a_failed_start_leaves_nothing_running() {
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("postfix");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postfix-instance");
    let _guard = Postfix(pf.clone());
    // Port 0: the master starts and binds somewhere, but never where the script looks.
    let out = Command::new(script)
        .args(["start", pf.to_str().unwrap(), "127.0.0.131:0", "mailbox", "example.net"])
        .output()
        .expect("run scripts/postfix-instance");
    assert!(!out.status.success(), "the start fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did not start listening on 127.0.0.131:0"), "{stderr}");
    let status = Command::new("postfix").arg("-c").arg(pf.join("conf")).arg("status").output().unwrap();
    assert!(!status.status.success(), "the instance's master was stopped: {status:?}");

    let master = std::fs::read_to_string(pf.join("conf/master.cf")).unwrap();
    let services: Vec<&str> =
        master.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(services[0], "127.0.0.131:0", "one SMTP listener, on the address asked for: {master}");
    assert!(!services.contains(&"smtp") || master.contains("smtp         unix"), "no stock `smtp inet`: {master}");
    assert!(!services.contains(&"maildrop"), "nothing copied from /etc/postfix/master.cf: {master}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiosmtpd_receives_from_sekisho() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.140");
    let maildir = dir.path().join("maildir");
    let mut child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .args(["-l", &format!("127.0.0.140:{port}")])
        .spawn()
        .expect("python3 with aiosmtpd (scripts/test installs it)");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.140", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.try_wait().unwrap().is_none(), "aiosmtpd did not start");
    let _guard = Kill(child);

    let dns = FakeDns::start("127.0.0.53").await;
    dns.mx("example.org", 10, "mx.example.org");
    dns.addr("mx.example.org", "127.0.0.140");
    let s = TestServer::start_delivering(&dns, port, |_| {}).await;
    let id =
        s.submit("alice@example.jp", &["a@example.org", "b@example.org"], "Subject: to aiosmtpd\r\n\r\nhi\r\n").await;
    let d = s.wait_for(&id, 20, |d| d.recipients.iter().all(|r| r.state == RecipientState::Delivered)).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{d:#?}");
    let mut found = String::new();
    for _ in 0..50 {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
                for e in entries.flatten() {
                    found.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found.contains("Subject: to aiosmtpd"), "{found}");
    assert_eq!(found.matches("Subject: to aiosmtpd").count(), 1, "one transaction for both recipients");
}

/// Starts `tests/peers/legacy_tls_mx.py` (aiosmtpd offering STARTTLS with TLS 1.0/1.1 only).
fn legacy_tls_mx(ip: &str, port: u16, pki: &sekisho_testkit::TestPki, maildir: &Path) -> std::process::Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/legacy_tls_mx.py");
    let mut child = Command::new("python3")
        .args(["-W", "ignore", script, ip, &port.to_string()])
        .arg(&pki.cert_path)
        .arg(&pki.key_path)
        .arg(maildir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with aiosmtpd (scripts/test installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect((ip, port)).is_ok() {
            return child;
        }
        assert!(child.try_wait().unwrap().is_none(), "legacy TLS server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("legacy TLS server not listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_only_tls_1_0_and_1_1_grades_none() {
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = sekisho_testkit::TestPki::generate(&dir.path().join("pki"), "mx.legacy.example");
    let port = free_port("127.0.0.141");
    let maildir = dir.path().join("maildir");
    let _mx = Kill(legacy_tls_mx("127.0.0.141", port, &pki, &maildir));
    let dns = FakeDns::start("127.0.0.53").await;
    dns.mx("legacy.example", 10, "mx.legacy.example");
    dns.mx("strict-legacy.example", 10, "mx.legacy.example");
    dns.addr("mx.legacy.example", "127.0.0.141");
    let ca = pki.ca_path.clone();
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = vec![ca];
        c.outbound.tls.push(sekisho_config::OutboundTlsRule {
            domains: vec!["strict-legacy.example".into()],
            require: sekisho_config::Assurance::Encrypted,
        });
    })
    .await;

    // Opportunistic TLS: the handshake fails (sekisho speaks TLS 1.2 and 1.3 only), the mail
    // goes in plaintext on a new connection, graded none.
    let id = s.submit("alice@example.jp", &["a@legacy.example"], "Subject: old server\r\n\r\nhi\r\n").await;
    let d = s.wait_for(&id, 20, |d| d.recipients[0].state == RecipientState::Delivered).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    let e = d.attempts.last().unwrap().attempt.evidence.clone().unwrap();
    assert_eq!((e["assurance"].as_str(), e["starttls_offered"].as_bool()), (Some("none"), Some(true)), "{e:#}");
    assert!(e["detail"].as_str().unwrap().contains("STARTTLS failed"), "{e:#}");
    let text = wait_file_in(&maildir, "Subject: old server").await;
    assert!(text.starts_with("X-Transport: plain"), "{text}");

    // Where encryption is required, nothing goes: the mail waits.
    let id = s.submit("alice@example.jp", &["b@strict-legacy.example"], "Subject: strict\r\n\r\nhi\r\n").await;
    let d = s.wait_for(&id, 20, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("TLS handshake failed"), "{d:#?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all: String = std::fs::read_dir(&maildir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(!all.contains("Subject: strict"), "nothing in plaintext where encryption is required");
}

/// Waits for a file in `dir` containing `needle`; returns its text.
async fn wait_file_in(dir: &Path, needle: &str) -> String {
    for _ in 0..100 {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no file in {} contains {needle}", dir.display());
}
