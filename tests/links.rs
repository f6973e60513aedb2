//! The end of PPAP, end to end over loopback: one message with two attachments to a recipient
//! whose MX speaks authenticated TLS, one whose MX offers no STARTTLS, and one whose MX just
//! had STARTTLS stripped. The first gets the message byte for byte; the others get the
//! download notice, whose link a real HTTP client follows through the one-time-code flow (the
//! code captured at the fake MX) to files whose SHA-256 matches what was sent.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use sekisho_store::RecipientState;
use sekisho_testkit::mail::{
    Names, code_in, done, link_in, message_with_files, notice_text, own_mail_text, random_bytes, sha256, wrapped,
};
use sekisho_testkit::{Browser, FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-links-{name}-{}-{nanos}", std::process::id()))
}

struct Net {
    dns: FakeDns,
    port: u16,
    /// The MX of example.jp, the sender's own domain.
    home: FakeMx,
}

impl Net {
    async fn new(home_ip: &str) -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let home = FakeMx::start(&format!("{home_ip}:0"), MxBehavior::default()).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", home_ip);
        let port = home.addr.port();
        Net { dns, port, home }
    }

    async fn mx(&self, ip: &str, domain: &str, tls: Option<TestPki>) -> FakeMx {
        let host = format!("mx.{domain}");
        let mx = FakeMx::start(&format!("{ip}:{}", self.port), MxBehavior { tls, ..Default::default() }).await;
        self.dns.addr(&host, ip);
        self.dns.mx(domain, 10, &host);
        mx
    }
}

