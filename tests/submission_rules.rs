//! Mis-send rules on the real submission listener: a refusal before the 250 with the rule's
//! sentence, a hold recorded as the first attempt's due time, and `force_link` carried with
//! the message so delivery sends a link even over authenticated TLS. The rule that fired is
//! kept with the message (`queue show`, `--json`, the trace API read the same record).

use std::path::{Path, PathBuf};

use sekisho_config::Config;
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, done, message_with_files, notice_text, wrapped};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

/// `[rules]` as an administrator writes it, parsed as the configuration is.
fn rules(text: &str) -> sekisho_config::RulesConfig {
    Config::parse(&format!("local_domains = [\"example.jp\"]\n{text}"), Path::new("rules.toml")).unwrap().rules
}

const MESSAGE: &str = "From: alice@example.jp\r\nTo: bob@customer.example\r\n\
                       Subject: =?UTF-8?B?77yj772P772O772G772J772E772F772O772U772J772B772M?= figures\r\n\r\nThe figures.\r\n";

#[tokio::test]
async fn a_rule_refuses_before_the_250_with_its_sentence_and_queues_nothing() {
    let r = rules(
        r#"
[[rules.rule]]
name = "confidential-outside"
match = { subject_keywords = ["confidential"], recipient_class = ["external"] }
actions = { reject = "Confidential mail stays inside the company" }
"#,
    );
    let s = TestServer::start_with(move |c| c.rules = r).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let reply = c.send_mail("alice@example.jp", &["bob@customer.example"], MESSAGE).await;
    assert_eq!(reply.code, 550, "{}", reply.text());
    assert_eq!(reply.text(), "5.7.1 Confidential mail stays inside the company");
    assert_eq!(s.queued().await, 0, "a refused message is never queued");

    // The same words to a colleague: queued, with the record saying no rule matched.
    let reply = c.send_mail("alice@example.jp", &["carol@example.jp"], MESSAGE).await;
    assert_eq!(reply.code, 250, "{}", reply.text());
    let id = reply.text().rsplit(' ').next().unwrap().to_string();
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    let record = d.info.rules.expect("the rules' record is kept");
    assert!(record.fired.is_empty() && record.default_applied, "{record:?}");
}

#[tokio::test]
async fn a_hold_makes_the_first_attempt_due_later_and_the_record_says_which_rule_and_why() {
    let r = rules(
        r#"
[[rules.rule]]
name = "first-time-domain"
match = { recipient_class = ["first_time_external"] }
actions = { hold = 5 }
"#,
    );
    let s = TestServer::start_with(move |c| c.rules = r).await;
    let id = s.submit("alice@example.jp", &["bob@customer.example", "carol@example.jp"], MESSAGE).await;
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    for r in &d.recipients {
        assert_eq!(r.state, RecipientState::Queued);
        assert_eq!(r.next_attempt_at, d.info.received_at + 300, "held five minutes, in the store: {}", r.address);
    }
    let record = d.info.rules.clone().unwrap();
    assert_eq!(record.fired.len(), 1);
    assert_eq!(record.fired[0].rule, "first-time-domain");
    assert_eq!(record.fired[0].reasons, ["first-time external domain(s): customer.example"]);
    assert_eq!(record.hold_minutes, Some(5));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["rules"]["fired"][0]["rule"], "first-time-domain", "queue show --json: {json}");
}

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-rules-{name}-{}-{nanos}", std::process::id()))
}

