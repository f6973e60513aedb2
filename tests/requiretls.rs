//! RFC 8689 end to end: `MAIL FROM:<..> REQUIRETLS` taken only over TLS on submission, kept with
//! the message across a restart, relayed only over authenticated TLS to a server that
//! advertises REQUIRETLS (with `REQUIRETLS` on its MAIL FROM), else bounced with 5.7.30 naming
//! the requirement, never as a link; `TLS-Required: No` from an authenticated user delivers past
//! an MTA-STS enforce failure, and the trace says so.

mod support;

use std::path::PathBuf;

use base64::Engine as _;
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeHttps, FakeMx, HttpAnswer, MxBehavior, TestPki, TestServer, queue_id};

const BASE: &str = "127.0.91";
const MSG: &str = "From: alice@example.jp\r\nSubject: contract\r\n\r\nthe secret terms\r\n";

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-requiretls-{name}-{}-{nanos}", std::process::id()))
}

fn settled(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| matches!(r.state, RecipientState::Delivered | RecipientState::Bounced))
}

/// DNS, a home MX for example.jp (where DSNs go), the CAs the gateway trusts.
struct Net {
    dns: FakeDns,
    port: u16,
    roots: Vec<PathBuf>,
    home: FakeMx,
}

impl Net {
    async fn new(home_ip: &str) -> Net {
        Net::with_home(home_ip, false).await
    }

    /// With `secure`, the home MX has a trusted certificate and advertises REQUIRETLS.
    async fn with_home(home_ip: &str, secure: bool) -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let mut roots = Vec::new();
        let tls = secure.then(|| TestPki::generate(&pki_dir("home"), "mx.example.jp"));
        roots.extend(tls.as_ref().map(|p| p.ca_path.clone()));
        let home =
            FakeMx::start(&format!("{home_ip}:0"), MxBehavior { tls, requiretls: secure, ..Default::default() }).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", home_ip);
        Net { dns, port: home.addr.port(), roots, home }
    }

    /// An MX host for `domain` at `ip` with `tls` (its CA trusted), advertising REQUIRETLS after
    /// STARTTLS when `requiretls`.
    async fn mx(&mut self, ip: &str, domain: &str, tls: Option<TestPki>, requiretls: bool) -> FakeMx {
        if let Some(p) = &tls {
            self.roots.push(p.ca_path.clone());
        }
        let host = format!("mx.{domain}");
        let mx =
            FakeMx::start(&format!("{ip}:{}", self.port), MxBehavior { tls, requiretls, ..Default::default() }).await;
        self.dns.addr(&host, ip);
        self.dns.mx(domain, 10, &host);
        mx
    }

    async fn gateway(&self, tweak: impl FnOnce(&mut sekisho_config::Config)) -> TestServer {
        let roots = self.roots.clone();
        TestServer::start_delivering(&self.dns, self.port, move |c| {
            c.tls.extra_roots = roots;
            tweak(c);
        })
        .await
    }
}

/// Submits `content` to `to` over STARTTLS on the trusted submission listener with `params`.
async fn submit_tls(s: &TestServer, params: &str, to: &str, content: &str) -> String {
    let (c, _) = Client::connect(s.trusted).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let r = c.send_mail_with("alice@example.jp", params, &[to], content).await;
    assert_eq!(r.code, 250, "{r:?}");
    queue_id(&r).unwrap()
}

async fn bounced(s: &TestServer, id: &str) -> MessageDetail {
    let d = s.wait_for(id, 20, settled).await;
    assert_eq!(d.recipients[0].state, RecipientState::Bounced, "{d:#?}");
    d
}

