//! DNS blocklists (`[reputation]`) on the MX listener: a DNSBL zone and an RHSBL zone on the
//! fake DNS, clients sending from loopback source addresses whose reversed form is listed,
//! and what each score does: the finding the recipient is shown (the Subject tag, the
//! banner, the field), the quarantine, the 550 at RCPT naming the list. A list that never
//! answers delays nothing beyond its timeout; trusted and authenticated clients are not asked
//! about.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sekisho_config::{Config, DnsLists};
use sekisho_policy::sender::{FindingKind, ReputationRecord};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, Response, TestServer, queue_id};

/// A client address the DNSBL lists (127.0.0.23 reversed), and one it does not.
const LISTED: &str = "127.0.0.23";
const CLEAN: &str = "127.0.0.24";

/// The internal mail server behind the gateway, and the gateway, both seeing the DNS with a
/// DNSBL zone (`dnsbl.test`) and an RHSBL zone (`rhsbl.test`).
struct Site {
    dns: FakeDns,
    internal: FakeMx,
    gw: TestServer,
}

impl Site {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Site {
        let dns = FakeDns::start("127.0.7.93").await;
        dns.addr("23.0.0.127.dnsbl.test", "127.0.0.4");
        dns.addr("spammy.example.rhsbl.test", "127.0.1.2");
        dns.addr("phish-link.example.rhsbl.test", "127.0.1.4");
        let internal = FakeMx::start("127.0.0.93:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.93]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            c.reputation.client_lists = DnsLists::parse(&["dnsbl.test=127.0.0.[2..11]*3"]).unwrap();
            c.reputation.domain_lists = DnsLists::parse(&["rhsbl.test=127.0.1.[2..99]*2"]).unwrap();
            tweak(c);
        })
        .await;
        Site { dns, internal, gw }
    }

    /// Sends `message` from `source` through the MX listener, envelope `from`, to
    /// bob@example.jp: the RCPT reply and the final one (None when RCPT was refused).
    async fn send(&self, source: &str, from: &str, message: &str) -> (Response, Option<Response>) {
        let (mut c, _) = Client::connect_from(self.gw.mx, source.parse::<IpAddr>().unwrap()).await;
        assert_eq!(c.cmd("EHLO outside.example").await.code, 250);
        assert_eq!(c.cmd(&format!("MAIL FROM:<{from}>")).await.code, 250);
        let rcpt = c.cmd("RCPT TO:<bob@example.jp>").await;
        if rcpt.code != 250 {
            return (rcpt, None);
        }
        assert_eq!(c.cmd("DATA").await.code, 354);
        c.send(format!("{message}.\r\n").as_bytes()).await;
        let done = c.read().await;
        (rcpt, Some(done))
    }

    /// Sends `message` from `source`, waits until it is delivered, and returns its record and
    /// the copy the internal server got.
    async fn delivered(&self, source: &str, from: &str, message: &str) -> (MessageDetail, String) {
        let before = self.internal.received().len();
        let (_, done) = self.send(source, from, message).await;
        let done = done.expect("RCPT accepted");
        assert_eq!(done.code, 250, "{done:?}");
        let d = self.gw.wait_for(&queue_id(&done).unwrap(), 15, all_delivered).await;
        assert!(all_delivered(&d), "{d:#?}");
        let got = self.internal.wait_for(before + 1, 5).await;
        (d, String::from_utf8_lossy(&got[before].data).into_owned())
    }
}

fn all_delivered(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| r.state == RecipientState::Delivered)
}

fn reputation(d: &MessageDetail) -> &ReputationRecord {
    d.info.sender_record.as_ref().and_then(|r| r.reputation.as_ref()).expect("the blocklists were asked")
}

fn reputation_findings(d: &MessageDetail) -> Vec<(String, String)> {
    let record = d.info.sender_record.as_ref().expect("MX mail has a sender record");
    record
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Reputation)
        .map(|f| (f.detail.clone(), f.sentence.clone()))
        .collect()
}

