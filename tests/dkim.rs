//! DKIM signing end to end: what sekisho sends (inline as spooled, the ZIP variant, the link
//! notice; 8-bit text, long lines, an attached message) carries an RSA and an Ed25519
//! signature that dkimpy (Debian's python3-dkim, run by /usr/bin/python3) verifies against the
//! records the fake DNS serves; mail from a domain without a key leaves unsigned and the trace
//! says why. `sekisho dkim keygen`'s record, published as printed, makes `dkim check` pass.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sekisho_auth::dkim_key::{DkimAlgorithm, generate, write_key};
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, done, message_with_files, random_bytes};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

fn temp(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("sekisho-dkim-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Both signatures of `data` verify.
fn both_verify(data: &[u8], records: &BTreeMap<String, String>, dir: &Path, what: &str) {
    let lines = support::dkimpy(data, records, dir, &["a", "s"]);
    assert_eq!(
        lines,
        ["rsa-sha256 rsa1 True", "ed25519-sha256 ed1 True"],
        "{what}:\n{}",
        String::from_utf8_lossy(data)
    );
}

#[tokio::test]
async fn every_variant_sekisho_sends_verifies_with_dkimpy_for_both_algorithms() {
    let dir = temp("variants");
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start("127.0.7.1:0", MxBehavior::default()).await;
    let port = home.addr.port();
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.1");
    let good = TestPki::generate(&dir.join("pki"), "mx.tls.example");
    let mut mxs = Vec::new();
    for (ip, domain, tls) in
        [("127.0.7.2", "tls.example", true), ("127.0.7.3", "zip.example", true), ("127.0.7.4", "plain.example", false)]
    {
        let host = format!("mx.{domain}");
        let tls = tls.then(|| good.clone());
        let rcpt_reply: Box<dyn Fn(&str) -> String + Send + Sync> =
            Box::new(
                |a: &str| {
                    if a.contains("nobody@") { "550 5.1.1 no such user".into() } else { "250 2.1.5 Ok".into() }
                },
            );
        mxs.push(FakeMx::start(&format!("{ip}:{port}"), MxBehavior { tls, rcpt_reply, ..Default::default() }).await);
        dns.addr(&host, ip);
        dns.mx(domain, 10, &host);
    }
    // zip.example's certificate names mx.tls.example: encrypted, and the rule asks for ZIP.
    let mut records = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for (selector, algorithm) in [("rsa1", DkimAlgorithm::RsaSha256), ("ed1", DkimAlgorithm::Ed25519Sha256)] {
        let new = generate(algorithm).unwrap();
        let path = dir.join(format!("{selector}.key"));
        write_key(&path, &new.pem).unwrap();
        keys.insert(selector.to_string(), path);
        let name = format!("{selector}._domainkey.example.jp");
        dns.txt(&name, &new.key.record());
        records.insert(name, new.key.record());
    }
    // sekisho's own mail (From MAILER-DAEMON@gw.sekisho.test) is signed by a domain of its own.
    let own = generate(DkimAlgorithm::Ed25519Sha256).unwrap();
    write_key(&dir.join("gw.key"), &own.pem).unwrap();
    dns.txt("gw._domainkey.sekisho.test", &own.key.record());
    records.insert("gw._domainkey.sekisho.test".into(), own.key.record());
    let own_key = dir.join("gw.key");
    let roots = vec![good.ca_path.clone()];
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.attachments.push(sekisho_config::AttachmentRule {
            domains: vec!["zip.example".into()],
            inline_min: Some(sekisho_config::InlineMin::Encrypted),
            inline_format: Some(sekisho_config::InlineFormat::Zip),
            access: None,
            link_above: None,
        });
        c.dkim.push(sekisho_config::DkimConfig {
            domain: "example.jp".into(),
            sender_domains: vec![],
            selectors: vec!["rsa1".into(), "ed1".into()],
            keys,
        });
        c.dkim.push(sekisho_config::DkimConfig {
            domain: "sekisho.test".into(),
            sender_domains: vec![".sekisho.test".into()],
            selectors: vec!["gw".into()],
            keys: BTreeMap::from([("gw".to_string(), own_key)]),
        });
    })
    .await;

    // One message with files: inline as spooled, the ZIP variant, the link notice.
    let files: [(&str, &[u8]); 1] = [("見積書.pdf", &random_bytes(30_000))];
    let to = ["carol@tls.example", "zoe@zip.example", "bob@plain.example"];
    let id = s.submit("alice@example.jp", &to, &message_with_files("several", &files, Names::Quoted)).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);
    for (mx, what) in mxs.iter().zip(["inline", "zip", "link notice"]) {
        let got = mx.wait_for(1, 5).await;
        let data = &got.last().unwrap().data;
        both_verify(data, &records, &dir, what);
        if what == "zip" {
            assert!(String::from_utf8_lossy(data).contains("application/zip"), "the ZIP variant");
        }
        if what == "link notice" {
            assert!(!String::from_utf8_lossy(data).contains("見積書.pdf\"\r\nContent-Transfer-Encoding: base64"));
        }
    }
    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    for a in &full.attempts {
        assert_eq!(a.attempt.dkim.as_deref(), Some("signed: d=example.jp s=rsa1 rsa-sha256, s=ed1 ed25519-sha256"));
    }

    // 8-bit text, lines near the limit, an attached message, a body ending in blank lines.
    let long = "x".repeat(990);
    let bodies = [
        ("8bit", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nこんにちは、請求書です。\r\n".to_string()),
        ("long lines", format!("Content-Type: text/plain\r\n\r\n{long}\r\n{long} \r\n")),
        ("blank end", "Content-Type: text/plain\r\n\r\ntext  \r\n \r\n\r\n\r\n".to_string()),
        (
            "attached message",
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
             --b\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@other.example\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n"
                .to_string(),
        ),
    ];
    for (n, (what, body)) in bodies.iter().enumerate() {
        let m = format!(
            "From: Alice <alice@example.jp>\r\nTo: carol@tls.example\r\nSubject: {what}\r\nMIME-Version: 1.0\r\n{body}"
        );
        let id = s.submit("alice@example.jp", &["carol@tls.example"], &m).await;
        s.wait_for(&id, 30, done).await;
        let got = mxs[0].wait_for(2 + n, 5).await;
        both_verify(&got.last().unwrap().data, &records, &dir, what);
    }

    // A bounce: the DSN sekisho writes to the sender is signed by sekisho's own domain.
    let m = "From: alice@example.jp\r\nTo: nobody@plain.example\r\nSubject: bounce me\r\n\r\nhello\r\n";
    let id = s.submit("alice@example.jp", &["nobody@plain.example"], m).await;
    s.wait_for(&id, 30, done).await;
    let dsn = home.wait_for(1, 30).await;
    assert!(String::from_utf8_lossy(&dsn[0].data).contains("MAILER-DAEMON@gw.sekisho.test"));
    assert_eq!(support::dkimpy(&dsn[0].data, &records, &dir, &["a", "s"]), ["ed25519-sha256 gw True"], "the DSN");

    // A From domain without a [[dkim]] table: sent unsigned, and the trace says why.
    let m = "From: eve@other.example\r\nTo: carol@tls.example\r\nSubject: unsigned\r\n\r\nhello\r\n";
    let id = s.submit("alice@example.jp", &["carol@tls.example"], m).await;
    let d = s.wait_for(&id, 30, done).await;
    let got = mxs[0].wait_for(2 + bodies.len(), 5).await;
    assert!(!String::from_utf8_lossy(&got.last().unwrap().data).contains("DKIM-Signature"));
    assert_eq!(d.attempts[0].attempt.dkim.as_deref(), Some("not signed: no [[dkim]] signs for other.example"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn keygen_prints_a_record_that_makes_check_pass_and_a_wrong_record_fails() {
    let dir = temp("cli");
    let dns = FakeDns::start("127.0.0.53").await;
    let config = dir.join("sekisho.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[dns]\nservers = [\"{}\"]\n[[dkim]]\ndomain = \"example.jp\"\nselectors = [\"rsa1\", \"ed1\"]\n",
            dir.join("data").display(),
            dns.addr
        ),
    )
    .unwrap();
    let mut printed = Vec::new();
    for (selector, algorithm) in [("rsa1", "rsa-sha256"), ("ed1", "ed25519-sha256")] {
        let (code, out, err) =
            support::run(Some(&config), &["dkim", "keygen", "example.jp", selector, "--algorithm", algorithm], "");
        assert_eq!(code, 0, "{out}{err}");
        let key = dir.join("data/dkim/example.jp").join(format!("{selector}.key"));
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{out}");
        let line = out.lines().find(|l| l.contains(" IN TXT ")).expect("the record").to_string();
        printed.push(line);
    }
    // Not published yet: check fails and says so.
    let (code, out, _) = support::run(Some(&config), &["dkim", "check", "example.jp"], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("rsa1._domainkey.example.jp: not published"), "{out}");
    // Published as printed (the zone line's strings joined, as a resolver does).
    for line in &printed {
        let (name, rest) = line.split_once(". IN TXT ").unwrap();
        let value: String = rest.split('"').skip(1).step_by(2).collect();
        dns.txt(name, &value);
    }
    let (code, out, err) = support::run(Some(&config), &["dkim", "check", "example.jp"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rsa1._domainkey.example.jp: published and matches the key (rsa-sha256)"), "{out}");
    assert!(out.contains("ed1._domainkey.example.jp: published and matches the key (ed25519-sha256)"), "{out}");
    // A record of another key: check fails, and rotation to that selector is refused.
    let other = generate(DkimAlgorithm::Ed25519Sha256).unwrap().key.record();
    dns.remove("ed1._domainkey.example.jp");
    dns.txt("ed1._domainkey.example.jp", &other);
    let (code, out, _) = support::run(Some(&config), &["dkim", "check", "example.jp", "--selector", "ed1"], "");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ed1._domainkey.example.jp: does not match the key"), "{out}");
    let (code, out, _) = support::run(Some(&config), &["dkim", "rotate", "example.jp", "ed1"], "");
    assert_eq!(code, 1, "{out}");
    let (code, out, _) = support::run(Some(&config), &["dkim", "rotate", "example.jp", "rsa1"], "");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("replace the old selector by rsa1"), "{out}");
    // keygen never overwrites a key.
    let (code, _, err) = support::run(Some(&config), &["dkim", "keygen", "example.jp", "rsa1"], "");
    assert_eq!(code, 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
