//! DMARC failure reports (RFC 7489 §7.3, RFC 6591): off by default; when on, MX mail that
//! fails DMARC where the From domain's record has `ruf=` (and `fo=` asks) gets one redacted
//! report per domain and interval, queued in the background, DKIM-signed, to authorised
//! destinations only; the message's trace says what became of it.

mod support;

use std::collections::BTreeMap;

use mail_parser::MimeHeaders as _;
use sekisho_auth::dkim_key::{DkimAlgorithm, generate, write_key};
use sekisho_policy::LinkEvent;
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

const BASE: &str = "127.0.47";

/// A message claiming `domain` in From, sent from an address its SPF does not permit and
/// unsigned: it fails DMARC. Returns its stored record (the default `dmarc_policy` quarantines
/// it).
async fn forged(gw: &TestServer, domain: &str, n: usize) -> MessageDetail {
    let message = format!(
        "From: \"Alice Tanaka\" <alice.tanaka@{domain}>\r\nTo: \"Bob Sato\" <bob@example.jp>\r\n\
         Subject: Urgent invoice 4711\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <forged{n}@{domain}>\r\n\r\nPlease pay the secret amount 98765 today.\r\n"
    );
    let (mut c, _) = Client::connect(gw.mx).await;
    c.cmd("EHLO relay.outside.example").await;
    let r = c.send_mail("bounce@bulk.example", &["bob@example.jp"], &message).await;
    assert_eq!(r.code, 250, "the default dmarc_policy quarantines: {r:?}");
    let id = queue_id(&r).unwrap();
    gw.wait_for(&id, 20, |d| d.recipients[0].state == RecipientState::Held).await
}

/// The trace line `dmarc failure report: ...` of a stored message.
fn trace(d: &MessageDetail) -> String {
    let auth = d.info.sender_record.as_ref().and_then(|s| s.authentication.as_ref()).expect("authentication ran");
    assert!(auth.dmarc.as_ref().is_some_and(|m| m.result == "fail"), "{auth:?}");
    auth.dmarc_failure_report.clone()
}