#[tokio::test]
async fn each_recipient_gets_the_variant_its_session_earned_and_the_link_works() {
    let net = Net::new("127.0.6.1").await;
    let good = TestPki::generate(&pki_dir("good"), "mx.tls.example");
    let down = TestPki::generate(&pki_dir("down"), "mx.down.example");
    let tls_mx = net.mx("127.0.6.2", "tls.example", Some(good.clone())).await;
    let plain_mx = net.mx("127.0.6.3", "plain.example", None).await;
    let down_mx = net.mx("127.0.6.4", "down.example", Some(down.clone())).await;
    let roots = vec![good.ca_path.clone(), down.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
    })
    .await;
    // down.example reached TLS before; then an attacker strips STARTTLS.
    let (d, _) = s.first_attempt("earlier@down.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(d.info.findings, Some(vec![]), "inspection at submission found no files");
    assert_eq!(d.attempts.last().unwrap().attempt.variant, None, "no files, nothing to decide");
    down_mx.behavior().offer_tls.store(false, Ordering::SeqCst);

    let quote = random_bytes(150_000);
    let sheet = random_bytes(40_000);
    let files: [(&str, &[u8]); 2] = [("見積書.pdf", &quote), ("明細.xlsx", &sheet)];
    let to = ["carol@tls.example", "bob@plain.example", "dave@down.example"];
    let submitted = message_with_files("several", &files, Names::Quoted);
    let id = s.submit("alice@example.jp", &to, &submitted).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);

    // Over authenticated TLS: the message exactly as submitted.
    let inline = tls_mx.wait_for(1, 5).await;
    assert!(inline[0].tls);
    assert!(inline[0].data.ends_with(submitted.as_bytes()), "the attachments travel as they are");

    // Without STARTTLS, and after a stripped one: the notice, never the files.
    let spooled = String::from_utf8(inline[0].data.clone()).unwrap();
    let text_part = "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the quotation attached.\r\n";
    let mut links = Vec::new();
    for (mx, rcpt) in [(&plain_mx, "bob@plain.example"), (&down_mx, "dave@down.example")] {
        let got = mx.wait_for(if rcpt.starts_with("dave") { 2 } else { 1 }, 5).await;
        let m = got.iter().find(|m| m.rcpt_to == [rcpt.to_string()]).expect("the link variant");
        assert!(!m.tls);
        let data = String::from_utf8(m.data.clone()).unwrap();
        assert!(!data.contains(&wrapped(&quote)[..76]) && !data.contains(&wrapped(&sheet)[..76]), "no file leaves");
        let head_end = spooled.find("--outer\r\nContent-Type: application/octet-stream").unwrap();
        assert_eq!(&data[..head_end], &spooled[..head_end], "headers and text stay byte for byte");
        assert!(data.contains(text_part));
        assert!(data.ends_with("--outer--\r\n"));
        let notice = notice_text(&m.data);
        assert!(notice.contains(&format!("見積書.pdf (146.5 KiB, SHA-256 {})", sha256(&quote))), "{notice}");
        assert!(notice.contains(&format!("明細.xlsx (39.1 KiB, SHA-256 {})", sha256(&sheet))), "{notice}");
        links.push(link_in(&notice));
    }
    assert_ne!(links[0], links[1], "one link per recipient");

    // The trace says what was done and why.
    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    let found: Vec<(&str, &str, u64)> =
        full.info.findings.iter().flatten().map(|f| (f.name.as_str(), f.content_type.as_str(), f.size)).collect();
    assert_eq!(
        found,
        [("見積書.pdf", "application/octet-stream", 150_000), ("明細.xlsx", "application/octet-stream", 40_000)],
        "inspection at submission recorded each file"
    );
    assert!(full.info.findings.iter().flatten().all(|f| f.found == sekisho_store::Found::Clean));
    let variant = |rcpt: &str| {
        let a = full.attempts.iter().rev().find(|a| a.recipient == rcpt).unwrap();
        a.attempt.variant.clone().unwrap()
    };
    let carol = variant("carol@tls.example");
    assert_eq!((carol.kind.as_str(), carol.reason.as_str()), ("inline", "inline — TLS 1.3, authenticated"));
    let bob = variant("bob@plain.example");
    assert_eq!((bob.kind.as_str(), bob.reason.as_str()), ("link", "link — mx.plain.example offered no STARTTLS"));
    let dave = variant("dave@down.example");
    assert_eq!(dave.kind.as_str(), "link");
    assert!(dave.reason.contains("downgrade is suspected"), "{}", dave.reason);
    let kept = s.queue.stores().links.link_message(&id).await.unwrap().unwrap();
    assert_eq!(kept.files.len(), 2, "one stored copy per message");
    assert_eq!(s.queue.stores().links.links(Some(&id)).await.unwrap().len(), 2);

    // Bob follows his link.
    let portal = format!("http://{}", s.portal.unwrap());
    assert!(links[0].starts_with(&format!("{portal}/d/")), "{}", links[0]);
    let mut b = Browser::new(&portal);
    let r = b.follow(&links[0]).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/d", "the token leaves the address bar");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let (status, headers, page) = b.get("/d").await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("alice@example.jp") && page.contains("見積書の送付") && page.contains("見積書.pdf"));
    assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(b.get("/d/files/0").await.0, 403, "no download before the code");

    let (status, page) = b.submit("/d/code", &[]).await;
    assert_eq!(status, 303, "back to the page, which a reload does not post again: {page}");
    let (_, _, page) = b.get("/d?sent=1").await;
    assert!(String::from_utf8(page).unwrap().contains("A code was sent"));
    let code_mail = plain_mx.wait_for(2, 10).await;
    let code = code_in(&code_mail[1].data).expect("a code mail");
    assert_eq!(code_mail[1].rcpt_to, ["bob@plain.example"], "the code goes to the recipient's own address");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, page) = b.submit("/d/verify", &[("secret", wrong)]).await;
    assert_eq!(status, 403);
    assert!(page.contains("Tries left: 4"), "{page}");
    let (status, _) = b.submit("/d/verify", &[("secret", &code)]).await;
    assert_eq!(status, 303, "the right code opens the files");
    let (status, _, page) = b.get("/d").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).unwrap().contains(&sha256(&quote)));

    let (status, headers, body) = b.get("/d/files/0").await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&body), sha256(&quote), "the file downloaded is the file sent");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.contains("filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.pdf"), "{disposition}");
    assert_eq!(headers["content-type"], "application/octet-stream");
    let (status, _, zip) = b.get("/d/all.zip").await;
    assert_eq!(status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    for (name, bytes) in files {
        let mut entry = archive.by_name(name).unwrap();
        assert!(!entry.encrypted());
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut out).unwrap();
        assert_eq!(out, bytes);
    }

    // The used code is worth nothing now, and the audit log has every step.
    let (status, _) = b.submit("/d/verify", &[("secret", &code)]).await;
    assert_eq!(status, 403, "a code is used once");
    let events: Vec<String> =
        s.queue.stores().links.events(&id).await.unwrap().into_iter().map(|e| e.event.as_str().to_string()).collect();
    for e in ["opened", "code-sent", "wrong", "verified", "download"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
}

