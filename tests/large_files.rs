//! Large files travel as links, never as bounces: `link_above` (general and per domain) makes
//! a link whatever the TLS, a receiving server that announces a smaller `SIZE` gets the link
//! variant in the same session, one that refuses the message with 552 after the data gets the
//! link on the next attempt; each listener has its own `max_message_size`.

use std::path::PathBuf;

use sekisho_config::{AttachmentRule, Size};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::mail::{Names, done, link_in, message_with_files, notice_text, random_bytes, wrapped};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, Response, TestPki, TestServer};

const MB: usize = 1 << 20;

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-large-{name}-{}-{nanos}", std::process::id()))
}

/// A fake DNS, the sender's own MX, and partners' MX hosts on one port.
struct Net {
    dns: FakeDns,
    port: u16,
    _home: FakeMx,
}

impl Net {
    async fn new(home_ip: &str) -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let home = FakeMx::start(&format!("{home_ip}:0"), MxBehavior::default()).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", home_ip);
        let port = home.addr.port();
        Net { dns, port, _home: home }
    }

    /// A partner whose MX speaks TLS with a certificate for its name (signed by `pki`'s CA).
    async fn partner(&self, ip: &str, domain: &str, pki: &TestPki, behavior: MxBehavior) -> FakeMx {
        let host = format!("mx.{domain}");
        let mx = FakeMx::start(&format!("{ip}:{}", self.port), MxBehavior { tls: Some(pki.clone()), ..behavior }).await;
        self.dns.addr(&host, ip);
        self.dns.mx(domain, 10, &host);
        mx
    }
}

/// The variant recorded for `rcpt`'s last attempt: its kind and reason.
fn variant(d: &MessageDetail, rcpt: &str) -> (String, String) {
    let a = d.attempts.iter().rev().find(|a| a.recipient == rcpt).expect("an attempt");
    let v = a.attempt.variant.clone().expect("a variant");
    (v.kind.as_str().to_string(), v.reason)
}

#[tokio::test]
async fn a_file_above_link_above_goes_as_a_link_even_to_a_partner_with_good_tls() {
    let net = Net::new("127.0.19.1").await;
    let pki = TestPki::generate(&pki_dir("above"), "mx.partner.example");
    let partner = net.partner("127.0.19.2", "partner.example", &pki, MxBehavior::default()).await;
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.link_above = Some(Size(10 * MB as u64));
        // The organisation's own clients may send large mail; the MX listener keeps 10 MB.
        for l in c.listeners.iter_mut().filter(|l| l.role == sekisho_config::Role::Submission) {
            l.max_message_size = Some(Size(100 * MB as u64));
        }
    })
    .await;
    let big = random_bytes(15 * MB);
    let submitted = message_with_files("bob@partner.example", &[("drawings.iso", &big)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["bob@partner.example"], &submitted).await;
    let d = s.wait_for(&id, 60, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let got = partner.wait_for(1, 5).await;
    assert!(got[0].tls, "the session reached TLS");
    assert!(got[0].data.len() < MB, "the notice, not the file: {} bytes", got[0].data.len());
    assert!(!String::from_utf8_lossy(&got[0].data).contains(&wrapped(&big[..57])), "no byte of the file leaves");
    let notice = notice_text(&got[0].data);
    assert!(notice.contains("drawings.iso (15.0 MiB"), "{notice}");
    assert!(
        notice.contains(
            "download link: the files (15.0 MiB) are larger than the 10.0 MiB the sender's organisation sends by mail"
        ),
        "the notice says why: {notice}"
    );
    assert!(link_in(&notice).contains("/d/"));
    let (kind, reason) = variant(&d, "bob@partner.example");
    assert_eq!(kind, "link");
    assert_eq!(
        reason,
        "link — the files (15728640 bytes) are larger than link_above (10485760 bytes): they go as a link whatever the TLS"
    );
    let kept = s.queue.stores().links.link_message(&id).await.unwrap().unwrap();
    assert_eq!(kept.files[0].size, 15 * MB as u64, "the file is kept whole for the download");
}

#[tokio::test]
async fn link_above_per_domain_applies_only_to_that_domain() {
    let net = Net::new("127.0.19.11").await;
    let pki = TestPki::generate(&pki_dir("domain"), "mx.strict.example");
    let pki2 = TestPki::generate(&pki_dir("domain2"), "mx.relaxed.example");
    let strict = net.partner("127.0.19.12", "strict.example", &pki, MxBehavior::default()).await;
    let relaxed = net.partner("127.0.19.13", "relaxed.example", &pki2, MxBehavior::default()).await;
    let roots = vec![pki.ca_path.clone(), pki2.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.attachments.push(AttachmentRule {
            domains: vec!["strict.example".into()],
            inline_min: None,
            inline_format: None,
            access: None,
            link_above: Some(Size(100 << 10)),
        });
    })
    .await;
    let file = random_bytes(300_000);
    let to = ["carol@strict.example", "dave@relaxed.example"];
    let submitted = message_with_files("partners", &[("plan.pdf", &file)], Names::Quoted);
    let id = s.submit("alice@example.jp", &to, &submitted).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);
    let inline = relaxed.wait_for(1, 5).await;
    assert!(inline[0].data.ends_with(submitted.as_bytes()), "no size rule for relaxed.example: inline");
    assert_eq!(variant(&d, "dave@relaxed.example").0, "inline");
    let link = strict.wait_for(1, 5).await;
    assert!(notice_text(&link[0].data).contains("larger than the 100.0 KiB"));
    let (kind, reason) = variant(&d, "carol@strict.example");
    assert_eq!(kind, "link");
    assert!(reason.contains("larger than link_above (102400 bytes)"), "{reason}");
}

