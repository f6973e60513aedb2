//! DMARC aggregate reports sent (RFC 7489 §7.2): inbound mail authenticated on the MX listener
//! is counted per policy domain, source address, disposition and DKIM/SPF results; `sekisho
//! dmarc preview` prints a domain's report and `sekisho dmarc send --now` mails it to the
//! domain's `rua` through the queue, once per destination. The report validates against the
//! RFC 7489 Appendix C schema (xmllint), its counts are the traffic sent, the report mail's DKIM
//! signature verifies in dkimpy, and an external destination that did not authorise reports
//! (`_report._dmarc`, §7.1) or whose size limit is too small gets nothing.

mod support;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sekisho_auth::dkim_key::{DkimAlgorithm, generate, write_key};
use sekisho_store::RecipientState;
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

const BASE: &str = "127.0.43";
const TOOL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth_tool.py");

/// Runs the reference tool (dkimpy) with Debian's interpreter.
fn tool(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = Command::new("/usr/bin/python3")
        .arg(TOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a gzip stream");
    out
}

/// Validates `xml` with xmllint against the RFC 7489 Appendix C schema (its unusable
/// `targetNamespace` taken off: tests/fixtures/dmarc/README.md); the error, if any.
fn schema_problem(xml: &str, dir: &Path) -> Option<String> {
    let schema = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dmarc/rfc7489-appendix-c.xsd"),
    )
    .unwrap();
    let usable = schema.replace(" targetNamespace=\"http://dmarc.org/dmarc-xml/0.1\"", "");
    assert_ne!(usable, schema, "the fixture is the RFC's schema");
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let (xsd, doc) = (dir.join(format!("s{n}.xsd")), dir.join(format!("r{n}.xml")));
    std::fs::write(&xsd, usable).unwrap();
    std::fs::write(&doc, xml).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(&doc)
        .output()
        .expect("xmllint (Debian's libxml2-utils; scripts/test installs it)");
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    let (config, args) = (config.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::run(Some(&config), &args, "")
    })
    .await
    .unwrap()
}