/// Where the last session to a host was too weak for the attachments, the next message's files
/// are sealed before sekisho connects again: no session waits for them.
#[tokio::test]
async fn after_a_weak_session_the_files_are_sealed_before_the_next_connection() {
    let net = Net::new("127.0.6.21").await;
    let plain_mx = net.mx("127.0.6.22", "plain.example", None).await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
    })
    .await;
    let files: [(&str, &[u8]); 1] = [("見積書.pdf", &random_bytes(30_000))];
    let first =
        s.submit("alice@example.jp", &["bob@plain.example"], &message_with_files("one", &files, Names::Quoted)).await;
    s.wait_for(&first, 30, done).await;
    assert_eq!(plain_mx.connections(), 1);

    plain_mx.behavior().greeting_delay_ms.store(3_000, Ordering::SeqCst);
    let second =
        s.submit("alice@example.jp", &["bob@plain.example"], &message_with_files("two", &files, Names::Quoted)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while plain_mx.connections() < 2 {
        assert!(std::time::Instant::now() < deadline, "no second connection");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The host has not even greeted: nothing of this session is known yet.
    let kept = s.queue.stores().links.link_message(&second).await.unwrap();
    let kept = kept.expect("the files were kept before the connection");
    assert_eq!(kept.files.len(), 1);
    assert!(
        s.queue.stores().links.links(Some(&second)).await.unwrap().is_empty(),
        "the link itself waits for the session"
    );
    let d = s.wait_for(&second, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(s.queue.stores().links.links(Some(&second)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn in_password_mode_the_sender_gets_the_password_and_hears_of_the_first_download() {
    let net = Net::new("127.0.6.21").await;
    let plain_mx = net.mx("127.0.6.22", "plain2.example", None).await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.portal.access = sekisho_config::Access::Password;
        c.portal.notify_first_download = true;
    })
    .await;
    let report = random_bytes(20_000);
    let submitted = message_with_files("bob", &[("report.pdf", &report)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["bob@plain2.example", "carol@plain2.example"], &submitted).await;
    s.wait_for(&id, 30, done).await;
    let got = plain_mx.wait_for(2, 5).await;
    let notice = notice_text(&got[0].data);
    assert!(notice.contains("the password the sender gives you by phone or chat"), "{notice}");
    assert!(!notice.contains("Password:"), "the password never travels with the link");
    let home = net.home.wait_for(1, 10).await;
    assert_eq!(home.len(), 1, "one password mail per message, whatever the number of recipients");
    assert_eq!(home[0].rcpt_to, ["alice@example.jp"]);
    let text = own_mail_text(&home[0].data).unwrap();
    const SAYS: &str = "Recipients open it with this password: ";
    let at = text.find(SAYS).unwrap() + SAYS.len();
    let password = text[at..].lines().next().unwrap().trim().to_string();
    assert_eq!(password.len(), 19, "{password}");

    let mut b = s.browser();
    b.follow(&link_in(&notice)).await;
    let (status, _, page) = b.get("/d").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).unwrap().contains("Enter the password the sender gave you"));
    assert_eq!(b.submit("/d/verify", &[("secret", "aaaa-bbbb-cccc-dddd")]).await.0, 403);
    assert_eq!(b.submit("/d/verify", &[("secret", &password)]).await.0, 303);
    let (status, _, body) = b.get("/d/files/0").await;
    assert_eq!((status, sha256(&body)), (200, sha256(&report)));
    let home = net.home.wait_for(2, 10).await;
    let told = own_mail_text(&home[1].data).unwrap();
    assert!(told.contains("downloaded report.pdf from your message"), "{told}");
    assert!(told.contains("bob@plain2.example") || told.contains("carol@plain2.example"), "{told}");
    b.get("/d/files/0").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(net.home.received().len(), 2, "only the first download is announced");
}

#[tokio::test]
async fn under_the_link_policy_a_password_protected_file_never_travels_even_over_good_tls() {
    let net = Net::new("127.0.6.31").await;
    let good = TestPki::generate(&pki_dir("good3"), "mx.tls3.example");
    let tls_mx = net.mx("127.0.6.32", "tls3.example", Some(good.clone())).await;
    let roots = vec![good.ca_path.clone()];
    let template = pki_dir("template").with_extension("txt");
    std::fs::write(&template, "ACME Corp. file service\n{{files}}\nGet them at {{url}} until {{expires}}.\n").unwrap();
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.encrypted_attachments = sekisho_config::EncryptedPolicy::Link;
        c.outbound.notice_text_template = Some(template);
        c.time_zone = sekisho_config::TimeZone::named("Asia/Tokyo").unwrap();
    })
    .await;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/inspect/tests/fixtures");
    let locked = std::fs::read(fixtures.join("zipcrypto.zip")).unwrap();
    let plain = std::fs::read(fixtures.join("plain.zip")).unwrap();
    let id = s
        .submit(
            "alice@example.jp",
            &["carol@tls3.example"],
            &message_with_files("carol", &[("見積.zip", &locked)], Names::Quoted),
        )
        .await;
    let clean = s
        .submit(
            "alice@example.jp",
            &["dave@tls3.example"],
            &message_with_files("dave", &[("plain.zip", &plain)], Names::Quoted),
        )
        .await;
    for id in [&id, &clean] {
        let d = s.wait_for(id, 30, done).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "accepted, not refused: {d:#?}");
    }
    let got = tls_mx.wait_for(2, 5).await;
    let to_carol = got.iter().find(|m| m.rcpt_to == ["carol@tls3.example"]).unwrap();
    assert!(to_carol.tls);
    let notice = notice_text(&to_carol.data);
    assert!(notice.contains("見積.zip"), "a link even over authenticated TLS");
    assert!(notice.starts_with("ACME Corp. file service\r\n  - 見積.zip"), "the administrator's text: {notice}");
    assert!(notice.contains(&format!("Get them at http://{}/d/", s.portal.unwrap())), "{notice}");
    assert!(notice.contains(" (UTC+09:00).\r\n"), "the expiry in the configured time_zone: {notice}");
    let to_dave = got.iter().find(|m| m.rcpt_to == ["dave@tls3.example"]).unwrap();
    assert!(String::from_utf8_lossy(&to_dave.data).contains(&wrapped(&plain)[..60]), "an unencrypted file goes inline");
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    let v = d.attempts.last().unwrap().attempt.variant.clone().unwrap();
    assert!(v.reason.starts_with("link — 見積.zip is password-protected"), "{}", v.reason);
}

