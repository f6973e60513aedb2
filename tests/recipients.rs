//! Recipient verification at RCPT on the MX listener: unknown recipients of a verified local
//! domain are refused with 550 5.1.1 (never accepted and bounced later), from a list file or
//! from a callout to a real Postfix standing in for the internal server; a callout that gets no
//! answer is a temporary refusal, and a client that tries too many unknown addresses is cut
//! off.

use std::process::Command;
use std::time::Duration;

use sekisho_config::RecipientRule;
use sekisho_testkit::{Client, TestServer};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postfix-instance");

struct Postfix(std::path::PathBuf);

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).arg("stop").arg(&self.0).status();
    }
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

fn rule(list: Option<std::path::PathBuf>, callout_host: Option<String>) -> RecipientRule {
    RecipientRule { domains: vec!["example.jp".into()], list, callout: false, callout_host, ldap: false }
}

async fn rcpt(c: &mut Client, to: &str) -> (u16, String) {
    let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
    (r.code, r.text())
}

async fn mx_session(s: &TestServer) -> Client {
    let (mut c, _) = Client::connect(s.mx).await;
    assert_eq!(c.cmd("EHLO client.example").await.code, 250);
    assert_eq!(c.cmd("MAIL FROM:<sender@outside.example>").await.code, 250);
    c
}

#[tokio::test]
async fn a_list_file_decides_and_is_read_again_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, "# staff\nalice@example.jp\n").unwrap();
    let s = TestServer::start_with(|c| {
        c.recipients.list_check_interval = sekisho_config::Duration::parse("100ms").unwrap();
        c.recipients.domains.push(rule(Some(list.clone()), None));
    })
    .await;
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "alice@example.jp").await.0, 250);
    let (code, text) = rcpt(&mut c, "dave@example.jp").await;
    assert_eq!(code, 550, "{text}");
    assert!(text.starts_with("5.1.1 <dave@example.jp>: Recipient address rejected"), "{text}");
    assert_eq!(rcpt(&mut c, "postmaster@example.jp").await.0, 250, "every domain has a postmaster");

    std::fs::write(&list, "# staff\nalice@example.jp\ndave@example.jp\n").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "dave@example.jp").await.0, 250, "the new list is read without a restart");
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(b"Subject: hi\r\n\r\nhello\r\n.\r\n").await;
    let r = c.read().await;
    assert_eq!(r.code, 250, "{r:?}");
    let stored = s.stored(&r).await;
    let to: Vec<&str> = stored.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(to, ["dave@example.jp"]);
}

#[tokio::test]
async fn a_client_that_tries_too_many_unknown_recipients_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, "alice\n").unwrap();
    let s = TestServer::start_with(|c| {
        c.recipients.max_unknown = 3;
        c.recipients.domains.push(rule(Some(list.clone()), None));
    })
    .await;
    let mut c = mx_session(&s).await;
    for name in ["a", "b", "c"] {
        assert_eq!(rcpt(&mut c, &format!("{name}@example.jp")).await.0, 550);
    }
    let (code, text) = rcpt(&mut c, "alice@example.jp").await;
    assert_eq!(
        (code, text.as_str()),
        (421, "4.7.1 Too many unknown recipients (3) in this session, closing connection")
    );
    assert!(c.is_closed(Duration::from_secs(2)).await, "the connection is closed after the 421");
}

#[tokio::test]
async fn reconnecting_does_not_reset_the_count_of_a_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, "alice\n").unwrap();
    let s = TestServer::start_with(|c| {
        c.recipients.max_unknown = 2;
        c.recipients.max_unknown_per_client = 3;
        c.recipients.domains.push(rule(Some(list.clone()), None));
    })
    .await;
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "a@example.jp").await.0, 550);
    assert_eq!(rcpt(&mut c, "b@example.jp").await.0, 550);
    assert_eq!(rcpt(&mut c, "alice@example.jp").await.0, 421, "the session's own limit");
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "alice@example.jp").await.0, 250);
    assert_eq!(rcpt(&mut c, "c@example.jp").await.0, 550);
    let mut c = mx_session(&s).await;
    let (code, text) = rcpt(&mut c, "alice@example.jp").await;
    assert_eq!(
        (code, text.as_str()),
        (421, "4.7.1 Too many unknown recipients from your address; try again later, closing connection"),
        "three unknown recipients from this address: even a known one is not answered now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callout_to_the_internal_postfix_refuses_unknown_users_and_never_guesses_when_it_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port("127.0.0.151");
    let pf = dir.path().join("postfix");
    let started = Command::new(SCRIPT)
        .args(["start", pf.to_str().unwrap(), &format!("127.0.0.151:{port}"), "mailbox", "example.jp", "alice", "bob"])
        .status()
        .expect("run scripts/postfix-instance");
    assert!(started.success(), "Postfix must start (root and the postfix package; scripts/test installs it)");
    let guard = Postfix(pf.clone());
    let s = TestServer::start_with(|c| {
        c.delivery.next_hop = Some(format!("[127.0.0.151]:{port}"));
        c.recipients.max_unknown = 5;
        c.recipients.domains.push(RecipientRule { callout: true, ..rule(None, None) });
    })
    .await;
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "alice@example.jp").await.0, 250);
    let (code, text) = rcpt(&mut c, "ghost@example.jp").await;
    assert_eq!((code, text.starts_with("5.1.1 <ghost@example.jp>")), (550, true), "{text}");

    drop(guard);
    let mut c = mx_session(&s).await;
    assert_eq!(rcpt(&mut c, "alice@example.jp").await.0, 250, "a known address is remembered");
    assert_eq!(rcpt(&mut c, "ghost@example.jp").await.0, 550, "an unknown one too");
    let (code, text) = rcpt(&mut c, "bob@example.jp").await;
    assert_eq!(code, 451, "the internal server is down: a temporary refusal, never 550: {text}");
    assert!(text.starts_with("4.4.3 "), "{text}");
}
