//! Reports other organisations send about ours: mail from the internet to a `[reports]
//! receive` address is read and kept (google.com's DMARC report, RFC 8460's TLS report), never
//! passed to the internal server; a second copy of a report is kept once; mail there that is
//! no report is dropped with the reason in its trace; `sekisho reports` lists them per
//! organisation, failures first.

mod support;

use std::path::{Path, PathBuf};

use sekisho_store::RecipientState;
use sekisho_testkit::console::{get, http, sign_in};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

const REPORTS: &str = "dmarc-reports@example.jp";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/auth/tests/fixtures/reports").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

async fn send(gw: &TestServer, to: &str, message: &str) -> String {
    let (mut c, _) = Client::connect(gw.mx).await;
    c.cmd("EHLO reporter.example").await;
    let r = c.send_mail("noreply@reporter.example", &[to], message).await;
    assert_eq!(r.code, 250, "{r:?}");
    queue_id(&r).unwrap()
}

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    support::run(Some(config), args, "")
}

#[tokio::test]
async fn reports_sent_to_the_report_address_are_kept_and_listed_failures_first() {
    let dns = FakeDns::start("127.0.0.53").await;
    let internal = FakeMx::start("127.0.42.1:0", MxBehavior::default()).await;
    let hop = format!("[127.0.42.1]:{}", internal.addr.port());
    let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
        c.delivery.next_hop = Some(hop);
        c.reports.receive = vec![REPORTS.into()];
        c.portal.administrators = vec!["postmaster@example.jp".into()];
    })
    .await;
    gw.add_user("postmaster@example.jp", "admin password").await;
    gw.add_user("alice@example.jp", "alice password").await;

    let google = send(&gw, REPORTS, &fixture("dmarc-google.eml")).await;
    let outlook = send(&gw, REPORTS, &fixture("dmarc-103.eml")).await;
    let tls = send(&gw, REPORTS, &fixture("tlsrpt-rfc8460.eml")).await;
    let again = send(&gw, REPORTS, &fixture("tlsrpt-rfc8460.eml")).await;
    let junk = send(&gw, REPORTS, "From: x@reporter.example\r\nSubject: hello\r\n\r\nno report\r\n").await;
    let normal = send(&gw, "bob@example.jp", "From: x@reporter.example\r\nSubject: for bob\r\n\r\nhi\r\n").await;

    for id in [&google, &outlook, &tls, &again, &junk, &normal] {
        let d = gw.wait_for(id, 20, |d| d.recipients[0].state == RecipientState::Delivered).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    }
    async fn reply(gw: &TestServer, id: &str) -> String {
        let d = gw.queue.stores().messages.message(id).await.unwrap().unwrap();
        d.attempts.last().map(|a| a.attempt.reply.clone()).unwrap_or_default()
    }
    assert_eq!(
        reply(&gw, &tls).await,
        "kept: tls report 5065427c-23d3-47ca-b6e0-946ea0e8c4be from Company-X about company-y.example"
    );
    assert!(reply(&gw, &again).await.starts_with("kept before: tls report"), "{}", reply(&gw, &again).await);
    assert_eq!(reply(&gw, &junk).await, "dropped: the message carries no TLS or DMARC report");
    let passed = internal.wait_for(1, 10).await;
    assert_eq!(passed.len(), 1, "only bob's mail reaches the internal server");
    assert_eq!(passed[0].rcpt_to, ["bob@example.jp"]);

    // The administrators' page shows them, failures first; a sender gets 403.
    let (http, base) = (http(), format!("http://{}", gw.portal.unwrap()));
    let alice = sign_in(&http, &base, "alice@example.jp", "alice password").await;
    let (status, page) = get(&http, format!("{base}/sent/reports"), Some(&alice)).await;
    assert_eq!(status, 403, "{page}");
    assert!(!page.contains("Company-X"));
    let admin = sign_in(&http, &base, "postmaster@example.jp", "admin password").await;
    let (status, page) = get(&http, format!("{base}/sent/reports"), Some(&admin)).await;
    assert_eq!(status, 200, "{page}");
    let (company, outlook, google) =
        (page.find("Company-X").unwrap(), page.find("Outlook.com").unwrap(), page.find("google.com").unwrap());
    assert!(company.max(outlook) < google, "reports with failures first: {page}");
    assert!(page.contains("50.223.129.194: 1 message(s) failed DMARC (dkim fail, spf fail), delivered"), "{page}");

    let dir = gw.stop().await;
    let config = dir.path().join("cli.toml");
    std::fs::write(&config, format!("[store]\npath = \"{}\"\n", dir.path().join("data").display())).unwrap();
    let (code, out, err) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || cli(&config, &["reports", "--json"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let groups: Vec<(String, String, u64, u64, u64)> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["organization"].as_str().unwrap().to_string(),
                g["kind"].as_str().unwrap().to_string(),
                g["reports"].as_u64().unwrap(),
                g["good"].as_u64().unwrap(),
                g["bad"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("Company-X".to_string(), "tls".to_string(), 1, 5326, 303),
            ("Outlook.com".to_string(), "dmarc".to_string(), 1, 0, 1),
            ("google.com".to_string(), "dmarc".to_string(), 1, 1, 0),
        ],
        "{out}"
    );
    let (code, out, _) = tokio::task::spawn_blocking(move || cli(&config, &["reports"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        out.starts_with(
            "Company-X (tls reports) about company-y.example: 1 report(s), 5326 successful sessions, 303 failed"
        ),
        "{out}"
    );
    assert!(out.contains("    starttls-not-supported at mx2.mail.company-y.example (203.0.113.56): 200 session(s)\n"));
    drop((dir, dns));
}