fn letter(from: &str, n: usize) -> String {
    format!(
        "From: {from}\r\nTo: bob@example.jp\r\nSubject: order {n}\r\nDate: Fri, 4 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <order{n}@sender.example>\r\n\r\nThe order, number {n}.\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_traffic_becomes_the_rfc_7489_report_mailed_signed_once_and_only_where_authorised() {
    let work = tempfile::tempdir().unwrap();
    let dns = FakeDns::start("127.0.0.53").await;
    let internal = FakeMx::start(&format!("{BASE}.1:0"), MxBehavior::default()).await;
    let port = internal.addr.port();
    // Where report mail goes: the policy domain itself, an external domain that authorises
    // reports about sender.example, and one that does not.
    let mx = |name: &str, last: u8| {
        dns.mx(name, 10, &format!("mx.{name}"));
        dns.addr(&format!("mx.{name}"), &format!("{BASE}.{last}"));
    };
    mx("sender.example", 10);
    mx("reports.example", 11);
    mx("noauth.example", 12);
    let sender_mx = FakeMx::start(&format!("{BASE}.10:{port}"), MxBehavior::default()).await;
    let reports_mx = FakeMx::start(&format!("{BASE}.11:{port}"), MxBehavior::default()).await;
    let noauth_mx = FakeMx::start(&format!("{BASE}.12:{port}"), MxBehavior::default()).await;
    dns.txt(
        "_dmarc.sender.example",
        "v=DMARC1; p=none; rua=mailto:dmarc@sender.example,mailto:agg@reports.example,\
         mailto:agg@noauth.example,mailto:tiny@sender.example!100",
    );
    dns.txt("sender.example._report._dmarc.reports.example", "v=DMARC1");
    dns.txt("sender.example", "v=spf1 ip4:127.0.0.0/8 -all");
    dns.txt("bulk.example", "v=spf1 -all");
    let signing = work.path().join("s1.pem");
    let record = String::from_utf8(tool(&["keygen", signing.to_str().unwrap()], b"")).unwrap();
    dns.txt("s1._domainkey.sender.example", record.trim());
    // quiet.example publishes DMARC without rua: its mail is not counted.
    dns.txt("_dmarc.quiet.example", "v=DMARC1; p=none");
    dns.txt("quiet.example", "v=spf1 ip4:127.0.0.0/8 -all");

    let hop = format!("[{BASE}.1]:{port}");
    let gw = TestServer::start_delivering(&dns, port, move |c| {
        c.delivery.next_hop = Some(hop);
        c.authentication.enabled = true;
    })
    .await;
    // Three messages signed by sender.example and sent from a permitted address: DKIM and SPF
    // pass aligned. Two claim sender.example in From but come from bulk.example, unsigned: both
    // fail. One from quiet.example.
    let mut sent = Vec::new();
    for n in 0..6 {
        let (mail_from, message) = match n {
            0..3 => ("alice@sender.example", {
                let m = letter("Alice <alice@sender.example>", n);
                let signed =
                    tool(&["sign", signing.to_str().unwrap(), "sender.example", "s1", "relaxed"], m.as_bytes());
                String::from_utf8(signed).unwrap()
            }),
            3..5 => ("bounce@bulk.example", letter("Alice <alice@sender.example>", n)),
            _ => ("carol@quiet.example", letter("carol@quiet.example", n)),
        };
        let (mut c, _) = Client::connect(gw.mx).await;
        c.cmd("EHLO relay.outside.example").await;
        let r = c.send_mail(mail_from, &["bob@example.jp"], &message).await;
        assert_eq!(r.code, 250, "{r:?}");
        sent.push(queue_id(&r).unwrap());
    }
    for id in &sent {
        let d = gw.wait_for(id, 20, |d| d.recipients[0].state == RecipientState::Delivered).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
        let dmarc = d.info.sender_record.as_ref().and_then(|s| s.authentication.as_ref()).and_then(|a| a.dmarc.clone());
        assert!(dmarc.is_some(), "authentication ran: {d:#?}");
    }
    // Stopping writes the rows counted so far.
    let dir = gw.stop().await;
    let data = dir.path().join("data");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();

    // The gateway's own mail (From noreply-reports@gw.sekisho.test) is signed for sekisho.test.
    let own = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
    let own_key = work.path().join("gw.key");
    write_key(&own_key, &own.pem).unwrap();
    dns.txt("gw._domainkey.sekisho.test", &own.key.record());
    let config = work.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"gw.sekisho.test\"\n[store]\npath = \"{}\"\n[dns]\nservers = [\"{}\"]\n\
             [dmarc]\norg_name = \"Example Corp\"\ncontact = \"mailto:dmarc-contact@example.jp\"\n",
            data.display(),
            dns.addr,
        ),
    )
    .unwrap();

    let (code, xml, err) = cli(&config, &["dmarc", "preview", "sender.example", "--date", &today]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(schema_problem(&xml, work.path()), None, "{xml}");
    let report = mail_auth::report::Report::parse_xml(xml.as_bytes()).expect("mail-auth reads the report");
    assert_eq!(report.org_name(), "Example Corp");
    assert_eq!(report.email(), "dmarc-contact@example.jp");
    assert_eq!(report.domain(), "sender.example");
    assert_eq!(report.report_id(), format!("{today}.sender.example@gw.sekisho.test"));
    let begin = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap();
    let begin = begin.and_utc().timestamp() as u64;
    assert_eq!((report.date_range_begin(), report.date_range_end()), (begin, begin + 86_399));
    let mut counts: Vec<(String, String, String, String, u32)> = report
        .records()
        .iter()
        .map(|r| {
            (
                r.source_ip().map(|ip| ip.to_string()).unwrap_or_default(),
                format!("{:?}", r.dmarc_dkim_result()),
                format!("{:?}", r.dmarc_spf_result()),
                r.envelope_from().to_string(),
                r.count(),
            )
        })
        .collect();
    counts.sort();
    let row = |dkim: &str, spf: &str, from: &str, n| ("127.0.0.1".to_string(), dkim.into(), spf.into(), from.into(), n);
    assert_eq!(counts, [row("Fail", "Fail", "bulk.example", 2), row("Pass", "Pass", "sender.example", 3)], "{xml}");
    assert!(xml.contains("<p>none</p>") && xml.contains("<header_from>sender.example</header_from>"), "{xml}");
    let compact: String = xml.split_whitespace().collect();
    assert!(
        compact.contains("<dkim><domain>sender.example</domain><selector>s1</selector><result>pass</result></dkim>"),
        "{xml}"
    );
    assert!(
        compact.contains("<spf><domain>bulk.example</domain><scope>mfrom</scope><result>fail</result></spf>"),
        "{xml}"
    );
    let (code, _, err) = cli(&config, &["dmarc", "preview", "quiet.example", "--date", &today]).await;
    assert_eq!(code, 1, "a domain that asks for no reports has none");
    assert!(err.contains("no mail claiming quiet.example"), "{err}");

    // Sending: the policy domain's own address and the authorised external one; the
    // unauthorised one and the one whose limit is too small get nothing.
    let (code, out, err) = cli(&config, &["dmarc", "send", "--now", "--date", &today, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).unwrap();
    let domains = result["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 1, "only sender.example asked: {out}");
    let statuses: BTreeMap<&str, &str> = domains[0]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["destination"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert!(statuses["mailto:dmarc@sender.example"].starts_with("queued as "), "{out}");
    assert!(statuses["mailto:agg@reports.example"].starts_with("queued as "), "{out}");
    assert!(
        statuses["mailto:agg@noauth.example"].starts_with(
            "not sent: noauth.example is outside sender.example's organisation and publishes no v=DMARC1 record at \
             sender.example._report._dmarc.noauth.example"
        ),
        "{out}"
    );
    assert!(statuses["mailto:tiny@sender.example!100"].starts_with("not sent: the compressed report ("), "{out}");
    assert!(
        statuses["mailto:tiny@sender.example!100"]
            .ends_with("is larger than the 100 bytes mailto:tiny@sender.example!100 accepts"),
        "{out}"
    );

    // The mail: delivered by the queue once the gateway runs again, over a session without
    // TLS (the fake MX offers none), the report attached, signed.
    let own_key2 = own_key.clone();
    let gw = TestServer::restart_delivering(dir, &dns, port, move |c| {
        c.dkim.push(sekisho_config::DkimConfig {
            domain: "sekisho.test".into(),
            sender_domains: vec![".sekisho.test".into()],
            selectors: vec!["gw".into()],
            keys: BTreeMap::from([("gw".to_string(), own_key2)]),
        });
    })
    .await;
    let to_sender = sender_mx.wait_for(1, 20).await;
    let to_reports = reports_mx.wait_for(1, 20).await;
    assert_eq!(to_sender.len(), 1);
    assert_eq!(to_sender[0].rcpt_to, ["dmarc@sender.example"]);
    assert_eq!(to_reports.len(), 1);
    assert_eq!(to_reports[0].rcpt_to, ["agg@reports.example"]);
    assert!(!to_sender[0].tls, "no TLS, still the attachment");
    let mail = &to_sender[0].data;
    let text = String::from_utf8_lossy(mail).to_string();
    assert!(
        text.contains(&format!(
            "Subject: Report Domain: sender.example Submitter: gw.sekisho.test Report-ID: <{today}.sender.example@gw.sekisho.test>\r\n"
        )),
        "{text}"
    );
    assert!(text.contains("Content-Type: application/gzip\r\n"), "{text}");
    assert!(
        text.contains(&format!("filename=\"gw.sekisho.test!sender.example!{begin}!{}.xml.gz\"", begin + 86_399)),
        "{text}"
    );
    let parsed = mail_parser::MessageParser::default().parse(mail.as_slice()).expect("a message");
    let attached = parsed.attachment(0).expect("the report is attached");
    let attached_xml = String::from_utf8(gunzip(attached.contents())).unwrap();
    assert_eq!(attached_xml.trim_end(), xml.trim_end(), "the mail carries the report preview printed");
    assert_eq!(schema_problem(&attached_xml, work.path()), None);
    mail_auth::report::Report::parse_rfc5322(mail, 1 << 20).expect("mail-auth reads the report mail");
    let records = BTreeMap::from([("gw._domainkey.sekisho.test".to_string(), own.key.record())]);
    assert_eq!(support::dkimpy(mail, &records, work.path(), &["d", "s"]), ["sekisho.test gw True"], "{text}");
    let to_noauth = noauth_mx.received();
    assert!(to_noauth.is_empty(), "an unauthorised destination gets nothing: {to_noauth:?}");
    let dir = gw.stop().await;

    // Once per destination: a second run sends nothing.
    let (code, out, err) = cli(&config, &["dmarc", "send", "--now", "--date", &today]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "sender.example: sent before", "{out}");
    let gw = TestServer::restart_delivering(dir, &dns, port, |_| {}).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!((sender_mx.received().len(), reports_mx.received().len(), noauth_mx.connections()), (1, 1, 0));
    drop((gw, internal));
}

#[tokio::test]
async fn sending_needs_an_organisation_and_a_contact() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "hostname = \"gw.sekisho.test\"\n[dmarc]\nreports = true\norg_name = \"Corp\"\n").unwrap();
    let (code, _, err) = cli(&config, &["dmarc", "send", "--now"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("c.toml:2: dmarc.contact: must be set"), "{err}");
    let _: PathBuf = dir.path().to_path_buf();
}
