//! Delivery end to end: sekisho receives, resolves through a fake DNS server, and delivers to
//! fake MX hosts on loopback addresses, retrying and bouncing as a mail administrator expects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

const MSG: &str = "From: alice@example.jp\r\nSubject: delivery test\r\n\r\nHello.\r\n";

fn all_final(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| matches!(r.state, RecipientState::Delivered | RecipientState::Bounced))
}

/// Fake DNS plus a sender's MX (for notifications back to example.jp users).
struct Net {
    dns: FakeDns,
    port: u16,
    home: FakeMx,
}

impl Net {
    async fn new() -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let home = FakeMx::start("127.0.0.10:0", MxBehavior::default()).await;
        let port = home.addr.port();
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", "127.0.0.10");
        Net { dns, port, home }
    }

    /// A fake MX on `ip` at the shared port, registered as `host`.
    async fn mx(&self, ip: &str, host: &str, behavior: MxBehavior) -> FakeMx {
        let mx = FakeMx::start(&format!("{ip}:{}", self.port), behavior).await;
        self.dns.addr(host, ip);
        mx
    }

    async fn server(&self) -> TestServer {
        TestServer::start_delivering(&self.dns, self.port, |_| {}).await
    }
}

#[tokio::test]
async fn delivers_to_the_preferred_reachable_mx_over_starttls() {
    let net = Net::new().await;
    let pki = TestPki::generate(&std::env::temp_dir().join(format!("mxpki-{}", std::process::id())), "mx2.example.com");
    let mx2 = net.mx("127.0.0.12", "mx2.example.com", MxBehavior { tls: Some(pki), ..Default::default() }).await;
    let mx3 = net.mx("127.0.0.13", "mx3.example.com", MxBehavior::default()).await;
    net.dns.mx("example.com", 10, "mx1.example.com"); // nothing listens there
    net.dns.addr("mx1.example.com", "127.0.0.11");
    net.dns.mx("example.com", 20, "mx2.example.com");
    net.dns.mx("example.com", 30, "mx3.example.com");
    let s = net.server().await;
    let id = s.submit("alice@example.jp", &["bob@example.com"], MSG).await;
    let d = s.wait_for(&id, 15, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    let got = mx2.wait_for(1, 5).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "STARTTLS is used when offered");
    assert_eq!(got[0].mail_from, "alice@example.jp");
    assert!(String::from_utf8_lossy(&got[0].data).contains("Subject: delivery test"));
    assert!(mx3.received().is_empty(), "the preferred reachable MX took it");
    let a = &d.attempts.last().unwrap().attempt;
    assert_eq!((a.host.as_str(), a.ip.as_str()), ("mx2.example.com", "127.0.0.12"));
    assert!(a.tls.as_deref().unwrap().starts_with("TLSv1.3"));
    assert!(a.reply.starts_with("250"));
    assert!(d.done_at.is_some());
    for _ in 0..100 {
        if !s.queue.body_path(&id).exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!s.queue.body_path(&id).exists(), "the body of a finished message is removed once that is durable");
}

#[tokio::test]
async fn implicit_mx_null_mx_nxdomain_and_servfail() {
    let net = Net::new().await;
    let plain = net.mx("127.0.0.21", "plain.example", MxBehavior::default()).await;
    net.dns.mx("nomail.example", 0, ".");
    net.dns.servfail("broken.example");
    let s = net.server().await;

    let id = s.submit("alice@example.jp", &["x@plain.example"], MSG).await;
    assert_eq!(s.wait_for(&id, 15, all_final).await.recipients[0].state, RecipientState::Delivered);
    assert_eq!(plain.received().len(), 1, "no MX: the A record is the mail host");

    let id = s.submit("alice@example.jp", &["x@nomail.example", "y@missing.example", "z@broken.example"], MSG).await;
    let d = s.wait_for(&id, 15, |d| d.recipients[..2].iter().all(|r| r.state == RecipientState::Bounced)).await;
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("null MX"), "{d:#?}");
    assert!(d.recipients[1].last_reply.as_deref().unwrap().contains("does not exist"));
    let r = &d.recipients[2];
    assert_eq!(r.state, RecipientState::Queued, "SERVFAIL is temporary: {r:?}");
    assert!(r.attempts >= 1);

    // The sender hears about the two permanent failures, in one report.
    let reports = net.home.wait_for(1, 10).await;
    assert_eq!(reports.len(), 1);
    let text = String::from_utf8_lossy(&reports[0].data).into_owned();
    assert_eq!(reports[0].mail_from, "", "notifications use the null sender");
    assert_eq!(reports[0].rcpt_to, ["alice@example.jp"]);
    assert!(text.contains("Status: 5.1.10") && text.contains("Status: 5.1.2"), "{text}");
    assert!(text.contains("Final-Recipient: rfc822; x@nomail.example"));
    assert!(!text.contains("z@broken.example"), "the deferred recipient is not reported as failed");
}