#[tokio::test]
async fn a_password_by_separate_mail_follows_the_link_after_the_delay() {
    let net = Net::new("127.0.6.41").await;
    let plain_mx = net.mx("127.0.6.42", "plain4.example", None).await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.portal.access = sekisho_config::Access::Password;
        c.portal.password_delivery = sekisho_config::PasswordDelivery::SeparateMail;
        c.portal.password_delay = sekisho_config::Duration::parse("3s").unwrap();
    })
    .await;
    let report = random_bytes(5_000);
    let id = s
        .submit(
            "alice@example.jp",
            &["bob@plain4.example"],
            &message_with_files("bob", &[("r.pdf", &report)], Names::Quoted),
        )
        .await;
    s.wait_for(&id, 30, done).await;
    let sent_at = std::time::Instant::now();
    let first = plain_mx.wait_for(1, 5).await;
    let link = link_in(&notice_text(&first[0].data));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(plain_mx.received().len(), 1, "the password does not follow at once");
    let both = plain_mx.wait_for(2, 15).await;
    assert!(sent_at.elapsed() >= std::time::Duration::from_secs(2), "it waited for the delay");
    assert_eq!(both[1].rcpt_to, ["bob@plain4.example"]);
    let text = own_mail_text(&both[1].data).unwrap();
    let password = text.rsplit(": ").next().unwrap().trim().to_string();
    assert_eq!(password.len(), 19, "{text}");
    assert!(net.home.received().is_empty(), "nothing to the sender in this mode");
    let mut b = s.browser();
    b.follow(&link).await;
    b.get("/d").await;
    assert_eq!(b.submit("/d/verify", &[("secret", &password)]).await.0, 303);
    assert_eq!(sha256(&b.get("/d/files/0").await.2), sha256(&report));
}

