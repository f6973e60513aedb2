//! The partner TLS report (`sekisho partners`): deliveries to a partner without STARTTLS and to
//! one with an expired certificate, from the test kit's TLS kit, come back as those partners
//! with the right reasons and counts, in words and in JSON; `partners explain` writes the text
//! for the postmaster with the public checker's address.

mod support;

use std::path::PathBuf;

use base64::Engine as _;
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

const BASE: &str = "127.0.93";

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-partners-{name}-{}-{nanos}", std::process::id()))
}

fn delivered(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| r.state == RecipientState::Delivered)
}

fn with_file(n: usize) -> String {
    let file = base64::engine::general_purpose::STANDARD.encode(format!("quote {n}\n"));
    format!(
        "From: alice@example.jp\r\nSubject: quote {n}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         attached\r\n--b\r\nContent-Type: text/plain; name=\"q{n}.txt\"\r\n\
         Content-Disposition: attachment; filename=\"q{n}.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {file}\r\n--b--\r\n"
    )
}

async fn cli(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let (config, args) = (config.to_path_buf(), args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::run(Some(&config), &args, "")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_partner_without_starttls_and_one_with_an_expired_certificate_are_listed_with_their_reasons() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start(&format!("{BASE}.1:0"), MxBehavior::default()).await;
    let port = home.addr.port();
    let notls = FakeMx::start(&format!("{BASE}.10:{port}"), MxBehavior::default()).await;
    dns.mx("notls.example", 10, "mx.notls.example");
    dns.addr("mx.notls.example", &format!("{BASE}.10"));
    let expired = TestPki::generate_expired(&pki_dir("expired"), "mx.expired.example");
    let good = TestPki::generate(&pki_dir("good"), "mx.good.example");
    let roots = vec![expired.ca_path.clone(), good.ca_path.clone()];
    let old =
        FakeMx::start(&format!("{BASE}.11:{port}"), MxBehavior { tls: Some(expired), ..Default::default() }).await;
    dns.mx("expired.example", 10, "mx.expired.example");
    dns.addr("mx.expired.example", &format!("{BASE}.11"));
    let fine = FakeMx::start(&format!("{BASE}.12:{port}"), MxBehavior { tls: Some(good), ..Default::default() }).await;
    dns.mx("good.example", 10, "mx.good.example");
    dns.addr("mx.good.example", &format!("{BASE}.12"));
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        // Attachments inline only over a certificate valid for the MX name.
        c.outbound.attachments_inline_min = sekisho_policy::InlineMin::Authenticated;
        c.portal.url = "https://portal.example.jp".into();
        c.portal.administrators = vec!["postmaster@example.jp".into()];
    })
    .await;
    let sends = [
        ("a@notls.example", with_file(1)),
        ("b@notls.example", with_file(2)),
        ("c@notls.example", "From: alice@example.jp\r\nSubject: hi\r\n\r\nno files\r\n".to_string()),
        ("a@expired.example", with_file(3)),
        ("a@good.example", with_file(4)),
    ];
    for (rcpt, content) in &sends {
        let id = s.submit("alice@example.jp", &[rcpt], content).await;
        let d = s.wait_for(&id, 20, delivered).await;
        assert!(delivered(&d), "{rcpt}: {d:#?}");
    }
    assert_eq!((notls.received().len(), old.received().len(), fine.received().len()), (3, 1, 1));

    let config = s.dir().join("partners.toml");
    std::fs::write(
        &config,
        format!(
            "local_domains = [\"example.jp\"]\n[store]\npath = \"{}\"\n[portal]\nurl = \"https://portal.example.jp\"\n\
             [reports]\norganization = \"Example Corp\"\ncontact = \"mailto:postmaster@example.jp\"\n",
            s.config.store.path.display()
        ),
    )
    .unwrap();

    let (code, out, err) = cli(&config, &["partners", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let partners = v["partners"].as_array().unwrap();
    let names: Vec<&str> = partners.iter().map(|p| p["domain"].as_str().unwrap()).collect();
    assert_eq!(names, ["notls.example", "expired.example"], "good.example met the policy: {out}");
    let n = &partners[0];
    assert_eq!((n["attempts"].as_u64(), n["links"].as_u64(), n["without_files"].as_u64()), (Some(3), Some(2), Some(1)));
    assert_eq!(n["reasons"][0]["reason"], "starttls-not-supported", "{out}");
    assert_eq!((n["reasons"][0]["attempts"].as_u64(), n["reasons"][0]["links"].as_u64()), (Some(3), Some(2)));
    assert_eq!(n["trend"], "new", "all in the second half of the window: {out}");
    let e = &partners[1];
    assert_eq!((e["attempts"].as_u64(), e["links"].as_u64(), e["inline"].as_u64()), (Some(1), Some(1), Some(0)));
    assert_eq!(e["reasons"][0]["reason"], "certificate-expired", "{out}");
    assert_eq!(e["reasons"].as_array().unwrap().len(), 1);

    let (code, out, err) = cli(&config, &["partners"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("notls.example: 3 attempts: 0 inline, 2 as links, 1 without files, 0 held back; since "),
        "{out}"
    );
    assert!(out.contains("    starttls-not-supported (no STARTTLS): 3 attempts, 2 links, "), "{out}");
    assert!(out.contains("expired.example: 1 attempts: 0 inline, 1 as links"), "{out}");
    assert!(out.contains("    certificate-expired (expired certificate): 1 attempts, 1 links, "), "{out}");
    assert!(!out.contains("good.example"), "{out}");

    let (code, out, err) = cli(&config, &["partners", "explain", "expired.example", "--lang", "ja"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("件名: Example Corp から expired.example 宛てのメールの暗号化について"), "{out}");
    assert!(out.contains("証明書の有効期限切れ（1 件"), "{out}");
    assert!(out.contains("https://portal.example.jp/check?domain=expired.example"), "{out}");
    let (code, out, _) = cli(&config, &["partners", "explain", "notls.example"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("How to fix it: enable STARTTLS on every MX host"), "{out}");
    let (code, _, err) = cli(&config, &["partners", "explain", "good.example"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no mail to good.example fell short of the policy"), "{err}");
    assert!(home.received().is_empty(), "nothing was sent to anyone: the text is for the administrator");

    // The same report on the administrators' page; the explanation goes out only on a click.
    use sekisho_testkit::console::{get, http, sign_in};
    s.add_user("postmaster@example.jp", "admin password").await;
    s.add_user("alice@example.jp", "alice password").await;
    let (http, base) = (http(), format!("http://{}", s.portal.unwrap()));
    let alice = sign_in(&http, &base, "alice@example.jp", "alice password").await;
    assert_eq!(get(&http, format!("{base}/sent/partners"), Some(&alice)).await.0, 403, "administrators only");
    let admin = sign_in(&http, &base, "postmaster@example.jp", "admin password").await;
    let (status, page) = get(&http, format!("{base}/sent/partners"), Some(&admin)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("data-domain=\"notls.example\"") && page.contains("data-domain=\"expired.example\""),
        "{page}"
    );
    assert!(!page.contains("good.example"), "{page}");
    assert!(page.contains("no STARTTLS (3)") && page.contains("expired certificate (1)"), "{page}");
    let (status, page) = get(&http, format!("{base}/sent/partners/expired.example"), Some(&admin)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("https://portal.example.jp/check?domain=expired.example"), "{page}");
    assert!(page.contains("id=\"send-en\"") && page.contains("id=\"send-ja\""), "{page}");
    assert_eq!(get(&http, format!("{base}/sent/partners/good.example"), Some(&admin)).await.0, 404);
    assert_eq!(old.received().len(), 1, "nothing sent by looking");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[at..at + page[at..].find('"').unwrap()];
    let r = http
        .post(format!("{base}/sent/partners/expired.example"))
        .header("cookie", &admin)
        .header("accept-language", "en")
        .form(&[("csrf", csrf), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("The explanation is queued for postmaster@expired.example"));
    let got = old.wait_for(2, 20).await;
    assert_eq!(got[1].rcpt_to, ["postmaster@expired.example"]);
    let mail = mail_parser::MessageParser::default().parse(&got[1].data).expect("a message");
    assert_eq!(mail.subject(), Some("TLS for mail to expired.example"));
    let body = mail.body_text(0).unwrap_or_default();
    assert!(body.contains("https://portal.example.jp/check?domain=expired.example"), "{body}");
}
