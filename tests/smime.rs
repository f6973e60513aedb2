//! S/MIME at the gateway, end to end. Outbound: every variant a recipient receives (inline,
//! the ZIP variant, the link notice; 8-bit text) leaves as `multipart/signed` that Debian's
//! `openssl smime -verify` and `openssl cms -verify` accept, DKIM-signed over the signed bytes,
//! and the trace says who signed. Inbound: mail signed by `openssl smime -sign` (detached and
//! opaque) gets `smime-valid`; a tampered body, an expired certificate, a wrong From and an
//! untrusted root get `smime-invalid` with the reason, in the banner, `queue show` and the
//! Authentication-Results field. `sekisho smime import` takes a PKCS#12 file from
//! `openssl pkcs12 -export`. The test CA, intermediate and user certificates are made with the
//! openssl binary (`sekisho_smime::openssl_pki`).

mod support;

use sekisho_config::Config;
use sekisho_policy::sender::FindingKind;
use sekisho_smime::openssl_pki::Pki;
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::mail::{Names, done, message_with_files, random_bytes};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestPki, TestServer, queue_id};

fn smime_signer(pki: &Pki, senders: &[&str]) -> sekisho_config::SmimeSigner {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(pki.path("alice.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    sekisho_config::SmimeSigner {
        senders: senders.iter().map(|s| s.to_string()).collect(),
        certificate: pki.path("alice.chain.pem"),
        key: pki.path("alice.key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outbound_variant_is_smime_signed_before_dkim_and_openssl_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    pki.user("alice", "alice@example.jp", 30);
    let dns = FakeDns::start("127.0.8.53").await;
    let first = FakeMx::start("127.0.8.2:0", MxBehavior::default()).await;
    let port = first.addr.port();
    let good = TestPki::generate(&dir.path().join("tls"), "mx.tls.example");
    let tls_mx =
        FakeMx::start(&format!("127.0.8.3:{port}"), MxBehavior { tls: Some(good.clone()), ..Default::default() }).await;
    let zip_mx =
        FakeMx::start(&format!("127.0.8.4:{port}"), MxBehavior { tls: Some(good.clone()), ..Default::default() }).await;
    drop(first);
    let plain_mx = FakeMx::start(&format!("127.0.8.2:{port}"), MxBehavior::default()).await;
    for (domain, ip) in [("plain.example", "127.0.8.2"), ("tls.example", "127.0.8.3"), ("zip.example", "127.0.8.4")] {
        dns.mx(domain, 10, &format!("mx.{domain}"));
        dns.addr(&format!("mx.{domain}"), ip);
    }
    let dkim_key = sekisho_auth::dkim_key::generate(sekisho_auth::dkim_key::DkimAlgorithm::Ed25519Sha256).unwrap();
    let key_path = dir.path().join("ed1.key");
    sekisho_auth::dkim_key::write_key(&key_path, &dkim_key.pem).unwrap();
    let roots = vec![good.ca_path.clone()];
    let signer = smime_signer(&pki, &["example.jp"]);
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
            selectors: vec!["ed1".into()],
            keys: [("ed1".to_string(), key_path)].into(),
        });
        c.smime.sign.push(signer);
        // The test submits from a trusted network, without authenticating.
        c.smime.sign_trusted_networks = true;
    })
    .await;

    let files: [(&str, &[u8]); 1] = [("見積書.pdf", &random_bytes(20_000))];
    let to = ["carol@tls.example", "zoe@zip.example", "bob@plain.example"];
    let id = s.submit("alice@example.jp", &to, &message_with_files("several", &files, Names::Quoted)).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);
    for (mx, what) in [(&tls_mx, "inline"), (&zip_mx, "zip"), (&plain_mx, "link notice")] {
        let got = mx.wait_for(1, 5).await;
        let data = &got.last().unwrap().data;
        let text = String::from_utf8_lossy(data);
        assert!(text.starts_with("DKIM-Signature: "), "{what}: DKIM signs the final bytes, in front:\n{text}");
        assert!(
            text.contains("Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;"),
            "{what}:\n{text}"
        );
        let (ok, err) = pki.openssl_verify(data);
        assert!(ok, "{what}: openssl smime -verify: {err}\n{text}");
        let (ok, err) = pki.openssl_cms_verify(data);
        assert!(ok, "{what}: openssl cms -verify: {err}");
        match what {
            "zip" => assert!(text.contains("application/zip"), "the ZIP variant is what was signed"),
            "link notice" => assert!(!text.contains("見積書.pdf\"\r\nContent-Transfer-Encoding: base64")),
            _ => {}
        }
    }
    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(full.attempts.len(), 3);
    for a in &full.attempts {
        assert_eq!(a.attempt.smime.as_deref(), Some("signed: S/MIME by CN=alice <alice@example.jp>, sha-256"));
    }

    // 8-bit text is re-encoded before signing; the signature holds.
    let m = "From: Alice <alice@example.jp>\r\nTo: carol@tls.example\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nこんにちは、請求書です。\r\n";
    let id = s.submit("alice@example.jp", &["carol@tls.example"], m).await;
    s.wait_for(&id, 30, done).await;
    let got = tls_mx.wait_for(2, 5).await;
    let data = &got.last().unwrap().data;
    let (ok, err) = pki.openssl_verify(data);
    assert!(ok, "8-bit: {err}\n{}", String::from_utf8_lossy(data));

    // Mail from a sender without a certificate leaves unsigned, and the trace says why.
    let m = "From: bob@example.jp\r\nTo: carol@tls.example\r\nSubject: not mine\r\n\r\nhello\r\n";
    let id = s.submit("bob@example.jp", &["carol@tls.example"], m).await;
    s.wait_for(&id, 30, done).await;
    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(
        full.attempts[0].attempt.smime.as_deref(),
        Some("not signed: the certificate CN=alice is for alice@example.jp, not bob@example.jp")
    );
}