#[tokio::test]
async fn through_a_smart_host_the_recipients_own_mx_decides_not_the_first_hop() {
    let net = Net::new("127.0.6.41").await;
    let relay_pki = TestPki::generate(&pki_dir("relay"), "smart.isp.example");
    let relay = FakeMx::start(
        &format!("127.0.6.42:{}", net.port),
        MxBehavior { tls: Some(relay_pki.clone()), ..Default::default() },
    )
    .await;
    net.dns.addr("smart.isp.example", "127.0.6.42");
    let good = TestPki::generate(&pki_dir("good4"), "mx.tls4.example");
    let _tls_mx = net.mx("127.0.6.43", "tls4.example", Some(good.clone())).await;
    let plain_mx = net.mx("127.0.6.44", "plain4.example", None).await;
    let roots = vec![relay_pki.ca_path.clone(), good.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.relay_host = Some("[smart.isp.example]".into());
    })
    .await;
    let quote = random_bytes(20_000);
    let submitted = message_with_files("smart", &[("quote.pdf", &quote)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["bob@plain4.example", "carol@tls4.example"], &submitted).await;
    let d = s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);

    // Both leave over authenticated TLS to the smart host; only the partner whose own MX
    // speaks TLS gets the file.
    let got = relay.wait_for(2, 5).await;
    assert!(got.iter().all(|m| m.tls));
    let to_bob = got.iter().find(|m| m.rcpt_to == ["bob@plain4.example"]).unwrap();
    assert!(!String::from_utf8_lossy(&to_bob.data).contains(&wrapped(&quote)[..76]), "no file beyond a plaintext MX");
    assert!(notice_text(&to_bob.data).contains("quote.pdf"));
    let to_carol = got.iter().find(|m| m.rcpt_to == ["carol@tls4.example"]).unwrap();
    assert!(to_carol.data.ends_with(submitted.as_bytes()), "inline: the recipient's MX reached authenticated TLS");
    assert!(plain_mx.connections() >= 1, "sekisho probed the recipient's own MX");
    assert!(plain_mx.received().is_empty(), "the probe carried no mail");

    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    let variant = |rcpt: &str| {
        let a = full.attempts.iter().rev().find(|a| a.recipient == rcpt).unwrap();
        a.attempt.variant.clone().unwrap().reason
    };
    assert_eq!(
        variant("bob@plain4.example"),
        "link — probe-based (through the smart host smart.isp.example): mx.plain4.example offered no STARTTLS; \
         attachments travel inline from encrypted"
    );
    assert!(
        variant("carol@tls4.example")
            .starts_with("inline — probe-based: the recipient's MX hosts reached authenticated")
    );
}

#[tokio::test]
async fn a_recipient_mx_that_never_answers_the_probe_holds_the_smart_host_delivery_only_briefly() {
    let net = Net::new("127.0.6.51").await;
    let relay_pki = TestPki::generate(&pki_dir("relay5"), "smart5.isp.example");
    let relay = FakeMx::start(
        &format!("127.0.6.52:{}", net.port),
        MxBehavior { tls: Some(relay_pki.clone()), ..Default::default() },
    )
    .await;
    net.dns.addr("smart5.isp.example", "127.0.6.52");
    // The partner's MX takes the connection and never says a word (or port 25 is filtered).
    let tarpit = tokio::net::TcpListener::bind(format!("127.0.6.53:{}", net.port)).await.unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = tarpit.accept().await {
            open.push(socket);
        }
    });
    net.dns.mx("silent.example", 10, "mx.silent.example");
    net.dns.addr("mx.silent.example", "127.0.6.53");
    let roots = vec![relay_pki.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.relay_host = Some("[smart5.isp.example]".into());
    })
    .await;
    let quote = random_bytes(10_000);
    let submitted = message_with_files("silent", &[("quote.pdf", &quote)], Names::Quoted);
    let started = std::time::Instant::now();
    let id = s.submit("alice@example.jp", &["bob@silent.example"], &submitted).await;
    let d = s.wait_for(&id, 40, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "held {:?}", started.elapsed());
    let got = relay.wait_for(1, 5).await;
    assert!(notice_text(&got[0].data).contains("quote.pdf"), "a link, not the file");
    let full = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    let reason = full.attempts.last().unwrap().attempt.variant.clone().unwrap().reason;
    assert!(reason.contains("could not probe the recipient's MX hosts within 15 s"), "{reason}");
    held.abort();
}