/// Waits up to 20 s for the `dmarc-failure-report` event of message `id`; its detail.
async fn outcome(gw: &TestServer, id: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let events = gw.queue.stores().links.events(id).await.unwrap();
        if let Some(e) = events.iter().find(|e| e.event == LinkEvent::DmarcFailureReport) {
            return e.detail.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no failure report outcome for {id}: {events:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_message_gets_one_redacted_signed_report_where_authorised_and_only_when_enabled() {
    let work = tempfile::tempdir().unwrap();
    let dns = FakeDns::start("127.0.0.53").await;
    let internal = FakeMx::start(&format!("{BASE}.1:0"), MxBehavior::default()).await;
    let port = internal.addr.port();
    let mx = |name: &str, last: u8| {
        dns.mx(name, 10, &format!("mx.{name}"));
        dns.addr(&format!("mx.{name}"), &format!("{BASE}.{last}"));
    };
    mx("reports.example", 11);
    mx("noauth.example", 12);
    let reports_mx = FakeMx::start(&format!("{BASE}.11:{port}"), MxBehavior::default()).await;
    let noauth_mx = FakeMx::start(&format!("{BASE}.12:{port}"), MxBehavior::default()).await;
    // example.net asks for failure reports (fo=0 by default) at an external address that
    // authorises them; example.org (fo=d:s) at one that does not; quiet.example only about
    // DKIM signatures that fail (fo=d).
    dns.txt("_dmarc.example.net", "v=DMARC1; p=reject; ruf=mailto:fr@reports.example");
    dns.txt("example.net._report._dmarc.reports.example", "v=DMARC1");
    dns.txt("_dmarc.example.org", "v=DMARC1; p=quarantine; fo=d:s; ruf=mailto:fr@noauth.example");
    dns.txt("_dmarc.quiet.example", "v=DMARC1; p=quarantine; fo=d; ruf=mailto:fr@reports.example");
    dns.txt("bulk.example", "v=spf1 -all");

    // Off by default: the trace says so, nothing is sent.
    let hop = format!("[{BASE}.1]:{port}");
    let next_hop = hop.clone();
    let gw = TestServer::start_delivering(&dns, port, move |c| {
        c.delivery.next_hop = Some(next_hop);
        c.authentication.enabled = true;
    })
    .await;
    assert!(!gw.config.dmarc.failure_reports);
    let off = forged(&gw, "example.net", 0).await;
    assert_eq!(trace(&off), "not sent: [dmarc] failure_reports is off");
    let dir = gw.stop().await;

    // On: the gateway's own mail (From noreply-reports@gw.sekisho.test) is signed for
    // sekisho.test.
    let own = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
    let own_key = work.path().join("gw.key");
    write_key(&own_key, &own.pem).unwrap();
    dns.txt("gw._domainkey.sekisho.test", &own.key.record());
    let gw = TestServer::restart_delivering(dir, &dns, port, move |c| {
        c.delivery.next_hop = Some(hop);
        c.authentication.enabled = true;
        c.dmarc.failure_reports = true;
        c.dmarc.org_name = "Example Corp".into();
        c.dmarc.contact = "mailto:dmarc-contact@example.jp".into();
        c.dkim.push(sekisho_config::DkimConfig {
            domain: "sekisho.test".into(),
            sender_domains: vec![".sekisho.test".into()],
            selectors: vec!["gw".into()],
            keys: BTreeMap::from([("gw".to_string(), own_key)]),
        });
    })
    .await;
    let first = forged(&gw, "example.net", 1).await;
    assert_eq!(trace(&first), "queued for sending to mailto:fr@reports.example");
    let sent = outcome(&gw, &first.info.id).await;
    assert!(sent.starts_with("mailto:fr@reports.example: queued as "), "{sent}");
    // Within [dmarc] failure_interval (1 hour): no second report about example.net.
    let second = forged(&gw, "example.net", 2).await;
    assert!(trace(&second).starts_with("not sent: rate-limited: "), "{}", trace(&second));
    // An external destination that did not authorise reports (§7.1) gets nothing.
    let unauthorised = forged(&gw, "example.org", 3).await;
    assert_eq!(trace(&unauthorised), "queued for sending to mailto:fr@noauth.example");
    assert_eq!(
        outcome(&gw, &unauthorised.info.id).await,
        "mailto:fr@noauth.example: not sent: noauth.example is outside example.org's organisation and publishes no \
         v=DMARC1 record at example.org._report._dmarc.noauth.example (RFC 7489 §7.1)"
    );
    let not_asked = forged(&gw, "quiet.example", 4).await;
    assert_eq!(trace(&not_asked), "not sent: the record's fo=d does not ask for a report about this failure");

    // The one report, delivered through the queue.
    let got = reports_mx.wait_for(1, 30).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpt_to, ["fr@reports.example"]);
    let reports: Vec<MessageDetail> = every_message(&gw)
        .await
        .into_iter()
        .filter(|d| d.recipients.iter().any(|r| r.address.starts_with("fr@")))
        .collect();
    assert_eq!(reports.len(), 1, "one report queued in all: {reports:#?}");
    assert_eq!(noauth_mx.connections(), 0, "the unauthorised destination is never contacted");

    let mail = &got[0].data;
    let text = String::from_utf8_lossy(mail).to_string();
    let parsed = mail_parser::MessageParser::default().parse(mail.as_slice()).expect("a message");
    let ct = parsed.content_type().expect("a content type");
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")), "{text}");
    assert_eq!(ct.attribute("report-type"), Some("feedback-report"), "{text}");
    let types: Vec<String> = parsed
        .parts
        .iter()
        .skip(1)
        .map(|p| p.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))).unwrap_or_default())
        .collect();
    assert_eq!(types, ["text/plain", "message/feedback-report", "text/rfc822-headers"], "{text}");
    let feedback = String::from_utf8_lossy(parsed.parts[2].contents()).to_string();
    for field in [
        "Feedback-Type: auth-failure\r\n",
        "Version: 1\r\n",
        "Auth-Failure: dmarc\r\n",
        "Reported-Domain: example.net\r\n",
        "Source-IP: 127.0.0.1\r\n",
        "Identity-Alignment: none\r\n",
        "Delivery-Result: spam\r\n",
        "Reporting-MTA: dns; gw.sekisho.test\r\n",
    ] {
        assert!(feedback.contains(field), "{field:?} in {feedback}");
    }
    let field = |name: &str| {
        feedback.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("{name} in {feedback}")).trim()
    };
    assert!(field("User-Agent:").starts_with("sekisho/"));
    assert!(field("Arrival-Date:").ends_with("+0000"), "{feedback}");
    let redacted = |v: &str, domain: &str| {
        v.strip_prefix("<redacted-")
            .and_then(|v| v.strip_suffix(&format!("@{domain}>")))
            .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    assert!(redacted(field("Original-Mail-From:"), "bulk.example"), "{feedback}");
    assert!(redacted(field("Original-Rcpt-To:"), "example.jp"), "{feedback}");
    assert!(feedback.contains("dmarc=fail"), "Authentication-Results: {feedback}");
    let headers = String::from_utf8_lossy(parsed.parts[3].contents()).to_string();
    let from = headers.lines().find_map(|l| l.strip_prefix("From: ")).expect("the From field");
    assert!(redacted(from, "example.net"), "{headers}");
    assert!(headers.contains("Message-ID: <redacted-"), "{headers}");
    assert!(!headers.contains("Subject"), "only the allowlisted fields are kept: {headers}");
    assert!(headers.contains("Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n"), "{headers}");
    let lower = text.to_ascii_lowercase();
    for private in
        ["alice", "tanaka", "bob@", "bob sato", "bounce@", "4711", "98765", "please pay", "forged1", "urgent"]
    {
        assert!(!lower.contains(private), "{private:?} appears in the report: {text}");
    }
    let records = BTreeMap::from([("gw._domainkey.sekisho.test".to_string(), own.key.record())]);
    assert_eq!(support::dkimpy(mail, &records, work.path(), &["d", "s"]), ["sekisho.test gw True"], "{text}");
    drop((gw, internal));
}

/// Every message the queue knows, delivered ones included.
async fn every_message(gw: &TestServer) -> Vec<MessageDetail> {
    let mut out = Vec::new();
    for m in gw.queue.stores().messages.list_messages(true).await.unwrap() {
        out.push(gw.queue.stores().messages.message(&m.id).await.unwrap().unwrap());
    }
    out
}