/// The internal mail server behind the gateway, and the gateway verifying S/MIME against the
/// pki's root.
struct Site {
    internal: FakeMx,
    gw: TestServer,
    _dns: FakeDns,
    dir: tempfile::TempDir,
}

impl Site {
    async fn start(pki: &Pki) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let dns = FakeDns::start("127.0.8.90").await;
        let internal = FakeMx::start("127.0.0.97:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.97]:{}", internal.addr.port());
        let root = pki.path("root.pem");
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c: &mut Config| {
            c.delivery.next_hop = Some(hop);
            c.smime.roots = vec![root];
            // The Authentication-Results field is sekisho's authentication's (off in the kit).
            c.authentication.enabled = true;
            // Without an antivirus, inbound inspection would classify smime.p7s Error and
            // separate it (a link instead of the part), so the internal server's copy could not
            // be verified again; with clamd it is Safe and stays.
            c.inbound.inspect = false;
        })
        .await;
        Site { internal, gw, _dns: dns, dir }
    }

    /// Sends `message` from the internet to bob@example.jp and returns its record and the copy
    /// the internal server got.
    async fn delivered(&self, message: &[u8]) -> (MessageDetail, String) {
        let before = self.internal.received().len();
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        let r = c.send_mail("alice@partner.example", &["bob@example.jp"], &String::from_utf8_lossy(message)).await;
        assert_eq!(r.code, 250, "{r:?}");
        let id = queue_id(&r).unwrap();
        let d = self.gw.wait_for(&id, 15, done).await;
        assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{d:#?}");
        let got = self.internal.wait_for(before + 1, 5).await;
        (d, String::from_utf8_lossy(&got[before].data).into_owned())
    }

    /// `sekisho queue show ID` on the gateway's data.
    async fn queue_show(&self, id: &str) -> String {
        let config = self.dir.path().join("cli.toml");
        let text = format!(
            "hostname = \"gw.sekisho.test\"\nlocal_domains = [\"example.jp\"]\n[store]\npath = \"{}\"\nmin_free_space = 0\n",
            self.gw.config.store.path.display()
        );
        std::fs::write(&config, text).unwrap();
        let id = id.to_string();
        let (code, stdout, stderr) =
            tokio::task::spawn_blocking(move || support::run(Some(&config), &["queue", "show", &id], ""))
                .await
                .unwrap();
        assert_eq!(code, 0, "{stderr}");
        stdout
    }
}

fn smime_findings(d: &MessageDetail) -> Vec<(FindingKind, String)> {
    d.info
        .sender_record
        .as_ref()
        .expect("a sender record")
        .findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::SmimeValid | FindingKind::SmimeInvalid))
        .map(|f| (f.kind, f.detail.clone()))
        .collect()
}

/// `content` signed by `signer` with openssl and `extra`, under a header From `from`.
fn openssl_mail(pki: &Pki, signer: &str, from: &str, content: &str, extra: &[&str]) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: bob@example.jp\r\nSubject: signed\r\nMessage-ID: <{}@partner.example>\r\n",
        rand_id()
    )
    .into_bytes();
    m.extend(pki.openssl_sign(signer, content.as_bytes(), extra));
    support_crlf(&m)
}

