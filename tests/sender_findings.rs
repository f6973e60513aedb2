//! Who sent an inbound message, in words the recipient reads: the findings made before the 250
//! (look-alike domains, display names, Reply-To, the envelope, first contact), kept with the
//! message, shown by `queue show`, and put in front of the recipient by the internal server's
//! copy (a header field, the Subject tag, the banner on the text and HTML bodies). The client's
//! country comes from a small MaxMind database each test writes with PyPI's `mmdb-writer`
//! (`scripts/test` installs it).

mod support;

use sekisho_config::Config;
use sekisho_policy::sender::FindingKind::{self, *};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server behind the gateway (also every outside MX), and the gateway.
struct Site {
    dns: FakeDns,
    internal: FakeMx,
    gw: TestServer,
    dir: tempfile::TempDir,
}

impl Site {
    async fn start(tweak: impl FnOnce(&mut Config, &std::path::Path)) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let dns = FakeDns::start("127.0.7.90").await;
        let internal = FakeMx::start("127.0.0.96:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.96]:{}", internal.addr.port());
        let path = dir.path().to_path_buf();
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            tweak(c, &path);
        })
        .await;
        Site { dns, internal, gw, dir }
    }

    /// Sends `message` from the internet, envelope `from`, to bob@example.jp; the final reply.
    async fn send(&self, from: &str, message: &str) -> sekisho_testkit::Response {
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        c.send_mail(from, &["bob@example.jp"], message).await
    }

    /// Sends `message`, waits until it is delivered, and returns its record and the copy the
    /// internal server got.
    async fn delivered(&self, from: &str, message: &str) -> (MessageDetail, String) {
        let before = self.internal.received().len();
        let r = self.send(from, message).await;
        assert_eq!(r.code, 250, "{r:?}");
        let id = queue_id(&r).unwrap();
        let d = self.gw.wait_for(&id, 15, all_delivered).await;
        assert!(all_delivered(&d), "{d:#?}");
        let got = self.internal.wait_for(before + 1, 5).await;
        (d, String::from_utf8_lossy(&got[before].data).into_owned())
    }

    /// `sekisho queue show ID [--json]` on the gateway's data.
    async fn queue_show(&self, id: &str, json: bool) -> String {
        let config = self.dir.path().join("cli.toml");
        let text = format!(
            "hostname = \"gw.sekisho.test\"\nlocal_domains = [\"example.jp\"]\n[store]\npath = \"{}\"\nmin_free_space = 0\n",
            self.gw.config.store.path.display()
        );
        std::fs::write(&config, text).unwrap();
        let mut args = vec!["queue".to_string(), "show".into(), id.into()];
        if json {
            args.push("--json".into());
        }
        let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            support::run(Some(&config), &args, "")
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "{stderr}");
        stdout
    }
}

fn all_delivered(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| r.state == RecipientState::Delivered)
}

fn kinds(d: &MessageDetail) -> Vec<FindingKind> {
    d.info.sender_record.as_ref().expect("MX mail has a sender record").findings.iter().map(|f| f.kind).collect()
}

