//! STARTTLS (injection, reset, certificate reload) and AUTH (PLAIN, LOGIN, brute force).

use std::time::{Duration, Instant};

use base64::Engine as _;
use sekisho_testkit::{Client, TestPki, TestServer};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn commands_pipelined_behind_starttls_are_discarded() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    // One segment: STARTTLS plus injected plaintext commands.
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@attacker.test>\r\nRCPT TO:<victim@example.com>\r\n").await;
    assert_eq!(c.read().await.code, 220);
    let mut c = c.upgrade_tls(&s.pki.ca_pem).await;
    // Nothing may answer the injected commands after the handshake.
    assert!(c.try_read(Duration::from_millis(300)).await.is_none(), "a reply to injected plaintext leaked");
    // The session starts over: RCPT without MAIL is refused, EHLO is needed again.
    assert_eq!(c.cmd("MAIL FROM:<a@example.jp>").await.code, 503);
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "no STARTTLS inside TLS");
    assert_eq!(c.cmd("STARTTLS").await.code, 503);
    let r = c.send_mail("a@example.jp", &["b@example.com"], "Subject: tls\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250);
    let d = s.stored(&r).await;
    assert!(d.info.tls.as_deref().unwrap().starts_with("TLSv1.3 TLS13_"), "{:?}", d.info.tls);
    let body = String::from_utf8(s.body(&d.info.id)).unwrap();
    assert!(body.contains("(using TLSv1.3 with cipher TLS13_"));
    assert!(body.contains("with ESMTPS id"));
}

#[tokio::test]
async fn auth_plain_and_login_after_starttls() {
    let s = TestServer::start().await;
    s.add_user("alice@example.jp", "correct horse battery").await;
    let (mut c, _) = Client::connect(s.submission).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(!ehlo.text().contains("AUTH"), "AUTH is not offered before TLS");
    let r = c.cmd(&format!("AUTH PLAIN {}", b64("\0alice@example.jp\0correct horse battery"))).await;
    assert_eq!(r.code, 538, "{r:?}");

    let mut c = c.starttls(&s.pki.ca_pem).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.lines.iter().any(|l| l == "AUTH PLAIN LOGIN"));
    let r = c.cmd(&format!("AUTH PLAIN {}", b64("\0alice@example.jp\0correct horse battery"))).await;
    assert_eq!(r.code, 235, "{r:?}");
    let r = c.send_mail("alice@example.jp", &["partner@outside.example"], "Subject: a\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250);
    let d = s.stored(&r).await;
    assert_eq!(d.info.auth_user.as_deref(), Some("alice@example.jp"));
    assert!(String::from_utf8(s.body(&d.info.id)).unwrap().contains("with ESMTPSA id"));

    let (c2, _) = Client::connect(s.submission).await;
    let mut c2 = c2.starttls(&s.pki.ca_pem).await;
    assert_eq!(c2.cmd("AUTH LOGIN").await.code, 334);
    assert_eq!(c2.cmd(&b64("alice@example.jp")).await.code, 334);
    assert_eq!(c2.cmd(&b64("correct horse battery")).await.code, 235);
}

#[tokio::test]
async fn plaintext_auth_only_with_the_explicit_loopback_option() {
    let s = TestServer::start_with(|c| c.listeners[1].plaintext_auth_on_loopback = true).await;
    s.add_user("bob", "pw").await;
    let (mut c, _) = Client::connect(s.submission).await;
    assert!(c.cmd("EHLO client.test").await.text().contains("AUTH PLAIN LOGIN"));
    assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0bob\0pw"))).await.code, 235);
}

#[tokio::test]
async fn brute_force_is_slowed_and_cut() {
    let s = TestServer::start().await;
    s.add_user("alice", "right").await;
    let (c, _) = Client::connect(s.submission).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let started = Instant::now();
    assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0wrong1"))).await.code, 535);
    assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0nobody\0wrong2"))).await.code, 535);
    let r = c.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0wrong3"))).await;
    assert_eq!(r.code, 535);
    assert_eq!(c.read().await.code, 421, "third failure closes the connection");
    // Delays grow per failure: 50 + 100 + 150 ms with the test kit's 50 ms base.
    assert!(started.elapsed() >= Duration::from_millis(300), "failures must be slowed");
    assert!(c.is_closed(Duration::from_secs(2)).await);

    // The client address is throttled across connections once the limit is reached.
    let s = TestServer::start_with(|c| c.smtp.client_auth_failure_limit = 2).await;
    s.add_user("alice", "right").await;
    for _ in 0..2 {
        let (c, _) = Client::connect(s.submission).await;
        let mut c = c.starttls(&s.pki.ca_pem).await;
        assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0wrong"))).await.code, 535);
    }
    let (c, _) = Client::connect(s.submission).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let r = c.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0right"))).await;
    assert_eq!(r.code, 421, "even the right password is not checked while throttled: {r:?}");
}

#[tokio::test]
async fn auth_is_refused_on_the_mx_listener() {
    let s = TestServer::start().await;
    let (c, _) = Client::connect(s.mx).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(!ehlo.text().contains("AUTH"));
    assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0a\0b"))).await.code, 503);
}

#[tokio::test]
async fn renewed_certificate_is_used_without_restart() {
    let s = TestServer::start().await;
    let (c, _) = Client::connect(s.trusted).await;
    let c = c.starttls(&s.pki.ca_pem).await;
    assert_eq!(c.peer_cn.as_deref(), Some("server"));
    // Renew: a new CA and certificate written over the configured files.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = TestPki::generate_named(&s.dir().join("renewed"), "gw.sekisho.test", "renewed");
    std::fs::copy(&renewed.cert_path, &s.pki.cert_path).unwrap();
    std::fs::copy(&renewed.key_path, &s.pki.key_path).unwrap();
    let (c, _) = Client::connect(s.trusted).await;
    let c = c.starttls(&renewed.ca_pem).await;
    assert_eq!(c.peer_cn.as_deref(), Some("renewed"));
    // A broken file keeps the previous certificate in service.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&s.pki.cert_path, "not a certificate").unwrap();
    let (c, _) = Client::connect(s.trusted).await;
    let c = c.starttls(&renewed.ca_pem).await;
    assert_eq!(c.peer_cn.as_deref(), Some("renewed"));
}