#[tokio::test]
async fn temporary_failure_is_retried_and_delivered_once() {
    let net = Net::new().await;
    let mx = net
        .mx(
            "127.0.0.31",
            "mx.retry.example",
            MxBehavior {
                data_replies: std::sync::Mutex::new(["451 4.3.0 try again later".to_string()].into()),
                ..Default::default()
            },
        )
        .await;
    net.dns.mx("retry.example", 10, "mx.retry.example");
    let s = net.server().await;
    let id = s.submit("alice@example.jp", &["bob@retry.example"], MSG).await;
    let d = s.wait_for(&id, 20, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(d.recipients[0].attempts, 2);
    assert_eq!(d.attempts[0].attempt.reply, "451 4.3.0 try again later");
    assert_eq!(mx.received().len(), 1, "delivered exactly once");
    assert!(net.home.received().is_empty(), "no notification for a delivered message");
}

#[tokio::test]
async fn permanent_failure_bounces_with_the_right_status() {
    let net = Net::new().await;
    let mx = net
        .mx(
            "127.0.0.41",
            "mx.bounce.example",
            MxBehavior {
                rcpt_reply: Box::new(|to| {
                    if to.starts_with("nobody") {
                        "550 5.1.1 <nobody@bounce.example>: Recipient address rejected: User unknown".into()
                    } else {
                        "250 2.1.5 Ok".into()
                    }
                }),
                ..Default::default()
            },
        )
        .await;
    net.dns.mx("bounce.example", 10, "mx.bounce.example");
    let s = net.server().await;
    let content = "From: alice@example.jp\r\nSubject: for nobody\r\nMessage-ID: <orig-1@example.jp>\r\n\r\nsecret\r\n";
    let id = s.submit("alice@example.jp", &["nobody@bounce.example", "somebody@bounce.example"], content).await;
    let d = s.wait_for(&id, 15, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Bounced);
    assert_eq!(d.recipients[1].state, RecipientState::Delivered);
    assert_eq!(mx.received()[0].rcpt_to, ["somebody@bounce.example"]);
    let dsn = net.home.wait_for(1, 10).await;
    let text = String::from_utf8_lossy(&dsn[0].data).into_owned();
    assert!(text.contains("Action: failed\r\nStatus: 5.1.1"), "{text}");
    assert!(text.contains("Remote-MTA: dns; mx.bounce.example"));
    assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 <nobody@bounce.example>"));
    assert!(text.contains("Message-ID: <orig-1@example.jp>"), "the original comes back");
    assert!(!text.contains("somebody@bounce.example>: "), "only the failed recipient is reported");
}

#[tokio::test]
async fn mixed_results_retry_only_the_failing_recipients() {
    let net = Net::new().await;
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let a = net.mx("127.0.0.51", "mx.a.example", MxBehavior::default()).await;
    let b = net
        .mx(
            "127.0.0.52",
            "mx.b.example",
            MxBehavior {
                rcpt_reply: Box::new(move |_| {
                    if t.fetch_add(1, Ordering::SeqCst) == 0 {
                        "450 4.2.0 mailbox busy".into()
                    } else {
                        "250 2.1.5 Ok".into()
                    }
                }),
                ..Default::default()
            },
        )
        .await;
    let c = net.mx("127.0.0.53", "mx.c.example", MxBehavior::default()).await;
    for (d, h) in [("a.example", "mx.a.example"), ("b.example", "mx.b.example"), ("c.example", "mx.c.example")] {
        net.dns.mx(d, 10, h);
    }
    let s = net.server().await;
    let id = s.submit("alice@example.jp", &["x@a.example", "y@b.example", "z@c.example"], MSG).await;
    let d = s.wait_for(&id, 20, all_final).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{d:#?}");
    assert_eq!((a.received().len(), b.received().len(), c.received().len()), (1, 1, 1), "each domain once");
    assert_eq!(d.recipients[0].attempts, 1);
    assert_eq!(d.recipients[1].attempts, 2, "only b.example was retried");
    assert_eq!(d.recipients[2].attempts, 1);
}

#[tokio::test]
async fn connection_dropped_mid_data_is_retried_and_delivered_once() {
    let net = Net::new().await;
    let mx = net
        .mx("127.0.0.61", "mx.drop.example", MxBehavior { drop_in_data: AtomicUsize::new(1), ..Default::default() })
        .await;
    net.dns.mx("drop.example", 10, "mx.drop.example");
    let s = net.server().await;
    let long = format!("Subject: long\r\n\r\n{}", "line of text\r\n".repeat(100));
    let id = s.submit("alice@example.jp", &["bob@drop.example"], &long).await;
    let d = s.wait_for(&id, 20, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(d.recipients[0].attempts, 2);
    assert_eq!(mx.received().len(), 1);
    assert!(String::from_utf8_lossy(&mx.received()[0].data).ends_with("line of text\r\n"));
}

#[tokio::test]
async fn one_connection_carries_several_messages() {
    let net = Net::new().await;
    let mx = net.mx("127.0.0.71", "mx.reuse.example", MxBehavior::default()).await;
    net.dns.mx("reuse.example", 10, "mx.reuse.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| c.delivery.max_connections_per_destination = 1).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(s.submit("alice@example.jp", &[&format!("r{i}@reuse.example")], MSG).await);
    }
    for id in &ids {
        assert_eq!(s.wait_for(id, 15, all_final).await.recipients[0].state, RecipientState::Delivered);
    }
    assert_eq!(mx.received().len(), 5);
    assert!(mx.connections() < 5, "{} connections for 5 messages", mx.connections());
}

#[tokio::test]
async fn eight_bit_utf8_and_size_rules() {
    let net = Net::new().await;
    let seven = net
        .mx("127.0.0.81", "mx.seven.example", MxBehavior { eight_bit: false, smtputf8: false, ..Default::default() })
        .await;
    let small = net.mx("127.0.0.82", "mx1.big.example", MxBehavior { size: Some(100), ..Default::default() }).await;
    let large = net.mx("127.0.0.83", "mx2.big.example", MxBehavior::default()).await;
    net.dns.mx("seven.example", 10, "mx.seven.example");
    net.dns.mx("big.example", 10, "mx1.big.example");
    net.dns.mx("big.example", 20, "mx2.big.example");
    let s = net.server().await;
    let id8 = s.submit("alice@example.jp", &["x@seven.example"], "Subject: 8bit\r\n\r\n日本語\r\n").await;
    let d = s.wait_for(&id8, 15, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Bounced);
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("8BITMIME"), "{d:#?}");
    let id = s.submit("alice@example.jp", &["x@big.example"], MSG).await;
    assert_eq!(s.wait_for(&id, 15, all_final).await.recipients[0].state, RecipientState::Delivered);
    assert!(small.received().is_empty(), "a host whose SIZE is too small is skipped");
    assert_eq!(large.received().len(), 1);
    assert!(seven.received().is_empty());
    let dsn = net.home.wait_for(1, 10).await;
    assert!(String::from_utf8_lossy(&dsn[0].data).contains("Status: 5.6.3"));
}

#[tokio::test]
async fn no_notification_for_a_notification() {
    let net = Net::new().await;
    let s = net.server().await;
    // A bounce (null sender) that itself cannot be delivered.
    let (mut c, _) = sekisho_testkit::Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c.send_mail("", &["x@missing.example"], MSG).await;
    let id = sekisho_testkit::queue_id(&r).unwrap();
    let d = s.wait_for(&id, 15, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Bounced);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(s.queue.stores().messages.list_messages(true).await.unwrap().len(), 1, "no notification was created");
}

#[tokio::test]
async fn success_and_delay_notifications_on_request() {
    let net = Net::new().await;
    let nodsn = net.mx("127.0.0.91", "mx.nodsn.example", MxBehavior { dsn: false, ..Default::default() }).await;
    net.dns.mx("nodsn.example", 10, "mx.nodsn.example");
    net.dns.servfail("slow.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.delivery.delay_warning = sekisho_config::Duration::parse("1s").unwrap();
    })
    .await;
    let (mut c, _) = sekisho_testkit::Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<alice@example.jp> ENVID=track-7").await;
    c.cmd("RCPT TO:<x@nodsn.example> NOTIFY=SUCCESS").await;
    c.cmd("DATA").await;
    c.send(b"Subject: s\r\n\r\nx\r\n.\r\n").await;
    let id = sekisho_testkit::queue_id(&c.read().await).unwrap();
    assert_eq!(s.wait_for(&id, 15, all_final).await.recipients[0].state, RecipientState::Delivered);
    assert_eq!(nodsn.received().len(), 1);
    let reports = net.home.wait_for(1, 10).await;
    let text = String::from_utf8_lossy(&reports[0].data).into_owned();
    assert!(text.contains("Action: relayed") && text.contains("Original-Envelope-Id: track-7"), "{text}");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let slow = s.submit("alice@example.jp", &["y@slow.example"], MSG).await;
    let reports = net.home.wait_for(2, 15).await;
    assert_eq!(reports.len(), 2, "a delay notice is sent");
    assert!(String::from_utf8_lossy(&reports[1].data).contains("Action: delayed"));
    let d = s.queue.stores().messages.message(&slow).await.unwrap().unwrap();
    assert!(d.recipients[0].delay_warned);
}

#[tokio::test]
async fn inbound_mail_goes_to_the_next_hop() {
    let net = Net::new().await;
    let internal = FakeMx::start("127.0.0.95:0", MxBehavior::default()).await;
    let hop = format!("[127.0.0.95]:{}", internal.addr.port());
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| c.delivery.next_hop = Some(hop)).await;
    let (mut c, _) = sekisho_testkit::Client::connect(s.mx).await;
    c.cmd("EHLO outside.example").await;
    let r = c.send_mail("someone@outside.example", &["bob@example.jp"], MSG).await;
    let id = sekisho_testkit::queue_id(&r).unwrap();
    assert_eq!(s.wait_for(&id, 15, all_final).await.recipients[0].state, RecipientState::Delivered);
    assert_eq!(internal.received()[0].rcpt_to, ["bob@example.jp"]);
    assert!(net.home.received().is_empty(), "not to the public MX of example.jp");
}