#[tokio::test]
async fn a_server_announcing_a_smaller_size_gets_the_link_in_the_same_session_instead_of_a_bounce() {
    let net = Net::new("127.0.19.21").await;
    let pki = TestPki::generate(&pki_dir("size"), "mx.small.example");
    let behavior = MxBehavior { size: Some(5_000_000), ..Default::default() };
    let small = net.partner("127.0.19.22", "small.example", &pki, behavior).await;
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.smtp.max_message_size = 20 * MB as u64;
    })
    .await;
    let file = random_bytes(6 * MB);
    let submitted = message_with_files("erin@small.example", &[("video.mp4", &file)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["erin@small.example"], &submitted).await;
    let d = s.wait_for(&id, 60, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "no bounce: {:#?}", d.recipients);
    assert_eq!(d.recipients[0].attempts, 1, "in the same session");
    assert_eq!(small.connections(), 1, "one session");
    let got = small.wait_for(1, 5).await;
    assert!(got[0].data.len() < 5_000_000);
    let notice = notice_text(&got[0].data);
    assert!(notice.contains("is larger than your mail server accepts (4.8 MiB)"), "{notice}");
    let (kind, reason) = variant(&d, "erin@small.example");
    assert_eq!(kind, "link");
    let size = d.info.size;
    assert_eq!(
        reason,
        format!(
            "link — mx.small.example announced SIZE 5000000 and the message with its files is {size} bytes: the link \
             variant instead of a bounce"
        ),
        "the evidence names the announced limit and the decision"
    );
}

#[tokio::test]
async fn a_552_after_the_data_makes_the_next_attempt_a_link() {
    let net = Net::new("127.0.19.31").await;
    let pki = TestPki::generate(&pki_dir("refuse"), "mx.strict-size.example");
    let behavior = MxBehavior { size: None, ..Default::default() };
    let mx = net.partner("127.0.19.32", "strict-size.example", &pki, behavior).await;
    mx.behavior().data_replies.lock().unwrap().push_back("552 5.3.4 Message too big for system".into());
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| c.tls.extra_roots = roots).await;
    let file = random_bytes(400_000);
    let submitted = message_with_files("frank@strict-size.example", &[("scan.pdf", &file)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["frank@strict-size.example"], &submitted).await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "no bounce: {:#?}", d.recipients);
    assert_eq!(d.recipients[0].attempts, 2, "the refused attempt, then the link");
    let first = d.attempts.iter().find(|a| a.recipient == "frank@strict-size.example").unwrap();
    let v = first.attempt.variant.clone().unwrap();
    assert_eq!(v.kind.as_str(), "inline", "first as it was");
    let refused = &first.attempt.reply;
    assert!(
        refused.contains("refused the message as too large; the next attempt sends the link variant")
            && refused.ends_with("552 5.3.4 Message too big for system"),
        "{refused}"
    );
    assert_eq!(first.attempt.outcome, sekisho_store::AttemptOutcome::Deferred);
    let (kind, reason) = variant(&d, "frank@strict-size.example");
    assert_eq!(
        (kind.as_str(), reason.as_str()),
        ("link", "link — the last attempt's message was refused as too large (552 after the data): the link variant")
    );
    let got = mx.wait_for(1, 5).await;
    assert_eq!(got.len(), 1, "only the link variant was accepted");
    let notice = notice_text(&got[0].data);
    assert!(notice.contains("the file is larger than your mail server accepts"), "{notice}");
}

#[tokio::test]
async fn each_listener_has_its_own_message_size_limit() {
    let s = TestServer::start_with(|c| {
        c.smtp.max_message_size = 10 * MB as u64;
        for l in c.listeners.iter_mut().filter(|l| l.role == sekisho_config::Role::Submission) {
            l.max_message_size = Some(Size(100 * MB as u64));
        }
    })
    .await;
    let (mut sub, _) = Client::connect(s.trusted).await;
    let ehlo = sub.cmd("EHLO client.test").await;
    assert!(ehlo.text().contains(&format!("SIZE {}", 100 * MB)), "{ehlo:?}");
    let (mut mx, _) = Client::connect(s.mx).await;
    let ehlo = mx.cmd("EHLO partner.test").await;
    assert!(ehlo.text().contains(&format!("SIZE {}", 10 * MB)), "{ehlo:?}");
    let r = mx.cmd(&format!("MAIL FROM:<x@partner.test> SIZE={}", 15 * MB)).await;
    assert_eq!(r.code, 552, "{r:?}");
    let r = sub.cmd(&format!("MAIL FROM:<alice@example.jp> SIZE={}", 15 * MB)).await;
    assert_eq!(r.code, 250, "{r:?}");
    // The data itself is held to the listener's limit, not the [smtp] one.
    let file = random_bytes(12 * MB);
    let submitted = message_with_files("bob@example.jp", &[("big.bin", &file)], Names::Quoted);
    sub.cmd("RSET").await;
    let r = sub.send_mail("alice@example.jp", &["bob@example.jp"], &submitted).await;
    assert_eq!(r.code, 250, "{r:?}");
    let r = mx.send_mail("x@partner.test", &["bob@example.jp"], &submitted).await;
    assert_eq!(r.code, 552, "{r:?}");
}

