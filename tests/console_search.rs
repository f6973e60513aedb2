//! The sender console keeps what a sender sent findable and sendable again: `/sent?q=`
//! searches the sender's own mail by recipient, subject or file name, and with `[portal]
//! keep_expired` an expired link's files stay sealed for that time, so the sender can send it
//! again as a new link (new expiry, the same access mode), which opens while the old one does
//! not; without it, the files are purged at expiry and the console says so.

use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, done, link_in, message_with_files, notice_text, random_bytes};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

/// A gateway delivering `plain.example` to an MX without STARTTLS (so files go as links), with
/// `keep_expired` seconds; its DNS and MX.
async fn gateway(dns_ip: &str, mx_ip: &str, keep_expired: u64) -> (TestServer, FakeDns, FakeMx) {
    let dns = FakeDns::start(dns_ip).await;
    let mx = FakeMx::start(&format!("{mx_ip}:0"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", mx_ip);
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| {
        c.portal.keep_expired = sekisho_config::Duration::from_secs(keep_expired);
    })
    .await;
    (s, dns, mx)
}

/// Submits a message with one file `name` to `rcpt` and waits until it is delivered.
async fn send(s: &TestServer, rcpt: &str, name: &str) -> String {
    let id = s
        .submit("alice@example.jp", &[rcpt], &message_with_files(rcpt, &[(name, &random_bytes(5000))], Names::Quoted))
        .await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    id
}

/// Makes recipient 0's link of `id` expire a minute ago, then runs the portal's purge.
async fn expire(s: &TestServer, id: &str) {
    let now = chrono::Utc::now().timestamp();
    assert_eq!(s.queue.stores().links.set_link_expiry(id, Some(0), now - 60).await.unwrap(), 1);
    s.portal_app.as_ref().unwrap().purge().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_finds_sent_mail_and_sends_an_expired_link_again() {
    let (s, _dns, mx) = gateway("127.0.23.42", "127.0.23.41", 86_400).await;
    let quote = send(&s, "bob@plain.example", "quotation-2026.pdf").await;
    let minutes = send(&s, "carol@plain.example", "minutes.pdf").await;
    let others = s
        .submit(
            "mallory@example.jp",
            &["bob@plain.example"],
            &message_with_files("bob@plain.example", &[("quotation-2026.pdf", b"x")], Names::Quoted),
        )
        .await;
    // Mallory's message is delivered, so its file is kept and searchable too: a search that
    // does not find it says something.
    s.wait_for(&others, 30, done).await;
    assert!(s.queue.stores().links.link_message(&others).await.unwrap().is_some(), "mallory's file is kept");
    let first_notice = mx
        .wait_for(3, 10)
        .await
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == "bob@plain.example"))
        .map(|m| notice_text(&m.data))
        .unwrap();
    let old_link = link_in(&first_notice);

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", s.portal.unwrap());
    let cookie = s.console_cookie("alice@example.jp").await;
    let get = async |path: &str| {
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let row = |id: &str| format!("<tr class=\"message\" data-id=\"{id}\">");

    let (status, all) = get("/sent").await;
    assert_eq!(status, 200);
    assert!(all.contains(&row(&quote)) && all.contains(&row(&minutes)) && !all.contains(&others), "{all}");
    let (_, by_file) = get("/sent?q=QUOTATION-2026").await;
    assert!(by_file.contains(&row(&quote)) && !by_file.contains(&row(&minutes)), "by file name: {by_file}");
    assert!(!by_file.contains(&others), "another sender's mail is never found");
    assert!(by_file.contains("value=\"QUOTATION-2026\""), "the box keeps what was searched");
    let (_, by_recipient) = get("/sent?q=carol%40plain").await;
    assert!(by_recipient.contains(&row(&minutes)) && !by_recipient.contains(&row(&quote)), "{by_recipient}");
    let (_, by_subject) = get("/sent?q=%E8%A6%8B%E7%A9%8D%E6%9B%B8").await;
    assert!(
        by_subject.contains(&row(&quote)) && by_subject.contains(&row(&minutes)),
        "by subject 見積書: {by_subject}"
    );
    let (_, none) = get("/sent?q=nothing-like-it").await;
    assert!(none.contains("id=\"no-match\"") && none.contains("No sent mail matches"), "{none}");
    let (status, long) = get(&format!("/sent?q={}", "a".repeat(201))).await;
    assert_eq!(status, 400, "{long}");
    assert!(long.contains("at most 200 characters"), "{long}");

    // Bob's link expires; the purge keeps its file (keep_expired), so it can be sent again.
    expire(&s, &quote).await;
    let kept = s.queue.stores().links.link_message(&quote).await.unwrap().unwrap();
    assert!(kept.files.iter().all(|f| !f.purged), "kept for keep_expired: {kept:?}");
    let opened = async |link: &str| sekisho_testkit::Browser::new(&base).open(link).await;
    let (status, page) = opened(&old_link).await;
    assert_eq!(status, 410, "the expired link does not open: {page}");
    let (_, page) = get(&format!("/sent/m/{quote}")).await;
    let form = [("csrf", csrf_of(&page)), ("idx", "0".to_string()), ("action", "resend".to_string())];
    let r = http
        .post(format!("{base}/sent/m/{quote}/link"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .form(&form)
        .send();
    let r = r.await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    let link = s.queue.stores().links.link(&quote, 0).await.unwrap().unwrap();
    assert!(link.expires_at > chrono::Utc::now().timestamp() + 86_000, "a new expiry: {link:?}");
    assert_eq!(link.access, sekisho_store::Access::Otp, "the link's own mode (and the policy's: see links' unit test)");
    let again = mx.wait_for(4, 30).await;
    let notice = again
        .iter()
        .rev()
        .find(|m| m.rcpt_to.iter().any(|r| r == "bob@plain.example"))
        .map(|m| notice_text(&m.data))
        .unwrap();
    let new_link = link_in(&notice);
    assert_ne!(new_link, old_link);
    let (status, page) = opened(&new_link).await;
    assert_eq!(status, 200, "the new link opens: {page}");
    assert!(page.contains("quotation-2026.pdf"), "{page}");
    assert_eq!(opened(&old_link).await.0, 404, "the old one is replaced: it opens nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_expired_an_expired_links_files_are_purged_and_cannot_be_sent_again() {
    let (s, _dns, _mx) = gateway("127.0.23.44", "127.0.23.43", 0).await;
    let id = send(&s, "bob@plain.example", "quotation.pdf").await;
    expire(&s, &id).await;
    let kept = s.queue.stores().links.link_message(&id).await.unwrap().unwrap();
    assert!(kept.files.iter().all(|f| f.purged), "purged at expiry by default: {kept:?}");

    let http = reqwest::Client::new();
    let base = format!("http://{}", s.portal.unwrap());
    let cookie = s.console_cookie("alice@example.jp").await;
    let page =
        http.get(format!("{base}/sent/m/{id}")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let form = [("csrf", csrf_of(&page)), ("idx", "0".to_string()), ("action", "resend".to_string())];
    let r = http
        .post(format!("{base}/sent/m/{id}/link"))
        .header("cookie", &cookie)
        .header("origin", &base)
        .header("accept-language", "en")
        .form(&form)
        .send();
    let r = r.await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let text = r.text().await.unwrap();
    assert!(text.contains("could not be re-sent") && text.contains("purged"), "{text}");
}