#[tokio::test]
async fn a_requiretls_message_goes_over_authenticated_tls_with_requiretls_on_the_next_mail_from() {
    let mut net = Net::new(&format!("{BASE}.1")).await;
    let good = TestPki::generate(&pki_dir("good"), "mx.good.example");
    let mx = net.mx(&format!("{BASE}.10"), "good.example", Some(good), true).await;
    let s = net.gateway(|_| {}).await;

    // Submission: not before STARTTLS, and stored with the message once taken.
    let (mut plain, _) = Client::connect(s.trusted).await;
    plain.cmd("EHLO client.test").await;
    let r = plain.cmd("MAIL FROM:<alice@example.jp> REQUIRETLS").await;
    assert_eq!(r.code, 530, "{r:?}");
    assert!(r.text().contains("5.7.10 REQUIRETLS needs a TLS session: issue STARTTLS first"), "{}", r.text());
    let (c, _) = Client::connect(s.trusted).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let ehlo = c.cmd("EHLO client.test").await;
    assert!(ehlo.text().contains("REQUIRETLS"), "{}", ehlo.text());

    let id = submit_tls(&s, " REQUIRETLS", "bob@good.example", MSG).await;
    let d = s.wait_for(&id, 20, settled).await;
    assert_eq!(d.info.sender_tls, Some(sekisho_policy::SenderTls::RequireTls));
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    let got = mx.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
    assert_eq!(got[0].mail_line.split_whitespace().last(), Some("REQUIRETLS"), "{}", got[0].mail_line);
    let e = d.attempts.last().unwrap().attempt.evidence.clone().unwrap();
    assert_eq!(e["assurance"], "authenticated", "{e:#}");

    // Mail without the parameter is relayed without it.
    let id = submit_tls(&s, "", "carol@good.example", MSG).await;
    s.wait_for(&id, 20, settled).await;
    assert!(!mx.received()[1].mail_line.contains("REQUIRETLS"), "{}", mx.received()[1].mail_line);

    // The MX listener does not offer it (its mail goes on to the internal server).
    let (c, _) = Client::connect(s.mx).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let r = c.cmd("MAIL FROM:<x@outside.example> REQUIRETLS").await;
    assert_eq!(r.code, 555, "{r:?}");
    assert!(r.text().contains("REQUIRETLS is not offered on this listener"), "{}", r.text());
}

#[tokio::test]
async fn without_requiretls_plaintext_or_a_valid_certificate_the_message_bounces_with_5_7_30() {
    let mut net = Net::new(&format!("{BASE}.2")).await;
    let named = TestPki::generate(&pki_dir("norequire"), "mx.norequire.example");
    let no_requiretls = net.mx(&format!("{BASE}.20"), "norequire.example", Some(named), false).await;
    let plain = net.mx(&format!("{BASE}.21"), "plain.example", None, true).await;
    let expired = TestPki::generate_expired(&pki_dir("expired"), "mx.expired.example");
    let old = net.mx(&format!("{BASE}.22"), "expired.example", Some(expired), true).await;
    let stranger = TestPki::generate(&pki_dir("stranger"), "mx.stranger.example");
    let untrusted = FakeMx::start(
        &format!("{BASE}.23:{}", net.port),
        MxBehavior { tls: Some(stranger), requiretls: true, ..Default::default() },
    )
    .await;
    net.dns.addr("mx.stranger.example", &format!("{BASE}.23"));
    net.dns.mx("stranger.example", 10, "mx.stranger.example");
    let s = net.gateway(|_| {}).await;

    let cases = [
        ("bob@norequire.example", "does not advertise REQUIRETLS"),
        ("bob@plain.example", "offered no usable TLS (starttls-not-supported"),
        ("bob@expired.example", "certificate-expired"),
        ("bob@stranger.example", "certificate-not-trusted"),
    ];
    for (rcpt, why) in cases {
        let id = submit_tls(&s, " REQUIRETLS", rcpt, MSG).await;
        let d = bounced(&s, &id).await;
        let last = d.recipients[0].last_reply.clone().unwrap_or_default();
        assert!(last.starts_with("REQUIRETLS: ") && last.contains(why), "{rcpt}: {last}");
    }
    assert!(no_requiretls.received().is_empty(), "not a byte to a server without REQUIRETLS");
    assert!(plain.received().is_empty(), "never plaintext");
    assert!(old.received().is_empty() && untrusted.received().is_empty());

    // Each sender hears which requirement failed, with the header only (RFC 8689).
    let dsns = net.home.wait_for(4, 20).await;
    assert_eq!(dsns.len(), 4);
    for (rcpt, why) in cases {
        let dsn = dsns.iter().find(|m| String::from_utf8_lossy(&m.data).contains(&format!("rfc822; {rcpt}")));
        let text = String::from_utf8_lossy(&dsn.unwrap_or_else(|| panic!("a DSN about {rcpt}")).data).into_owned();
        assert!(text.contains("Status: 5.7.30"), "{text}");
        assert!(text.contains(why), "{rcpt}: {text}");
        assert!(text.contains("Subject: contract"), "the header is returned: {text}");
        assert!(!text.contains("the secret terms"), "never the content: {text}");
        let dsn = dsn.unwrap();
        assert!(!dsn.mail_line.contains("REQUIRETLS"), "the home MX does not offer it: {}", dsn.mail_line);
    }
    let dsn_records: Vec<_> = s.stored_all().await.into_iter().filter(|m| m.info.sender.is_empty()).collect();
    assert!(
        dsn_records.iter().all(|m| m.info.sender_tls == Some(sekisho_policy::SenderTls::RequireTlsIfOffered)),
        "a bounce about a REQUIRETLS message asks for it where offered, and is not discarded without it"
    );
}