/// A message with a text and an HTML body, from `from` (a whole From field value).
fn alternative(from: &str, more: &str) -> String {
    format!(
        "From: {from}\r\n{more}To: bob@example.jp\r\nSubject: Invoice 2026-12\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
         --alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease pay the attached invoice today.\r\n\
         --alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Please pay today.</p></body></html>\r\n\
         --alt--\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_look_alike_partner_with_an_internal_name_gets_the_banner_the_tag_and_queue_show_says_why() {
    let site = Site::start(|c, dir| {
        let names = dir.join("names.txt");
        std::fs::write(&names, "# people of example.jp\n山田 太郎\nHanako Sato\n").unwrap();
        c.findings.internal_names = Some(names);
        c.findings.partners = vec!["example.co.jp".into()];
    })
    .await;
    // "山田 太郎" (an internal name) on examp1e.co.jp, with replies going elsewhere, sent
    // through a bulk mailer.
    let from = "=?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro@examp1e.co.jp>";
    let message = alternative(from, "Reply-To: pay@collector.test\r\n");
    let (d, got) = site.delivered("bounce@bulk-mailer.test", &message).await;
    assert_eq!(kinds(&d), [LookAlike, DisplayNameSpoof, HeaderEnvelopeMismatch, ReplyToElsewhere, FirstContact]);
    let record = d.info.sender_record.as_ref().unwrap();
    assert_eq!(
        record.findings[0].sentence,
        "examp1e.co.jp looks like example.co.jp, a partner you write to: it is not that domain."
    );

    // The internal server's copy: the field for filters, the tag, the banner on both bodies,
    // the MIME structure intact.
    assert!(
        got.contains(
            "\r\nX-Sekisho-Sender-Findings: look-alike, display-name-spoof, header-envelope-mismatch, reply-to-elsewhere, first-contact\r\n"
        ),
        "{got}"
    );
    let m = mail_parser::MessageParser::default().parse(got.as_bytes()).unwrap();
    assert_eq!(m.subject(), Some("[注意] Invoice 2026-12"));
    let text = m.body_text(0).unwrap();
    assert!(text.contains("【注意】このメールの差出人をご確認ください"), "{text}");
    assert!(
        text.contains("examp1e.co.jp は取引先のドメイン example.co.jp に似ていますが、別のドメインです。"),
        "{text}"
    );
    assert!(text.contains("差出人名「山田 太郎」は社内の人の名前ですが"), "{text}");
    assert!(!text.contains("これまでに"), "first contact is information, not a banner line: {text}");
    assert!(text.trim_end().ends_with("Please pay the attached invoice today."), "{text}");
    let html = m.body_html(0).unwrap();
    assert!(html.starts_with("<html><body><div data-sekisho-banner=\"sender\""), "{html}");
    assert!(html.contains("<li data-kind=\"look-alike\">"), "{html}");
    assert!(html.trim_end().ends_with("<p>Please pay today.</p></body></html>"), "{html}");

    // queue show in words, and in JSON.
    let shown = site.queue_show(&d.info.id, false).await;
    assert!(
        shown.contains(
            "finding:    look-alike: examp1e.co.jp looks like example.co.jp, a partner you write to: it is not that domain.\n"
        ),
        "{shown}"
    );
    assert!(shown.contains("            evidence: examp1e.co.jp ~ example.co.jp (confusable characters)\n"), "{shown}");
    assert!(shown.contains("finding:    reply-to-elsewhere: A reply goes to pay@collector.test"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&site.queue_show(&d.info.id, true).await).unwrap();
    let findings = json["sender_record"]["findings"].as_array().expect("findings in the JSON");
    assert_eq!(findings.len(), 5);
    assert_eq!(findings[1]["kind"], "display-name-spoof");
    assert_eq!(findings[1]["detail"], "display name \"山田 太郎\" (an internal name), address taro@examp1e.co.jp");
    assert!(findings[1]["sentence_ja"].as_str().unwrap().starts_with("差出人名「山田 太郎」"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_inspection_record_the_findings_still_reach_the_recipient() {
    let site = Site::start(|c, _| {
        c.inbound.inspect = false;
        c.findings.subject_tags.insert(FirstContact, "[外部]".into());
    })
    .await;
    let message = "From: \"ceo@example.jp\" <boss@freemail.test>\r\nSubject: Urgent\r\n\r\nBuy gift cards.\r\n";
    let (d, got) = site.delivered("boss@freemail.test", message).await;
    assert!(d.info.inspection.is_none(), "not inspected");
    assert_eq!(kinds(&d), [DisplayNameSpoof, FirstContact]);
    let m = mail_parser::MessageParser::default().parse(got.as_bytes()).unwrap();
    assert_eq!(m.subject(), Some("[注意] [外部] Urgent"), "each kind's tag, in the findings' order");
    let text = m.body_text(0).unwrap();
    assert!(text.contains("The name shown, \"ceo@example.jp\", is another address than the one this message came from (boss@freemail.test)."), "{text}");
    assert!(text.trim_end().ends_with("Buy gift cards."), "{text}");
    assert!(got.starts_with("X-Sekisho-Sender-Findings: display-name-spoof, first-contact\r\n"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisations_own_mail_decides_first_contact_and_what_a_look_alike_imitates() {
    let site = Site::start(|c, _| c.findings.learned_refresh = sekisho_config::Duration::from_secs(0)).await;
    site.dns.mx("customer.example", 10, "mx.customer.example");
    site.dns.addr("mx.customer.example", "127.0.0.96");
    let plain = "From: Taro <taro@customer.example>\r\nSubject: Hello\r\n\r\nNice to meet you.\r\n";

    // A stranger: first contact is kept and shown on the portal, the message goes as sent.
    let (d, got) = site.delivered("taro@customer.example", plain).await;
    assert_eq!(kinds(&d), [FirstContact]);
    assert!(got.ends_with("Subject: Hello\r\n\r\nNice to meet you.\r\n"), "no banner for information: {got}");
    assert!(!got.contains("X-Sekisho-Sender-Findings"), "{got}");

    // Someone of the organisation writes to customer.example, and it is delivered.
    let (mut c, _) = Client::connect(site.gw.trusted).await;
    c.cmd("EHLO pc.example.jp").await;
    let r = c.send_mail("alice@example.jp", &["taro@customer.example"], "Subject: Re: Hello\r\n\r\nWelcome.\r\n").await;
    assert_eq!(r.code, 250, "{r:?}");
    site.gw.wait_for(&queue_id(&r).unwrap(), 15, all_delivered).await;

    // Now the same sender is known, and a domain one letter away imitates it.
    let (d, _) = site.delivered("taro@customer.example", plain).await;
    assert_eq!(kinds(&d), [], "known: {:?}", d.info.sender_record);
    let fake = "From: Taro <taro@cust0mer.example>\r\nSubject: New bank account\r\n\r\nPlease pay here.\r\n";
    let (d, got) = site.delivered("taro@cust0mer.example", fake).await;
    assert_eq!(kinds(&d), [LookAlike, FirstContact]);
    let record = d.info.sender_record.as_ref().unwrap();
    assert_eq!(
        record.findings[0].sentence,
        "cust0mer.example looks like customer.example, a domain your organisation writes to: it is not that domain."
    );
    let m = mail_parser::MessageParser::default().parse(got.as_bytes()).unwrap();
    assert!(m.body_text(0).unwrap().contains("cust0mer.example は"), "{got}");
}

/// A MaxMind-format country database at `dir/country.mmdb` placing 127.0.0.0/8 in North Korea,
/// written by PyPI's `mmdb-writer`.
fn country_database(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("country.mmdb");
    let script = "import sys\nfrom netaddr import IPSet\nfrom mmdb_writer import MMDBWriter\n\
        w = MMDBWriter(ip_version=6, database_type='GeoLite2-Country', ipv4_compatible=True)\n\
        w.insert_network(IPSet(['127.0.0.0/8']), {'country': {'iso_code': 'KP', 'names': {'en': 'North Korea', 'ja': '北朝鮮'}}})\n\
        w.to_db_file(sys.argv[1])\n";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&path).output().expect("python3");
    assert!(
        out.status.success(),
        "cannot write the country database (install PyPI's mmdb-writer; scripts/test does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_from_a_country_the_organisation_never_writes_to_is_held_and_said_so() {
    let site = Site::start(|c, dir| {
        c.findings.country_database = Some(country_database(dir));
        c.findings.countries = vec!["JP".into(), "US".into()];
        c.findings.unusual_country = sekisho_config::UnusualCountry::Hold;
    })
    .await;
    let r = site.send("taro@customer.example", "From: taro@customer.example\r\nSubject: Hi\r\n\r\nHello.\r\n").await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 10, |d| d.recipients.iter().all(|r| r.state == RecipientState::Held)).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Held), "{d:#?}");
    let record = d.info.inspection.as_ref().unwrap();
    assert_eq!(record.action, sekisho_policy::inbound::Outcome::Quarantined);
    assert!(
        record.rule.starts_with("sent from KP, a country the organisation does not correspond with"),
        "{}",
        record.rule
    );
    assert_eq!(kinds(&d), [FirstContact, OriginCountry]);
    let country = &d.info.sender_record.as_ref().unwrap().findings[1];
    assert_eq!(
        country.sentence,
        "The message was sent from North Korea, a country your organisation does not correspond with."
    );
    assert_eq!(country.sentence_ja, "このメールは北朝鮮から送信されました（普段やり取りのない国です）。");
    assert_eq!(country.detail, "client in KP (unusual)");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(site.internal.received().is_empty(), "nothing is delivered");
    assert!(site.gw.queue.stores().messages.quarantined().await.unwrap().contains(&id), "in the quarantine");

    // Without an inspection record (no quarantine to put it in), its recipients are held.
    let site = Site::start(|c, dir| {
        c.inbound.inspect = false;
        c.findings.country_database = Some(country_database(dir));
        c.findings.countries = vec!["JP".into()];
        c.findings.unusual_country = sekisho_config::UnusualCountry::Hold;
    })
    .await;
    let r = site.send("taro@customer.example", "From: taro@customer.example\r\nSubject: Hi\r\n\r\nHello.\r\n").await;
    let id = queue_id(&r).unwrap_or_else(|| panic!("{r:?}"));
    let d = site.gw.wait_for(&id, 10, |d| d.recipients.iter().all(|r| r.state == RecipientState::Held)).await;
    assert!(d.info.inspection.is_none() && d.recipients.iter().all(|r| r.state == RecipientState::Held), "{d:#?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(site.internal.received().is_empty(), "nothing is delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usual_country_is_information_and_the_mail_goes_as_sent() {
    let site = Site::start(|c, dir| {
        c.findings.country_database = Some(country_database(dir));
        c.findings.countries = vec!["kp".into()];
        c.findings.unusual_country = sekisho_config::UnusualCountry::Hold;
    })
    .await;
    let (d, got) =
        site.delivered("taro@customer.example", "From: taro@customer.example\r\nSubject: Hi\r\n\r\nHello.\r\n").await;
    assert_eq!(kinds(&d), [FirstContact, OriginCountry]);
    assert_eq!(d.info.sender_record.as_ref().unwrap().findings[1].sentence, "The message was sent from North Korea.");
    assert!(got.ends_with("Subject: Hi\r\n\r\nHello.\r\n"), "{got}");
}
