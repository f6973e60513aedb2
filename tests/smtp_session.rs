//! The SMTP conversation over real sockets: what a client sees and what lands in the queue.

use std::time::Duration;

use sekisho_testkit::{Client, TestServer, queue_id};

const MSG: &str = "From: alice@example.jp\r\nTo: bob@example.com\r\nSubject: hello\r\n\r\nHi Bob.\r\n";

#[tokio::test]
async fn trusted_client_relays_and_gets_the_queue_id() {
    let s = TestServer::start().await;
    let (mut c, greeting) = Client::connect(s.trusted).await;
    assert_eq!(greeting.code, 220);
    assert!(greeting.text().contains("gw.sekisho.test"));
    let ehlo = c.cmd("EHLO client.test").await;
    for cap in ["PIPELINING", "SIZE 10485760", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8"] {
        assert!(ehlo.lines.iter().any(|l| l == cap), "{cap} not in {ehlo:?}");
    }
    let r = c.send_mail("alice@example.jp", &["bob@example.com"], MSG).await;
    assert_eq!(r.code, 250, "{r:?}");
    assert!(r.text().starts_with("2.0.0 Ok: queued as "));
    let id = queue_id(&r).unwrap();
    let detail = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(detail.info.sender, "alice@example.jp");
    assert_eq!(detail.recipients[0].address, "bob@example.com");
    let body = String::from_utf8(s.body(&id)).unwrap();
    assert!(body.starts_with("Received: from client.test ([127.0.0.1])\r\n\tby gw.sekisho.test (sekisho)"), "{body}");
    assert!(body.contains(&format!("with ESMTP id {id}")));
    assert!(body.contains(&format!("Message-ID: <{id}@gw.sekisho.test>")), "submission adds a Message-ID");
    assert!(body.contains("\r\nDate: "), "submission adds a Date");
    assert!(body.ends_with("Subject: hello\r\n\r\nHi Bob.\r\n"), "content is kept byte for byte");
    assert_eq!(detail.info.size as usize, body.len());
    assert_eq!(c.cmd("QUIT").await.code, 221);
}

#[tokio::test]
async fn mx_listener_keeps_existing_fields_and_adds_only_received() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO sender.example").await;
    let content = "Message-ID: <orig@sender.example>\r\nDate: Mon, 1 Jan 2026 00:00:00 +0000\r\n\r\nx\r\n";
    let r = c.send_mail("someone@sender.example", &["bob@example.jp"], content).await;
    assert_eq!(r.code, 250, "{r:?}");
    let body = String::from_utf8(s.body(&queue_id(&r).unwrap())).unwrap();
    assert_eq!(body.matches("Message-ID").count(), 1);
    assert_eq!(body.matches("\r\nDate:").count(), 1);
    assert!(body.contains("\tfor <bob@example.jp>;"));
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.send(
        b"MAIL FROM:<a@example.jp> RET=HDRS ENVID=env+2B1\r\nRCPT TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.com\r\n\
RCPT TO:<c@example.org>\r\nRCPT TO:<\"john doe\"@example.net>\r\nDATA\r\n",
    )
    .await;
    let codes: Vec<u16> = [c.read().await, c.read().await, c.read().await, c.read().await, c.read().await]
        .iter()
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, [250, 250, 250, 250, 354]);
    c.send(b"Subject: p\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n").await;
    let r = c.read().await;
    assert_eq!(r.code, 250);
    assert_eq!(c.read().await.code, 250, "NOOP pipelined after the dot");
    let id = queue_id(&r).unwrap();
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.info.ret.as_deref(), Some("HDRS"));
    assert_eq!(d.info.envid.as_deref(), Some("env+1"));
    assert_eq!(d.recipients.len(), 3);
    assert_eq!(d.recipients[0].notify.as_deref(), Some("SUCCESS,DELAY"));
    assert_eq!(d.recipients[0].orcpt.as_deref(), Some("rfc822;b@example.com"));
    assert_eq!(d.recipients[2].address, "\"john doe\"@example.net");
    assert!(String::from_utf8(s.body(&id)).unwrap().ends_with("\r\n.leading dot\r\n"));
}