#[tokio::test]
async fn a_requiretls_message_is_never_sent_as_a_link() {
    let mut net = Net::with_home(&format!("{BASE}.3"), true).await;
    let good = TestPki::generate(&pki_dir("linkless"), "mx.linkless.example");
    let mx = net.mx(&format!("{BASE}.30"), "linkless.example", Some(good), true).await;
    // Attachments go inline only over MTA-STS: this authenticated session would get a link.
    let s = net.gateway(|c| c.outbound.attachments_inline_min = sekisho_policy::InlineMin::MtaSts).await;
    let file = base64::engine::general_purpose::STANDARD.encode(b"price list 2027\n");
    let content = format!(
        "From: alice@example.jp\r\nSubject: quote\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         see attached\r\n--b\r\nContent-Type: text/plain; name=\"prices.txt\"\r\n\
         Content-Disposition: attachment; filename=\"prices.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {file}\r\n--b--\r\n"
    );
    let plain_id = submit_tls(&s, "", "ann@linkless.example", &content).await;
    let d = s.wait_for(&plain_id, 20, settled).await;
    assert_eq!(d.attempts.last().unwrap().attempt.variant.as_ref().unwrap().kind, sekisho_policy::Carriage::Link);

    let id = submit_tls(&s, " REQUIRETLS", "bob@linkless.example", &content).await;
    let d = bounced(&s, &id).await;
    let last = d.recipients[0].last_reply.clone().unwrap();
    assert!(last.starts_with("REQUIRETLS: the attachments would go as a download link"), "{last}");
    let dsn = net.home.wait_for(1, 20).await;
    assert!(String::from_utf8_lossy(&dsn[0].data).contains("Status: 5.7.30"));
    assert!(dsn[0].tls && dsn[0].mail_line.ends_with(" REQUIRETLS"), "where offered: {}", dsn[0].mail_line);
    let got = mx.received();
    assert_eq!(got.len(), 1, "only the message without REQUIRETLS (as a link notice)");
    assert_eq!(got[0].rcpt_to, ["ann@linkless.example"]);
    let links = s.queue.stores().links.links(Some(&id)).await.unwrap();
    assert!(links.is_empty(), "no link was made for it: {links:?}");
}