#[tokio::test]
async fn ten_workers_deliver_a_hundred_messages_exactly_once() {
    let net = Net::new().await;
    let mx = net.mx("127.0.0.99", "mx.many.example", MxBehavior::default()).await;
    net.dns.mx("many.example", 10, "mx.many.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.delivery.max_connections = 10;
        c.smtp.max_connections_per_client = 200;
        c.smtp.max_connections = 200;
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let addr = s.trusted;
        tasks.push(tokio::spawn(async move {
            let (mut c, _) = sekisho_testkit::Client::connect(addr).await;
            c.cmd("EHLO client.test").await;
            let r = c.send_mail(&format!("s{i}@example.jp"), &[&format!("r{i}@many.example")], MSG).await;
            assert_eq!(r.code, 250);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = mx.wait_for(100, 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got_after = mx.received();
    assert_eq!(got.len(), 100);
    assert_eq!(got_after.len(), 100, "no message delivered twice");
    let mut senders: Vec<String> = got_after.iter().map(|m| m.mail_from.clone()).collect();
    senders.sort();
    senders.dedup();
    assert_eq!(senders.len(), 100);
}

#[tokio::test]
async fn a_configured_next_hop_that_cannot_be_found_waits_instead_of_bouncing() {
    let net = Net::new().await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.routes.insert("partner.example".into(), "[mx.missing.example]".into());
    })
    .await;
    let id = s.submit("alice@example.jp", &["x@partner.example"], MSG).await;
    let d = s.wait_for(&id, 10, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("mx.missing.example"));
    assert!(net.home.received().is_empty(), "no bounce for a configuration problem");
}

#[tokio::test]
async fn a_permanent_refusal_from_one_host_does_not_bounce_while_another_may_take_it_later() {
    let net = Net::new().await;
    // mx1 is down (connection refused); mx2 announces a SIZE limit smaller than the message.
    net.dns.mx("mixed.example", 10, "mx1.mixed.example");
    net.dns.addr("mx1.mixed.example", "127.0.0.97");
    let _small = net.mx("127.0.0.98", "mx2.mixed.example", MxBehavior { size: Some(10), ..Default::default() }).await;
    net.dns.mx("mixed.example", 20, "mx2.mixed.example");
    let s = net.server().await;
    let id = s.submit("alice@example.jp", &["x@mixed.example"], MSG).await;
    let d = s.wait_for(&id, 10, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(net.home.received().is_empty(), "no bounce while the primary may come back");
}

#[tokio::test]
async fn a_slow_destination_does_not_hold_up_mail_for_others() {
    let net = Net::new().await;
    let slow = net
        .mx(
            "127.0.0.101",
            "mx.slow.example",
            MxBehavior { reply_delay: std::time::Duration::from_millis(700), ..Default::default() },
        )
        .await;
    let fast = net.mx("127.0.0.102", "mx.fast.example", MxBehavior::default()).await;
    net.dns.mx("slow.example", 10, "mx.slow.example");
    net.dns.mx("fast.example", 10, "mx.fast.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.delivery.max_connections = 2;
        c.delivery.max_connections_per_destination = 1;
        c.delivery.destination_wait = sekisho_config::Duration::parse("300ms").unwrap();
        c.delivery.scan_interval = sekisho_config::Duration::parse("100ms").unwrap();
    })
    .await;
    // Far more mail for the slow destination than the worker takes on at once, then one
    // message for another destination.
    for i in 0..24 {
        s.submit("alice@example.jp", &[&format!("r{i}@slow.example")], MSG).await;
    }
    let started = std::time::Instant::now();
    let id = s.submit("alice@example.jp", &["x@fast.example"], MSG).await;
    let d = s.wait_for(&id, 20, all_final).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(fast.received().len(), 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the fast destination waited {:?} behind the slow one",
        started.elapsed()
    );
    assert!(slow.received().len() < 24, "the slow destination is still being worked through");
    assert_eq!(d.recipients[0].attempts, 1);
}