#[tokio::test]
async fn force_link_sends_a_link_over_authenticated_tls_as_the_rule_decided_at_submission() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start("127.0.7.41:0", MxBehavior::default()).await;
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.41");
    let port = home.addr.port();
    let pki = TestPki::generate(&pki_dir("good"), "mx.tls7.example");
    let mx =
        FakeMx::start(&format!("127.0.7.42:{port}"), MxBehavior { tls: Some(pki.clone()), ..Default::default() }).await;
    dns.addr("mx.tls7.example", "127.0.7.42");
    dns.mx("tls7.example", 10, "mx.tls7.example");
    let r = rules(
        r#"
[[rules.rule]]
name = "alice-files-as-links"
match = { sender = ["alice@example.jp"], attachments = true }
actions = { force_link = true }
"#,
    );
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        c.rules = r;
    })
    .await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/inspect/tests/fixtures");
    let plain = std::fs::read(fixtures.join("plain.zip")).unwrap();
    let linked = s
        .submit(
            "alice@example.jp",
            &["carol@tls7.example"],
            &message_with_files("carol", &[("q.zip", &plain)], Names::Quoted),
        )
        .await;
    let inline = s
        .submit(
            "bob@example.jp",
            &["dave@tls7.example"],
            &message_with_files("dave", &[("q.zip", &plain)], Names::Quoted),
        )
        .await;
    for id in [&linked, &inline] {
        let d = s.wait_for(id, 30, done).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    }
    let got = mx.wait_for(2, 5).await;
    let to_carol = got.iter().find(|m| m.rcpt_to == ["carol@tls7.example"]).unwrap();
    assert!(to_carol.tls, "authenticated TLS");
    assert!(notice_text(&to_carol.data).contains("q.zip"), "a link whatever the TLS");
    assert!(!String::from_utf8_lossy(&to_carol.data).contains(&wrapped(&plain)[..60]), "the file itself never travels");
    let to_dave = got.iter().find(|m| m.rcpt_to == ["dave@tls7.example"]).unwrap();
    assert!(String::from_utf8_lossy(&to_dave.data).contains(&wrapped(&plain)[..60]), "no rule: inline");
    let d = s.queue.stores().messages.message(&linked).await.unwrap().unwrap();
    assert_eq!(d.info.rules.as_ref().unwrap().force_link.as_deref(), Some("alice-files-as-links"));
    let v = d.attempts.last().unwrap().attempt.variant.clone().unwrap();
    assert_eq!(
        v.reason,
        "link — the rule alice-files-as-links sends this message's attachments as links whatever the TLS"
    );
}

/// The text of a mail sekisho wrote itself (one base64 text part).
fn own_mail_text(raw: &[u8]) -> String {
    use base64::Engine as _;
    let raw = String::from_utf8_lossy(raw);
    let body = raw.split("Content-Transfer-Encoding: base64\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap()).unwrap()
}

#[tokio::test]
async fn notify_mails_a_copy_of_the_decision_to_the_sender_and_a_supervisor_even_for_a_refusal() {
    let r = rules(
        r#"
[[rules.rule]]
name = "confidential-outside"
match = { subject_keywords = ["confidential"], recipient_class = ["external"] }
actions = { reject = "Confidential mail stays inside the company", notify = ["sender", "boss@example.jp"] }
"#,
    );
    let s = TestServer::start_with(move |c| c.rules = r).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let reply = c.send_mail("alice@example.jp", &["bob@customer.example"], MESSAGE).await;
    assert_eq!(reply.code, 550);
    let list = s.queue.stores().messages.list_messages(false).await.unwrap();
    assert_eq!(list.len(), 2, "the refused message is not queued; the two notices are: {list:?}");
    let mut to = Vec::new();
    for m in &list {
        let d = s.queue.stores().messages.message(&m.id).await.unwrap().unwrap();
        assert_eq!(d.info.origin, sekisho_store::Origin::Local);
        assert_eq!(d.info.sender, "", "sekisho's own mail has the null sender");
        to.push(d.recipients[0].address.clone());
        let text = own_mail_text(&std::fs::read(s.queue.body_path(&m.id)).unwrap());
        assert!(text.contains("From: <alice@example.jp>\nTo: bob@customer.example\nIt was not queued."), "{text}");
        assert!(
            text.contains("What happens: refused at submission (550 5.7.1 Confidential mail stays inside the company)"),
            "{text}"
        );
        assert!(
            text.contains(
                "- confidential-outside: external recipient(s): bob@customer.example; subject contains \"confidential\""
            ),
            "{text}"
        );
    }
    to.sort();
    assert_eq!(to, ["alice@example.jp", "boss@example.jp"]);
}

#[tokio::test]
async fn bcc_external_gives_each_of_thirty_external_recipients_a_copy_naming_only_them() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start("127.0.7.51:0", MxBehavior::default()).await;
    let port = home.addr.port();
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.51");
    let mx = FakeMx::start(&format!("127.0.7.52:{port}"), MxBehavior::default()).await;
    for d in ["one.example", "two.example"] {
        dns.mx(d, 10, "mx.customers.example");
    }
    dns.addr("mx.customers.example", "127.0.7.52");
    let r = rules(
        r#"
[[rules.rule]]
name = "many-outside"
match = { min_external_recipients = 2 }
actions = { bcc_external = 10 }
"#,
    );
    let s = TestServer::start_delivering(&dns, port, move |c| c.rules = r).await;
    let external: Vec<String> =
        (0..30).map(|i| format!("c{i}@{}", if i % 2 == 0 { "one.example" } else { "two.example" })).collect();
    let internal = ["carol@example.jp", "dave@example.jp"];
    let message = format!(
        "From: alice@example.jp\r\nTo: {}\r\nCc: {}\r\nSubject: price change\r\n\r\nDear customers,\r\nTo: whom it may concern\r\n",
        external.join(",\r\n "),
        internal.join(", ")
    );
    let mut all: Vec<&str> = external.iter().map(String::as_str).collect();
    all.extend(internal);
    let id = s.submit("alice@example.jp", &all, &message).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{d:#?}");
    assert_eq!(d.info.rules.as_ref().unwrap().bcc_external.as_deref(), Some("many-outside"));

    let got = mx.wait_for(30, 10).await;
    assert_eq!(got.len(), 30, "one transaction per external recipient");
    for m in &got {
        assert_eq!(m.rcpt_to.len(), 1);
        let rcpt = &m.rcpt_to[0];
        let text = String::from_utf8_lossy(&m.data);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("\r\nTo: <{rcpt}>\r\n")), "{head}");
        for other in all.iter().filter(|a| *a != rcpt) {
            assert!(
                !head.contains(&format!("{other}\r\n")) && !head.contains(&format!("{other},")),
                "{rcpt} sees {other}: {head}"
            );
        }
        assert!(!head.to_ascii_lowercase().contains("\r\ncc:"), "{head}");
        assert_eq!(body, "Dear customers,\r\nTo: whom it may concern\r\n", "the body is as sent");
    }
    let inside = home.wait_for(1, 10).await;
    let text = String::from_utf8_lossy(&inside[0].data);
    assert_eq!(inside[0].rcpt_to.len(), 2, "internal recipients share one transaction");
    assert!(
        text.contains("Cc: carol@example.jp, dave@example.jp") && text.contains("c29@two.example"),
        "they see the list: {text}"
    );
}