fn rand_id() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// openssl writes LF line endings for its own MIME lines: SMTP carries CRLF.
fn support_crlf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 64);
    for (i, &b) in m.iter().enumerate() {
        if b == b'\n' && (i == 0 || m[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_signed_inbound_mail_is_verified_and_each_failure_says_why() {
    let pki = Pki::new();
    pki.user("alice", "alice@partner.example", 30);
    pki.user("old", "old@partner.example", -1);
    let other = Pki::new();
    other.user("mallory", "alice@partner.example", 30);
    let site = Site::start(&pki).await;
    let content =
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay invoice 2026-12 to the usual account.\r\n";
    let chain = ["-certfile", "inter.pem"];

    // Detached and opaque, the chain in the message: valid.
    for extra in [&chain[..], &["-certfile", "inter.pem", "-nodetach"][..]] {
        let (d, got) =
            site.delivered(&openssl_mail(&pki, "alice", "Alice <alice@partner.example>", content, extra)).await;
        assert_eq!(
            smime_findings(&d),
            [(FindingKind::SmimeValid, "alice@partner.example (CN=alice, issued by CN=Test Intermediate)".to_string())],
            "{extra:?}"
        );
        assert!(got.contains("\tsmime=pass body.smime-identifier=alice@partner.example\r\n"), "{got}");
        if extra.len() == 2 {
            // The internal server's copy still verifies: the gateway left the signed part alone.
            let (ok, err) = pki.openssl_verify(got.as_bytes());
            assert!(ok, "{err}\n{got}");
        }
    }

    // A body changed on the way.
    let signed = String::from_utf8(openssl_mail(&pki, "alice", "alice@partner.example", content, &chain)).unwrap();
    let tampered = signed.replace("the usual account", "account 987-654");
    let (d, got) = site.delivered(tampered.as_bytes()).await;
    let reason = "the message was changed after it was signed (the digest differs)";
    assert_eq!(smime_findings(&d), [(FindingKind::SmimeInvalid, reason.to_string())]);
    assert!(got.contains("\tsmime=fail (the message was changed after it was signed the digest differs)"), "{got}");
    // The finding is named in the internal copy's field; the banner is left out of signed
    // text (it would break the signature), and the sentences are on the recipient's page.
    assert!(
        got.contains("X-Sekisho-Sender-Findings: smime-invalid, first-contact; no banner: the text is signed\r\n"),
        "{got}"
    );
    let finding = &d.info.sender_record.as_ref().unwrap().findings[0];
    assert_eq!(finding.sentence, format!("The message's S/MIME signature is not valid: {reason}."));
    assert_eq!(finding.sentence_ja, "S/MIME署名が無効です: 署名の後でメールが改変されています（ダイジェスト不一致）。");
    let shown = site.queue_show(&d.info.id).await;
    assert!(shown.contains(reason), "{shown}");

    // An expired certificate, a signer who is not the From, a chain to another root, no
    // certificate in the message.
    let cases: [(Vec<u8>, &str); 4] = [
        (openssl_mail(&pki, "old", "old@partner.example", content, &chain), "the certificate CN=old expired on"),
        (
            openssl_mail(&pki, "alice", "CEO <ceo@partner.example>", content, &chain),
            "the signer's address (alice@partner.example) is not the From address (ceo@partner.example)",
        ),
        (
            openssl_mail(&other, "mallory", "alice@partner.example", content, &chain),
            "the certificate chain does not lead to a trusted root (it stops at CN=Test Root)",
        ),
        (
            openssl_mail(&pki, "alice", "alice@partner.example", content, &["-nocerts"]),
            "the signer's certificate is not in the message",
        ),
    ];
    for (message, reason) in cases {
        let (d, got) = site.delivered(&message).await;
        let found = smime_findings(&d);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, FindingKind::SmimeInvalid);
        assert!(found[0].1.starts_with(reason), "{found:?} should start with {reason}");
        assert!(got.contains("\tsmime=fail ("), "{got}");
    }

    // Unsigned mail gets no S/MIME finding.
    let (d, got) =
        site.delivered(b"From: alice@partner.example\r\nTo: bob@example.jp\r\nSubject: plain\r\n\r\nhello\r\n").await;
    assert_eq!(smime_findings(&d), []);
    assert!(!got.contains("smime="), "{got}");
}

#[tokio::test]
async fn a_pkcs12_file_from_openssl_imports_with_the_key_private_and_the_printed_table_loads() {
    let pki = Pki::new();
    pki.user("alice", "alice@example.jp", 30);
    let p12 = pki.pkcs12("alice", "p12 secret");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = dir.path().join("sekisho.toml");
    let base = format!("hostname = \"gw.sekisho.test\"\n[store]\npath = \"{}\"\n", data.display());
    std::fs::write(&config, &base).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let right = dir.path().join("right");
    std::fs::write(&right, "p12 secret\n").unwrap();
    let p12s = p12.display().to_string();
    let args = |pw: &std::path::Path| {
        vec![
            "smime".to_string(),
            "import".into(),
            p12s.clone(),
            "--for".into(),
            "alice@example.jp".into(),
            "--password-file".into(),
            pw.display().to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::run(Some(&config), &args, "")
    };
    let (code, _, stderr) = run(args(&wrong));
    assert_eq!(code, 1);
    assert!(stderr.contains("wrong password for the PKCS#12 file"), "{stderr}");

    let (code, stdout, stderr) = run(args(&right));
    assert_eq!(code, 0, "{stderr}");
    let key = data.join("smime/alice@example.jp/key.pem");
    let chain = data.join("smime/alice@example.jp/chain.pem");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(stdout.contains("Imported CN=alice (alice@example.jp) with 2 certificate(s)."), "{stdout}");
    let table = &stdout[stdout.find("[[smime.sign]]").expect("the table")..];
    assert!(table.contains("senders = [\"alice@example.jp\"]"), "{table}");
    assert!(table.contains(&format!("key = \"{}\"", key.display())), "{table}");
    // The printed lines, added as they are, load and sign.
    let whole = format!("{base}{table}");
    let parsed = Config::parse(&whole, &config).unwrap();
    assert_eq!(parsed.smime.sign[0].certificate, chain);
    let signer =
        sekisho_smime::Signer::from_pem(&std::fs::read(&chain).unwrap(), &std::fs::read(&key).unwrap()).unwrap();
    let signed = sekisho_smime::sign_message(&signer, b"From: alice@example.jp\r\n\r\nhi\r\n", 1_800_000_000).unwrap();
    assert!(String::from_utf8_lossy(&signed).contains("multipart/signed"));
    // Importing again does not overwrite.
    let (code, _, stderr) = run(args(&right));
    assert_eq!(code, 1);
    assert!(stderr.contains("exists; move it away to import again"), "{stderr}");
}

#[test]
fn bad_smime_material_is_a_configuration_error_naming_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = Pki::new();
    pki.user("alice", "alice@example.jp", 30);
    pki.user("bob", "bob@example.jp", 30);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(pki.path("alice.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(pki.path("bob.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let not_pem = dir.path().join("roots.pem");
    std::fs::write(&not_pem, "no certificates here\n").unwrap();
    let sign = |cert: &str, key: &str| {
        format!(
            "[[smime.sign]]\nsenders = [\"example.jp\"]\ncertificate = \"{}\"\nkey = \"{}\"\n",
            pki.path(cert).display(),
            pki.path(key).display()
        )
    };
    let cases = [
        (
            "roots",
            format!("[smime]\nroots = [\"{}\"]\n", not_pem.display()),
            "smime.roots",
            "holds no CERTIFICATE block",
        ),
        ("mismatch", sign("alice.chain.pem", "bob.key"), "smime.sign.0.key", ""),
        (
            "exposed",
            sign("bob.chain.pem", "bob.key"),
            "smime.sign.0.key",
            "is readable by others (mode 644); chmod 600 it",
        ),
        ("no chain", sign("alice.key", "alice.key"), "smime.sign.0.certificate", ""),
    ];
    std::fs::set_permissions(pki.path("bob.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    for (name, extra, key, says) in cases {
        if name == "exposed" {
            std::fs::set_permissions(pki.path("bob.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let sub = dir.path().join(name.replace(' ', "-"));
        std::fs::create_dir_all(&sub).unwrap();
        let config = support::write_config(
            &sub,
            support::own_address(2525),
            &format!("[delivery]\nrelay_host = \"[127.0.0.1]:9\"\n{extra}"),
        );
        let (code, out, err) = support::run(None, &["config", "check", config.to_str().unwrap()], "");
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(&format!("{key}: ")), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        if name == "mismatch" {
            assert!(err.contains("the private key does not match the certificate CN=alice"), "{err}");
        }
    }
    let good = support::write_config(
        &dir.path().join("good"),
        support::own_address(2525),
        &format!("[delivery]\nrelay_host = \"[127.0.0.1]:9\"\n{}", sign("alice.chain.pem", "alice.key")),
    );
    let (code, out, err) = support::run(None, &["config", "check", good.to_str().unwrap()], "");
    assert_eq!(code, 0, "{out}{err}");
}