fn plain(from: &str, body: &str) -> String {
    format!("From: {from}\r\nTo: bob@example.jp\r\nSubject: Offer\r\n\r\n{body}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_client_is_refused_at_rcpt_naming_the_list_and_a_clean_one_is_not() {
    let site = Site::start(|c| c.reputation.reject_score = Some(3)).await;
    let (rcpt, done) = site.send(LISTED, "a@sender.example", &plain("a@sender.example", "hello")).await;
    assert!(done.is_none());
    assert_eq!(rcpt.code, 550, "{rcpt:?}");
    assert_eq!(rcpt.text(), "5.7.1 Service unavailable; client [127.0.0.23] blocked using dnsbl.test");
    assert_eq!(site.gw.queued().await, 0, "nothing was queued");

    let (rcpt, done) = site.send(CLEAN, "a@sender.example", &plain("a@sender.example", "hello")).await;
    assert_eq!(rcpt.code, 250, "{rcpt:?}");
    let done = done.unwrap();
    assert_eq!(done.code, 250, "{done:?}");
    let d = site.gw.stored(&done).await;
    let r = reputation(&d);
    assert_eq!((r.score, r.hits.len(), r.action.as_str()), (0, 0, ""), "{r:?}");
    assert!(reputation_findings(&d).is_empty());

    // Answers are kept for their TTL, negative ones too: the same client and sender again ask
    // DNS nothing, and the listed client is refused again without asking.
    let asked = site.dns.queries();
    let (_, done) = site.send(CLEAN, "a@sender.example", &plain("a@sender.example", "again")).await;
    assert_eq!(done.unwrap().code, 250);
    let (rcpt, _) = site.send(LISTED, "a@sender.example", &plain("a@sender.example", "again")).await;
    assert_eq!(rcpt.code, 550);
    assert_eq!(site.dns.queries(), asked, "answered from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_client_is_tagged_and_the_recipient_is_told_which_list_and_why() {
    let site = Site::start(|_| {}).await;
    let (d, got) = site.delivered(LISTED, "a@sender.example", &plain("a@sender.example", "Buy now.")).await;
    let r = reputation(&d);
    assert_eq!(r.score, 3);
    assert_eq!(r.action, "tag: score 3 reaches [reputation] tag_score 1 (dnsbl.test)");
    assert_eq!(
        (r.hits[0].list.as_str(), r.hits[0].listed.as_str(), r.hits[0].code.as_str()),
        ("dnsbl.test", LISTED, "127.0.0.4")
    );
    let found = reputation_findings(&d);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "dnsbl.test: client 127.0.0.23 → 127.0.0.4");
    assert_eq!(
        found[0].1,
        "The server that sent this message (127.0.0.23) is on the blocklist dnsbl.test (answer 127.0.0.4): its operator has seen spam or abuse from it."
    );

    // The internal server's copy: the field, the tag, the banner in Japanese.
    assert!(got.contains("X-Sekisho-Sender-Findings: reputation"), "{got}");
    let m = mail_parser::MessageParser::default().parse(got.as_bytes()).unwrap();
    assert_eq!(m.subject(), Some("[注意] Offer"));
    let text = m.body_text(0).unwrap();
    assert!(
        text.contains("このメールを送信したサーバ（127.0.0.23）はブロックリスト dnsbl.test に掲載されています"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("Buy now."), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_from_domain_is_quarantined_with_the_reason() {
    let site = Site::start(|c| c.reputation.quarantine_score = Some(2)).await;
    let (_, done) = site.send(CLEAN, "bounce@bulk.test", &plain("Shop <sales@mail.spammy.example>", "Deals.")).await;
    let done = done.expect("RCPT accepted");
    assert_eq!(done.code, 250, "{done:?}");
    let d = site.gw.stored(&done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Held), "{:?}", d.recipients);
    let r = reputation(&d);
    assert_eq!(r.action, "quarantine: score 2 reaches [reputation] quarantine_score 2 (rhsbl.test)");
    assert_eq!(
        (r.hits[0].listed.as_str(), r.hits[0].source.as_str(), r.hits[0].code.as_str()),
        ("spammy.example", "From", "127.0.1.2")
    );
    let found = reputation_findings(&d);
    assert_eq!(found[0].0, "rhsbl.test: From spammy.example → 127.0.1.2");
    assert!(found[0].1.starts_with("The sender's domain spammy.example is on the blocklist rhsbl.test"), "{found:?}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(site.internal.received().is_empty(), "held, not delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_link_domain_in_the_html_body_gets_its_finding() {
    let site = Site::start(|_| {}).await;
    let message = "From: a@sender.example\r\nTo: bob@example.jp\r\nSubject: Your account\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
        --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSign in to keep your account.\r\n\
        --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><a href=\"https://www.Phish-Link.example/login\">Sign in</a></body></html>\r\n\
        --alt--\r\n";
    let (d, got) = site.delivered(CLEAN, "a@sender.example", message).await;
    let r = reputation(&d);
    assert_eq!((r.score, r.hits.len()), (2, 1), "{r:?}");
    let found = reputation_findings(&d);
    assert_eq!(found[0].0, "rhsbl.test: link phish-link.example → 127.0.1.4");
    assert_eq!(
        found[0].1,
        "A link in this message goes to phish-link.example, which is on the blocklist rhsbl.test (answer 127.0.1.4): its operator has seen it used for spam or abuse."
    );
    let m = mail_parser::MessageParser::default().parse(got.as_bytes()).unwrap();
    assert_eq!(m.subject(), Some("[注意] Your account"));
    assert!(m.body_html(0).unwrap().contains("<li data-kind=\"reputation\">"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_never_answers_delays_the_dialog_no_more_than_its_timeout() {
    let site = Site::start(|c| {
        c.reputation.client_lists = DnsLists::parse(&["silent.test*3"]).unwrap();
        c.reputation.domain_lists = DnsLists::parse(&["silent-rhs.test*2"]).unwrap();
        c.reputation.reject_score = Some(3);
        c.reputation.timeout = sekisho_config::Duration::parse("1s").unwrap();
    })
    .await;
    site.dns.silent("silent.test");
    site.dns.silent("silent-rhs.test");
    let timeout = Duration::from_secs(1);
    let (mut c, _) = Client::connect_from(site.gw.mx, LISTED.parse::<IpAddr>().unwrap()).await;
    let connected = Instant::now();
    c.cmd("EHLO outside.example").await;
    c.cmd("MAIL FROM:<a@sender.example>").await;
    let rcpt = c.cmd("RCPT TO:<bob@example.jp>").await;
    let at_rcpt = connected.elapsed();
    assert_eq!(rcpt.code, 250, "a list that does not answer never blocks mail: {rcpt:?}");
    assert!(at_rcpt < timeout + Duration::from_millis(500), "RCPT waited {at_rcpt:?}");
    assert_eq!(c.cmd("DATA").await.code, 354);
    let sent = Instant::now();
    c.send(format!("{}.\r\n", plain("a@sender.example", "hello")).as_bytes()).await;
    let done = c.read().await;
    let after_data = sent.elapsed();
    assert_eq!(done.code, 250, "{done:?}");
    assert!(after_data < timeout + Duration::from_millis(800), "the final reply waited {after_data:?}");
    let d = site.gw.stored(&done).await;
    let r = reputation(&d);
    assert_eq!((r.score, r.action.as_str()), (0, ""));
    assert_eq!(
        r.unanswered,
        ["silent.test (127.0.0.23): no answer within 1s", "silent-rhs.test (sender.example): no answer within 1s"]
    );
    assert!(reputation_findings(&d).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_and_authenticated_clients_are_not_checked() {
    let site = Site::start(|c| {
        c.reputation.reject_score = Some(1);
        // The MX listener trusts the listed address.
        c.listeners[2].trusted_networks = vec![format!("{LISTED}/32").parse().unwrap()];
    })
    .await;
    site.gw.add_user("alice", "pw").await;
    let (c, _) = Client::connect_from(site.gw.submission, LISTED.parse::<IpAddr>().unwrap()).await;
    let mut c = c.starttls(&site.gw.pki.ca_pem).await;
    let auth = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {auth}")).await.code, 235);
    let r = c.send_mail("alice@example.jp", &["bob@example.jp"], &plain("alice@example.jp", "minutes")).await;
    assert_eq!(r.code, 250, "authenticated submission is not checked: {r:?}");
    let d = site.gw.stored(&r).await;
    assert!(d.info.sender_record.is_none(), "{:?}", d.info.sender_record);

    let (_, done) = site.send(LISTED, "a@spammy.example", &plain("a@spammy.example", "from inside")).await;
    let done = done.expect("a trusted client's RCPT is not refused");
    assert_eq!(done.code, 250, "{done:?}");
    let d = site.gw.stored(&done).await;
    assert!(d.info.sender_record.as_ref().is_none_or(|s| s.reputation.is_none()), "{:?}", d.info.sender_record);
}