#[tokio::test]
async fn tls_required_no_from_an_authenticated_user_delivers_past_an_mta_sts_enforce_failure() {
    let mut net = Net::new(&format!("{BASE}.4")).await;
    let wrong = TestPki::generate(&pki_dir("wrong"), "not-the-mx.example");
    let mx = net.mx(&format!("{BASE}.40"), "strict.example", Some(wrong), false).await;
    let policy_pki = TestPki::generate(&pki_dir("sts"), "mta-sts.strict.example");
    net.roots.push(policy_pki.ca_path.clone());
    let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.strict.example\r\nmax_age: 86400\r\n";
    let https = FakeHttps::start(&format!("{BASE}.41:0"), &policy_pki, HttpAnswer::policy(policy)).await;
    net.dns.addr("mta-sts.strict.example", &format!("{BASE}.41"));
    net.dns.txt("_mta-sts.strict.example", "v=STSv1; id=rt1;");
    let https_port = https.addr.port();
    let s = net
        .gateway(move |c| {
            c.mta_sts.port = https_port;
            c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
        })
        .await;
    s.add_user("alice", "pw").await;
    let relaxed = "From: alice@example.jp\r\nTLS-Required: No\r\nSubject: tls report\r\n\r\nreport\r\n";

    // From a trusted network without AUTH the field is not honoured: the policy holds.
    let trusted_id = s.submit("alice@example.jp", &["ops@strict.example"], relaxed).await;
    let d = s.wait_for(&trusted_id, 20, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(d.info.sender_tls, None);
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(mx.received().is_empty());

    // From an authenticated user it is: delivered, and the trace says why.
    let (c, _) = Client::connect(s.submission).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    let auth = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0pw");
    assert_eq!(c.cmd(&format!("AUTH PLAIN {auth}")).await.code, 235);
    let r = c.send_mail("alice@example.jp", &["bob@strict.example"], relaxed).await;
    let id = queue_id(&r).unwrap();
    let d = s.wait_for(&id, 20, settled).await;
    assert_eq!(d.info.sender_tls, Some(sekisho_policy::SenderTls::NotRequired));
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert!(mx.received()[0].tls, "STARTTLS is still used");
    let e = d.attempts.last().unwrap().attempt.evidence.clone().unwrap();
    assert_eq!(e["assurance"], "encrypted", "{e:#}");
    assert_eq!(e["mta_sts"]["policy_met"], false, "{e:#}");
    let waived = e["waived"].as_str().unwrap();
    assert!(waived.starts_with("TLS-Required: No (RFC 8689): delivered without applying"), "{waived}");
    assert!(waived.contains("the MTA-STS policy of strict.example (enforce)"), "{waived}");

    // `queue show` and its JSON say it too.
    let config = s.dir().join("show.toml");
    std::fs::write(&config, format!("[store]\npath = \"{}\"\n", s.config.store.path.display())).unwrap();
    let (code, out, err) = support::run(Some(&config), &["queue", "show", &id], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("tls-required: No (RFC 8689)"), "{out}");
    assert!(out.contains("waived:     TLS-Required: No (RFC 8689): delivered without applying the MTA-STS"), "{out}");
    let (_, json, _) = support::run(Some(&config), &["queue", "show", &id, "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["sender_tls"], "tls-required-no", "{json}");
}

#[tokio::test]
async fn the_requiretls_flag_survives_a_restart_and_still_governs_delivery() {
    let mut net = Net::new(&format!("{BASE}.5")).await;
    let pki = TestPki::generate(&pki_dir("later"), "mx.later.example");
    // At first the host is busy (421): the message waits in the queue.
    let busy = MxBehavior { greeting: 421, ..Default::default() };
    let down = FakeMx::start(&format!("{BASE}.50:{}", net.port), busy).await;
    net.dns.addr("mx.later.example", &format!("{BASE}.50"));
    net.dns.mx("later.example", 10, "mx.later.example");
    net.roots.push(pki.ca_path.clone());
    let soon = || vec![sekisho_config::Duration::parse("1s").unwrap()];
    let s = net.gateway(move |c| c.delivery.retry_schedule = soon()).await;
    let id = submit_tls(&s, " REQUIRETLS", "bob@later.example", MSG).await;
    s.wait_for(&id, 20, |d| d.recipients[0].attempts >= 1).await;
    let store = s.config.store.path.clone();
    let dir = s.stop().await;
    drop(down);

    let config = dir.path().join("show.toml");
    std::fs::write(&config, format!("[store]\npath = \"{}\"\n", store.display())).unwrap();
    let (code, out, err) = support::run(Some(&config), &["queue", "show", &id], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("requiretls: yes (RFC 8689)"), "{out}");
    let (_, json, _) = support::run(Some(&config), &["queue", "show", &id, "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["sender_tls"], "requiretls", "{json}");

    let up = FakeMx::start(
        &format!("{BASE}.50:{}", net.port),
        MxBehavior { tls: Some(pki), requiretls: true, ..Default::default() },
    )
    .await;
    let roots = net.roots.clone();
    let _s = TestServer::restart_delivering(dir, &net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.retry_schedule = soon();
    })
    .await;
    let got = up.wait_for(1, 30).await;
    assert_eq!(got.len(), 1, "delivered after the restart");
    assert!(got[0].mail_line.ends_with(" REQUIRETLS"), "{}", got[0].mail_line);
}

#[tokio::test]
async fn sekishos_tls_report_mail_says_tls_required_no_and_reaches_a_rua_whose_mx_fails_mta_sts() {
    let mut net = Net::new(&format!("{BASE}.6")).await;
    // partner.example asks for TLS reports by mail to reports.example.
    let partner_pki = TestPki::generate(&pki_dir("partner"), "mx.partner.example");
    let _partner = net.mx(&format!("{BASE}.60"), "partner.example", Some(partner_pki), false).await;
    net.dns.txt("_smtp._tls.partner.example", "v=TLSRPTv1; rua=mailto:tls@reports.example");
    // reports.example enforces MTA-STS, and its MX cannot prove its name.
    let wrong = TestPki::generate(&pki_dir("reports"), "not-mx.reports.example");
    let reports_mx = net.mx(&format!("{BASE}.61"), "reports.example", Some(wrong), false).await;
    let policy_pki = TestPki::generate(&pki_dir("reports-sts"), "mta-sts.reports.example");
    net.roots.push(policy_pki.ca_path.clone());
    let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.reports.example\r\nmax_age: 86400\r\n";
    let https = FakeHttps::start(&format!("{BASE}.62:0"), &policy_pki, HttpAnswer::policy(policy)).await;
    net.dns.addr("mta-sts.reports.example", &format!("{BASE}.62"));
    net.dns.txt("_mta-sts.reports.example", "v=STSv1; id=rep1;");
    let (roots, sts_port) = (net.roots.clone(), https.addr.port());
    let settings = move |c: &mut sekisho_config::Config| {
        c.tls.extra_roots = roots;
        c.mta_sts.port = sts_port;
    };
    let s = TestServer::start_delivering(&net.dns, net.port, settings.clone()).await;
    // Ordinary mail to reports.example waits: the policy holds.
    let held = s.submit("alice@example.jp", &["ops@reports.example"], MSG).await;
    let d = s.wait_for(&held, 20, |d| d.recipients[0].attempts >= 1).await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    let id = s.submit("alice@example.jp", &["bob@partner.example"], MSG).await;
    s.wait_for(&id, 20, settled).await;
    let dir = s.stop().await;

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let config = dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"gw.sekisho.test\"\n[store]\npath = \"{}\"\n[dns]\nservers = [\"{}\"]\n\
             [reports]\norganization = \"Example Corp\"\ncontact = \"mailto:postmaster@example.jp\"\n",
            dir.path().join("data").display(),
            net.dns.addr,
        ),
    )
    .unwrap();
    let cfg = config.clone();
    let args = ["tlsrpt", "send", "--now", "--date", today.as_str()].map(String::from);
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::run(Some(&cfg), &args, "")
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued as"), "{out}");

    let s = TestServer::restart_delivering(dir, &net.dns, net.port, settings).await;
    let mails = reports_mx.wait_for(1, 20).await;
    assert_eq!(mails.len(), 1, "RFC 8460 §3: the report arrives where TLS fails");
    assert_eq!(mails[0].rcpt_to, ["tls@reports.example"]);
    let text = String::from_utf8_lossy(&mails[0].data);
    assert!(text.contains("\r\nTLS-Required: No\r\n"), "{text}");
    let messages = s.queue.stores().messages.clone();
    let mut report = None;
    for m in messages.list_messages(true).await.unwrap() {
        let d = messages.message(&m.id).await.unwrap().unwrap();
        if d.recipients[0].address == "tls@reports.example" {
            report = Some(d);
        }
    }
    let report = report.expect("the report mail in the queue");
    assert_eq!(report.info.sender_tls, Some(sekisho_policy::SenderTls::NotRequired));
    let d = s.wait_for(&report.info.id, 20, settled).await;
    let e = d.attempts.last().unwrap().attempt.evidence.clone().unwrap();
    assert!(e["waived"].as_str().unwrap().contains("the MTA-STS policy of reports.example (enforce)"), "{e:#}");
    let d = s.queue.stores().messages.message(&held).await.unwrap().unwrap();
    assert_ne!(d.recipients[0].state, RecipientState::Delivered, "other mail to reports.example still waits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_sees_requiretls_after_starttls_and_its_mail_option_is_kept() {
    let s = TestServer::start().await;
    let script = r#"
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("localhost", port, local_hostname="python.client.test", timeout=20) as c:
    c.ehlo()
    assert not c.has_extn("requiretls"), "not before STARTTLS"
    try:
        c.sendmail("alice@example.jp", ["bob@outside.example"], b"Subject: x\r\n\r\nx\r\n", mail_options=["REQUIRETLS"])
        raise SystemExit("REQUIRETLS accepted without TLS")
    except smtplib.SMTPSenderRefused as e:
        print("refused", e.smtp_code, e.smtp_error.decode())
    c.starttls(context=ssl.create_default_context(cafile=cafile))
    c.ehlo()
    assert c.has_extn("requiretls"), "REQUIRETLS after STARTTLS"
    assert c.sendmail("alice@example.jp", ["bob@outside.example"], b"Subject: y\r\n\r\ny\r\n", mail_options=["REQUIRETLS"]) == {}
    print("sent ok")
"#;
    let (port, ca) = (s.trusted.port().to_string(), s.pki.ca_path.clone());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").args(["-c", script, &port]).arg(&ca).output().expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("refused 530 5.7.10 REQUIRETLS needs a TLS session"), "{stdout}");
    assert!(stdout.contains("sent ok"), "{stdout}");
    let stored = s.stored_all().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].info.sender_tls, Some(sekisho_policy::SenderTls::RequireTls));
}