/// Postfix's `smtpd_forbid_unauth_pipelining`: content sent with DATA, before the 354, is a
/// protocol violation on the MX listener; authenticated submission keeps full pipelining.
#[tokio::test]
async fn content_before_354_is_refused_on_mx_and_allowed_after_auth() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO client.test").await;
    c.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nSubject: early\r\n\r\nx\r\n.\r\n").await;
    let codes = [c.read().await.code, c.read().await.code];
    assert_eq!(codes, [250, 250]);
    let r = c.read().await;
    assert_eq!((r.code, r.text()), (554, "5.5.0 Error: SMTP protocol synchronization".to_string()));
    assert!(c.is_closed(Duration::from_secs(2)).await);
    assert_eq!(s.queued().await, 0);

    s.add_user("alice@example.jp", "pw").await;
    let (c, _) = Client::connect(s.submission).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    assert_eq!(c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuanAAcHc=").await.code, 235);
    c.send(b"MAIL FROM:<alice@example.jp>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: p\r\n\r\nx\r\n.\r\n").await;
    let codes: Vec<u16> =
        [c.read().await, c.read().await, c.read().await, c.read().await].iter().map(|r| r.code).collect();
    assert_eq!(codes, [250, 250, 354, 250]);
    assert_eq!(s.queued().await, 1);
}

#[tokio::test]
async fn helo_rset_noop_vrfy_and_unknown_commands() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    let helo = c.cmd("HELO client.test").await;
    assert_eq!((helo.code, helo.lines.len()), (250, 1));
    assert_eq!(c.cmd("MAIL FROM:<a@example.jp> SIZE=10").await.code, 555, "no ESMTP parameters after HELO");
    assert_eq!(c.cmd("MAIL FROM:<a@example.jp>").await.code, 250);
    assert_eq!(c.cmd("RSET").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.com>").await.code, 503, "RSET ended the transaction");
    assert_eq!(c.cmd("NOOP").await.code, 250);
    let v = c.cmd("VRFY root").await;
    assert_eq!(v.code, 252);
    assert!(v.text().starts_with("2.5.0"));
    let u = c.cmd("XYZZY").await;
    assert_eq!(u.code, 500);
    assert!(u.text().starts_with("5.5.2"));
    assert_eq!(c.cmd("EXPN staff").await.code, 502);
    assert_eq!(c.cmd("BDAT 10 LAST").await.code, 502);
}

#[tokio::test]
async fn eight_bit_and_smtputf8_messages() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("MAIL FROM:<山田@例え.jp> SMTPUTF8 BODY=8BITMIME").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<鈴木@example.com>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send("Subject: こんにちは\r\n\r\n本文\r\n.\r\n".as_bytes()).await;
    let r = c.read().await;
    assert_eq!(r.code, 250);
    let d = s.stored(&r).await;
    assert!(d.info.smtputf8 && d.info.body_8bit);
    assert_eq!(d.recipients[0].address, "鈴木@example.com");
    assert_eq!(c.cmd("MAIL FROM:<山田@例え.jp>").await.code, 553, "UTF-8 address without SMTPUTF8");
}

#[tokio::test]
async fn bare_line_endings_are_normalized_by_default_on_both_listeners_and_refused_on_request() {
    let s = TestServer::start().await;
    for (listener, rcpt) in [(s.trusted, "b@example.com"), (s.mx, "b@example.jp")] {
        let (mut c, _) = Client::connect(listener).await;
        c.cmd("EHLO client.test").await;
        c.cmd("MAIL FROM:<a@example.jp>").await;
        assert_eq!(c.cmd(&format!("RCPT TO:<{rcpt}>")).await.code, 250);
        assert_eq!(c.cmd("DATA").await.code, 354);
        c.send(b"Subject: x\r\n\r\nline one\nline two\rthree\r\n.\r\n").await;
        let r = c.read().await;
        assert_eq!(r.code, 250, "{listener}: {r:?}");
        let body = String::from_utf8(s.body(&queue_id(&r).unwrap())).unwrap();
        assert!(body.ends_with("\r\n\r\nline one\r\nline two\r\nthree\r\n"), "{body:?}");
    }

    let s = TestServer::start_with(|c| c.smtp.bare_line_endings = sekisho_config::BareLineEndings::Reject).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@example.jp>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    c.cmd("DATA").await;
    c.send(b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n").await;
    let r = c.read().await;
    assert_eq!(r.code, 550);
    assert!(r.text().starts_with("5.6.2"), "{r:?}");
    assert_eq!(s.queued().await, 0);
    assert_eq!(c.cmd("NOOP").await.code, 250, "the session goes on");
}

#[tokio::test]
async fn accepted_message_survives_a_restart() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let id = queue_id(&c.send_mail("a@example.jp", &["b@example.com"], MSG).await).unwrap();
    let data = s.config.store.path.clone();
    let expected = s.body(&id);
    drop(c);
    let queue = s.queue.clone();
    let _dir = s.stop().await;
    drop(queue);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (q, report) = sekisho_store::Queue::open(&data, 16).await.expect("reopen");
    assert_eq!(report.messages, 1);
    assert!(report.quarantined.is_empty());
    assert_eq!(std::fs::read(q.body_path(&id)).unwrap(), expected);
}
