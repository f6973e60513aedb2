//! SMTP TLS reporting (RFC 8460): delivery counts every session with each recipient domain
//! under the policy it was held to; `sekisho tlsrpt preview` prints the day's report and
//! `sekisho tlsrpt send --now` sends it to the domain's `rua` destinations — by mail through the
//! queue (read back with mail-auth's TLS-RPT parser) and by HTTPS POST — once per destination.
//! The report is checked against a hand-computed one and a JSON Schema of RFC 8460 §4.4.

mod support;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use sekisho_store::RecipientState;
use sekisho_testkit::{FakeDns, FakeHttps, FakeMx, HttpAnswer, MxBehavior, TestPki, TestServer};

const BASE: &str = "127.0.41";

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-tlsrpt-{name}-{}-{nanos}", std::process::id()))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a gzip stream");
    out
}

/// Validates `json` against the RFC 8460 schema with Python's jsonschema; the error, if any.
fn schema_problem(json: &str) -> Option<String> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tlsrpt-report.schema.json");
    let script = "import json,sys,jsonschema\n\
                  jsonschema.validate(json.load(sys.stdin), json.load(open(sys.argv[1])))";
    let mut child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(schema)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Debian's python3 with python3-jsonschema (scripts/test installs it)");
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
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

#[tokio::test]
async fn a_days_sessions_become_the_rfc_8460_report_sent_by_mail_and_https_once() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start(&format!("{BASE}.1:0"), MxBehavior::default()).await;
    let port = home.addr.port();
    let mut roots = Vec::new();
    let mut trusted = |name: &str| {
        let pki = TestPki::generate(&pki_dir(name), name);
        roots.push(pki.ca_path.clone());
        pki
    };
    // secure.example: a valid certificate and an MTA-STS policy in enforce; it asks for reports.
    let secure_pki = trusted("mx.secure.example");
    let secure =
        FakeMx::start(&format!("{BASE}.10:{port}"), MxBehavior { tls: Some(secure_pki), ..Default::default() }).await;
    dns.mx("secure.example", 10, "mx.secure.example");
    dns.addr("mx.secure.example", &format!("{BASE}.10"));
    let policy_pki = trusted("mta-sts.secure.example");
    let policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.secure.example\r\nmax_age: 86400\r\n";
    let policy_host = FakeHttps::start(&format!("{BASE}.11:0"), &policy_pki, HttpAnswer::policy(policy)).await;
    dns.addr("mta-sts.secure.example", &format!("{BASE}.11"));
    dns.txt("_mta-sts.secure.example", "v=STSv1; id=r1;");
    let rua_pki = trusted("rua.reports.example");
    let rua =
        FakeHttps::start(&format!("{BASE}.13:0"), &rua_pki, HttpAnswer::Reply(201, "text/plain".into(), "".into()))
            .await;
    dns.addr("rua.reports.example", &format!("{BASE}.13"));
    let rua_url = format!("https://rua.reports.example:{}/v1/tlsrpt", rua.addr.port());
    dns.txt("_smtp._tls.secure.example", &format!("v=TLSRPTv1; rua=mailto:tls@reports.example,{rua_url}"));
    // plain.example: no STARTTLS and no reporting record.
    let plain = FakeMx::start(&format!("{BASE}.12:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", &format!("{BASE}.12"));
    // Where report mail for reports.example goes.
    let reports_mx = FakeMx::start(&format!("{BASE}.14:{port}"), MxBehavior::default()).await;
    dns.mx("reports.example", 10, "mx.reports.example");
    dns.addr("mx.reports.example", &format!("{BASE}.14"));

    let (roots2, sts_port) = (roots.clone(), policy_host.addr.port());
    let settings = move |c: &mut sekisho_config::Config| {
        c.tls.extra_roots = roots2;
        c.mta_sts.port = sts_port;
    };
    let s = TestServer::start_delivering(&dns, port, settings.clone()).await;
    for (i, rcpt) in ["a@secure.example", "b@secure.example", "c@secure.example", "a@plain.example", "b@plain.example"]
        .iter()
        .enumerate()
    {
        let id = s.submit("alice@example.jp", &[rcpt], &format!("Subject: m{i}\r\n\r\nbody\r\n")).await;
        let d = s.wait_for(&id, 20, |d| d.recipients[0].state == RecipientState::Delivered).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    }
    let secure_sessions = secure.connections() as u64;
    let plain_sessions = plain.connections() as u64;
    assert!(secure_sessions >= 1 && plain_sessions >= 1);
    // Another domain on the same MX host: a session reused from the pool counts for it too,
    // once, under its own policy (none).
    dns.mx("shared.example", 10, "mx.secure.example");
    let id = s.submit("alice@example.jp", &["z@shared.example"], "Subject: shared\r\n\r\nbody\r\n").await;
    let d = s.wait_for(&id, 20, |d| d.recipients[0].state == RecipientState::Delivered).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    // Stopping writes what delivery counted.
    let dir = s.stop().await;
    let data = dir.path().join("data");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let config = dir.path().join("cli.toml");
    let roots_toml: Vec<String> = roots.iter().map(|r| format!("\"{}\"", r.display())).collect();
    std::fs::write(
        &config,
        format!(
            "hostname = \"gw.sekisho.test\"\n[store]\npath = \"{}\"\n[dns]\nservers = [\"{}\"]\n\
             [tls]\nextra_roots = [{}]\n[reports]\norganization = \"Example Corp\"\n\
             contact = \"mailto:postmaster@example.jp\"\n",
            data.display(),
            dns.addr,
            roots_toml.join(", ")
        ),
    )
    .unwrap();

    let (code, out, err) = cli(&config, &["tlsrpt", "preview", "secure.example"]).await;
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let expected = serde_json::json!({
        "organization-name": "Example Corp",
        "date-range": {"start-datetime": format!("{today}T00:00:00Z"), "end-datetime": format!("{today}T23:59:59Z")},
        "contact-info": "mailto:postmaster@example.jp",
        "report-id": format!("{today}T00:00:00Z_secure.example@gw.sekisho.test"),
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.secure.example", "max_age: 86400"],
                "policy-domain": "secure.example",
                "mx-host": ["mx.secure.example"]
            },
            "summary": {"total-successful-session-count": secure_sessions, "total-failure-session-count": 0}
        }]
    });
    assert_eq!(report, expected, "{out}");
    assert_eq!(schema_problem(&out), None);

    let (code, out, err) = cli(&config, &["tlsrpt", "preview", "shared.example"]).await;
    assert_eq!(code, 0, "{err}");
    let shared: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shared["policies"][0]["policy"]["policy-type"], "no-policy-found", "{out}");
    assert_eq!(shared["policies"][0]["summary"]["total-successful-session-count"], 1, "{out}");

    let (code, out, err) = cli(&config, &["tlsrpt", "preview", "plain.example", "--date", &today]).await;
    assert_eq!(code, 0, "{err}");
    let plain_report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        plain_report["policies"],
        serde_json::json!([{
            "policy": {"policy-type": "no-policy-found", "policy-domain": "plain.example"},
            "summary": {"total-successful-session-count": 0, "total-failure-session-count": plain_sessions},
            "failure-details": [{
                "result-type": "starttls-not-supported",
                "receiving-mx-hostname": "mx.plain.example",
                "receiving-ip": format!("{BASE}.12"),
                "failed-session-count": plain_sessions,
                "failure-reason-code": "the server did not offer STARTTLS"
            }]
        }]),
        "{out}"
    );
    assert_eq!(schema_problem(&out), None);
    let (code, _, err) = cli(&config, &["tlsrpt", "preview", "other.example"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no session with other.example was counted on"), "{err}");

    // Sending: both destinations of secure.example; plain.example asks for nothing.
    let (code, out, err) = cli(&config, &["tlsrpt", "send", "--now", "--date", &today, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
    let domains = sent["domains"].as_array().unwrap();
    let plain_row = domains.iter().find(|d| d["domain"] == "plain.example").unwrap();
    assert_eq!(plain_row["not_wanted"], "no TLSRPTv1 record", "{out}");
    let secure_row = domains.iter().find(|d| d["domain"] == "secure.example").unwrap();
    let statuses: Vec<(&str, &str)> = secure_row["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["destination"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses.len(), 2, "{out}");
    assert!(statuses.contains(&(rua_url.as_str(), "posted")), "{out}");
    assert!(statuses.iter().any(|(d, s)| *d == "mailto:tls@reports.example" && s.starts_with("queued as ")), "{out}");

    // The upload: gzip JSON with the RFC's media type, the same report.
    let posted = rua.received();
    assert_eq!(posted.len(), 1);
    assert!(posted[0].head.starts_with("POST /v1/tlsrpt HTTP/1.1\r\n"), "{}", posted[0].head);
    assert!(posted[0].head.to_ascii_lowercase().contains("content-type: application/tlsrpt+gzip"));
    let uploaded: serde_json::Value = serde_json::from_slice(&gunzip(&posted[0].body)).unwrap();
    assert_eq!(uploaded, expected);
    mail_auth::report::tlsrpt::TlsReport::parse_json(&gunzip(&posted[0].body)).expect("mail-auth reads the upload");

    // The mail: delivered by the queue once the gateway runs again, read by mail-auth's parser.
    let s = TestServer::restart_delivering(dir, &dns, port, settings).await;
    let mails = reports_mx.wait_for(1, 20).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to, ["tls@reports.example"]);
    let parsed = mail_auth::report::tlsrpt::TlsReport::parse_rfc5322(&mails[0].data, 1 << 20)
        .expect("mail-auth reads the report mail");
    assert_eq!(parsed.report_id, format!("{today}T00:00:00Z_secure.example@gw.sekisho.test"));
    assert_eq!(parsed.policies.len(), 1);
    assert_eq!(parsed.policies[0].summary.total_success as u64, secure_sessions);
    let text = String::from_utf8_lossy(&mails[0].data);
    assert!(text.contains("Subject: Report Domain: secure.example Submitter: gw.sekisho.test Report-ID: <"), "{text}");
    assert!(text.contains("TLS-Report-Domain: secure.example\r\n"));
    let dir = s.stop().await;

    // Once per destination: a second run sends nothing new.
    let (code, out, err) = cli(&config, &["tlsrpt", "send", "--now", "--date", &today]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("secure.example: sent before"), "{out}");
    assert_eq!(rua.received().len(), 1);
    drop((dir, home));
}