#[tokio::test]
async fn the_portals_quotas_refuse_at_submission_with_a_sentence_naming_them() {
    let net = Net::new("127.0.19.41").await;
    // No STARTTLS: every file goes as a link and is kept in the portal.
    let plain = FakeMx::start(&format!("127.0.19.42:{}", net.port), MxBehavior::default()).await;
    net.dns.addr("mx.plain.example", "127.0.19.42");
    net.dns.mx("plain.example", 10, "mx.plain.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.portal.quota_per_sender = Some(Size(500 << 10));
        c.portal.quota_total = Some(Size(800 << 10));
    })
    .await;
    let file = random_bytes(300 << 10);
    let message = message_with_files("gina@plain.example", &[("report.pdf", &file)], Names::Quoted);
    let first = send(&s, "alice@example.jp", &message).await;
    delivered(&s, &first).await;
    assert_eq!(s.queue.stores().links.kept_bytes(Some("alice@example.jp")).await.unwrap(), 300 << 10);
    // Alice's second file would take her over her quota.
    let r = send(&s, "alice@example.jp", &message).await;
    assert_eq!((r.code, r.text().contains("5.3.1")), (552, true), "{r:?}");
    assert!(
        r.text().contains(
            "Your files kept in the download portal would exceed your storage quota (quota_per_sender = 500.0 KiB: \
             300.0 KiB kept or waiting for delivery, this message's files 300.0 KiB)"
        ),
        "{r:?}"
    );
    // Another sender still has room of their own, until the portal as a whole is full.
    let r = send(&s, "carol@example.jp", &message).await;
    delivered(&s, &r).await;
    let r = send(&s, "dave@example.jp", &message).await;
    assert_eq!(r.code, 552, "{r:?}");
    assert!(
        r.text().contains(
            "The download portal's storage is full (quota_total = 800.0 KiB: 600.0 KiB kept or waiting for delivery"
        ),
        "{r:?}"
    );
    assert_eq!(plain.received().len(), 2, "only the two accepted messages left");
}

#[tokio::test]
async fn messages_not_yet_delivered_count_against_the_quotas_with_the_original_kept_beside_their_files() {
    let net = Net::new("127.0.19.43").await;
    // gina's server never answers: what Alice sends her waits in the queue, undelivered, and
    // would be kept in the portal once it leaves as a link.
    net.dns.addr("mx.plain.example", "127.0.19.44");
    net.dns.mx("plain.example", 10, "mx.plain.example");
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.portal.quota_per_sender = Some(Size(700 << 10));
        c.portal.original_download = true;
    })
    .await;
    let file = random_bytes(200 << 10);
    let message = message_with_files("gina@plain.example", &[("report.pdf", &file)], Names::Quoted);
    let first = send(&s, "alice@example.jp", &message).await;
    assert_eq!(first.code, 250, "{first:?}");
    // Nothing is kept yet, but the file and the original beside it are counted as waiting.
    let waiting = s.queue.stores().links.kept_bytes(Some("alice@example.jp")).await.unwrap();
    assert!(waiting > 2 * (200 << 10) && waiting < 3 * (200 << 10), "file + original: {waiting}");
    let r = send(&s, "alice@example.jp", &message).await;
    assert_eq!(r.code, 552, "the second undelivered message goes over 700 KiB: {r:?}");
    assert!(
        r.text().contains("quota_per_sender = 700.0 KiB") && r.text().contains("kept or waiting for delivery"),
        "{r:?}"
    );
    // Once the waiting message is gone (deleted by the administrator), there is room again.
    let id = sekisho_testkit::queue_id(&first).unwrap();
    assert!(s.queue.control().delete(&id).await.unwrap());
    assert_eq!(s.queue.stores().links.kept_bytes(Some("alice@example.jp")).await.unwrap(), 0);
    let r = send(&s, "alice@example.jp", &message).await;
    assert_eq!(r.code, 250, "{r:?}");
}

/// Submits `message` from `from` to gina@plain.example; the final reply.
async fn send(s: &TestServer, from: &str, message: &str) -> Response {
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.send_mail(from, &["gina@plain.example"], message).await
}

/// Waits until the message `r` queued is delivered.
async fn delivered(s: &TestServer, r: &Response) {
    let id = sekisho_testkit::queue_id(r).unwrap_or_else(|| panic!("queued: {r:?}"));
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);
}