#[tokio::test]
async fn a_rules_banner_reaches_the_recipients_above_the_text_with_the_attachment_kept() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start("127.0.7.56:0", MxBehavior::default()).await;
    let port = home.addr.port();
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.56");
    let mx = FakeMx::start(&format!("127.0.7.57:{port}"), MxBehavior::default()).await;
    dns.mx("customer.example", 10, "mx.customer.example");
    dns.addr("mx.customer.example", "127.0.7.57");
    let r = rules(
        r#"
[[rules.rule]]
name = "outside-notice"
match = { recipient_class = ["external"] }
actions = { banner = "This mail was sent to you from outside Example Corp.\nお取り扱いにご注意ください。" }
"#,
    );
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.rules = r;
        c.outbound.attachments_inline_min = sekisho_config::InlineMin::None;
    })
    .await;
    let message = "From: alice@example.jp\r\nTo: bob@customer.example\r\nSubject: figures\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                   The figures.\r\n--b\r\nContent-Type: application/pdf; name=\"f.pdf\"\r\n\
                   Content-Disposition: attachment; filename=\"f.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   JVBERi0xLjQKJSVFT0YK\r\n--b--\r\n";
    let id = s.submit("alice@example.jp", &["bob@customer.example"], message).await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    let banner = d.info.rules.as_ref().unwrap().banner.as_ref().expect("the banner kept with the message");
    assert_eq!(banner.rule, "outside-notice");
    let got = mx.wait_for(1, 10).await;
    let m = mail_parser::MessageParser::default().parse(&got[0].data).unwrap();
    let text = m.body_text(0).unwrap().replace("\r\n", "\n");
    assert!(
        text.starts_with("This mail was sent to you from outside Example Corp.\nお取り扱いにご注意ください。"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("The figures."), "{text}");
    assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-1.4\n%%EOF\n", "the attachment travels as it was");
}
