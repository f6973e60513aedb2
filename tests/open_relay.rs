//! The open-relay probes of nmap's smtp-open-relay script, against the MX listener and an
//! unauthenticated submission listener: every one refused, nothing queued.

use sekisho_testkit::{Client, TestServer};

/// MAIL FROM / RCPT TO pairs in the spirit of smtp-open-relay's 16 tests, with the local domain
/// (`example.jp`) and the local host as an IP literal.
fn probes() -> Vec<(String, String)> {
    const RCPT: [&str; 16] = [
        "relaytest@outside.example",
        "relaytest@outside.example",
        "relaytest%outside.example@{L}",
        "relaytest%outside.example@[127.0.0.1]",
        "\"relaytest@outside.example\"",
        "\"relaytest%outside.example\"",
        "relaytest@outside.example@{L}",
        "\"relaytest@outside.example\"@{L}",
        "relaytest@outside.example@[127.0.0.1]",
        "@{L}:relaytest@outside.example",
        "@[127.0.0.1]:relaytest@outside.example",
        "outside.example!relaytest",
        "outside.example!relaytest@{L}",
        "outside.example!relaytest@[127.0.0.1]",
        "\"outside.example!relaytest\"@{L}",
        "relaytest@outside.example",
    ];
    let mut v = Vec::new();
    for local in ["example.jp", "[127.0.0.1]"] {
        for (i, rcpt) in RCPT.iter().enumerate() {
            let from = match i {
                0 => String::new(),
                15 => "relaytest@outside.example".to_string(),
                _ => format!("antispam@{local}"),
            };
            v.push((from, rcpt.replace("{L}", local)));
        }
    }
    v
}

async fn accepted_probes(s: &TestServer, addr: std::net::SocketAddr) -> Vec<String> {
    let mut accepted = Vec::new();
    for (from, to) in probes() {
        let (mut c, _) = Client::connect(addr).await;
        c.cmd("EHLO nmap.scanme.example").await;
        let m = c.cmd(&format!("MAIL FROM:<{from}>")).await;
        assert_eq!(m.code, 250, "MAIL FROM:<{from}> {m:?}");
        let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
        if r.code == 250 {
            accepted.push(to.clone());
            continue;
        }
        assert!(r.code >= 500, "<{to}> got {r:?}");
        if r.code == 554 {
            assert!(r.text().starts_with("5.7.1"), "{r:?}");
        }
        assert_ne!(c.cmd("DATA").await.code, 354, "no DATA without a recipient");
    }
    let _ = s;
    accepted
}

#[tokio::test]
async fn mx_listener_is_not_an_open_relay() {
    let s = TestServer::start().await;
    assert_eq!(probes().len(), 32);
    let accepted = accepted_probes(&s, s.mx).await;
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    assert_eq!(s.queued().await, 0);
}

#[tokio::test]
async fn unauthenticated_submission_is_not_an_open_relay() {
    let s = TestServer::start().await;
    let accepted = accepted_probes(&s, s.submission).await;
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
    let (mut c, _) = Client::connect(s.submission).await;
    c.cmd("EHLO x").await;
    c.cmd("MAIL FROM:<a@example.jp>").await;
    let r = c.cmd("RCPT TO:<bob@example.jp>").await;
    assert_eq!(r.code, 554, "even a local domain needs AUTH on submission: {r:?}");
}

#[tokio::test]
async fn mx_listener_accepts_its_own_domains() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO sender.example").await;
    c.cmd("MAIL FROM:<x@sender.example>").await;
    assert_eq!(c.cmd("RCPT TO:<bob@example.jp>").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<Bob@EXAMPLE.JP>").await.code, 250);
}
