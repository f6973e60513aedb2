//! Recipients keep what they received: with `[portal] original_download`, the download page
//! offers the whole message as one `.eml` with every attachment as the sender sent it (the
//! bytes of each equal the originals), counted like a file and only after the code; a recipient
//! the rules gave an undisclosed copy sees only themselves in To and Cc there too; off by
//! default, the page offers nothing and `/d/message.eml` is a 404.

use std::path::Path;

use mail_parser::MimeHeaders;
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{Names, code_from, done, link_in, message_with_files, notice_text, random_bytes, sha256};
use sekisho_testkit::{Browser, FakeDns, FakeMx, MxBehavior, TestServer};

/// A gateway delivering `plain.example` without STARTTLS (files go as links); its DNS and MX.
async fn gateway(
    dns_ip: &str,
    mx_ip: &str,
    tweak: impl FnOnce(&mut sekisho_config::Config),
) -> (TestServer, FakeDns, FakeMx) {
    let dns = FakeDns::start(dns_ip).await;
    let mx = FakeMx::start(&format!("{mx_ip}:0"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", mx_ip);
    let s = TestServer::start_delivering(&dns, mx.addr.port(), tweak).await;
    (s, dns, mx)
}

/// Opens `rcpt`'s link from its notice at `mx`, asks for a code and enters it.
async fn verified(s: &TestServer, mx: &FakeMx, rcpt: &str) -> Browser {
    let notice = mx.received().iter().find(|m| m.rcpt_to == [rcpt.to_string()]).map(|m| notice_text(&m.data)).unwrap();
    let mut b = s.browser();
    assert_eq!(b.open(&link_in(&notice)).await.0, 200);
    if s.config.portal.original_download {
        assert_eq!(b.get("/d/message.eml").await.0, 403, "nothing before the code");
    }
    assert_eq!(b.submit("/d/code", &[]).await.0, 303);
    let code = code_from(mx, rcpt, 10).await;
    assert_eq!(b.verify(&code).await, 303);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_downloads_the_whole_message_with_every_attachment_as_sent() {
    let (s, _dns, mx) = gateway("127.0.24.2", "127.0.24.1", |c| c.portal.original_download = true).await;
    let (sheet, notes) = (random_bytes(40_000), "議事録\r\n".repeat(300).into_bytes());
    let rcpt = "bob@plain.example";
    let message = message_with_files(rcpt, &[("quotation.pdf", &sheet), ("議事録.txt", &notes)], Names::Rfc2231);
    let id = s.submit("alice@example.jp", &[rcpt], &message).await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    mx.wait_for(1, 5).await;

    let mut b = verified(&s, &mx, rcpt).await;
    let (_, _, page) = b.get("/d").await;
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("id=\"download-original\" href=\"/d/message.eml\""), "{page}");
    let (status, headers, eml) = b.get("/d/message.eml").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/octet-stream", "bytes to save, never to render");
    assert!(headers["content-disposition"].to_str().unwrap().contains("message.eml"));
    assert!(eml.starts_with(b"Received: "), "with sekisho's trace field, as delivered");
    assert!(eml.ends_with(message.as_bytes()), "the message as the sender sent it");
    let parsed = mail_parser::MessageParser::default().parse(&eml).expect("a message");
    assert_eq!(parsed.subject(), Some("見積書の送付"));
    let got: Vec<(String, String)> = parsed
        .attachments()
        .map(|a| (a.attachment_name().unwrap_or_default().to_string(), sha256(a.contents())))
        .collect();
    assert_eq!(got, [("quotation.pdf".to_string(), sha256(&sheet)), ("議事録.txt".to_string(), sha256(&notes))]);
    let mut downloads = s.queue.stores().links.downloads(&id, 0).await.unwrap();
    downloads.sort();
    assert_eq!(
        downloads,
        [(sekisho_store::links::ORIGINAL_IDX, 1), (0, 1), (1, 1)],
        "a download of its own and one of each file it holds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undisclosed_recipient_sees_only_themselves_in_the_message_they_keep() {
    let rules = sekisho_config::Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"hide-recipients\"\n\
         match = { recipient_class = [\"external\"] }\nactions = { bcc_external = 1 }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let (s, _dns, mx) = gateway("127.0.24.4", "127.0.24.3", move |c| {
        c.portal.original_download = true;
        c.rules = rules;
    })
    .await;
    let to = ["bob@plain.example", "carol@plain.example"];
    let message =
        message_with_files("bob@plain.example, carol@plain.example", &[("a.pdf", &random_bytes(5000))], Names::Quoted);
    let id = s.submit("alice@example.jp", &to, &message).await;
    s.wait_for(&id, 30, done).await;
    mx.wait_for(2, 5).await;
    let mut b = verified(&s, &mx, "bob@plain.example").await;
    let (status, _, eml) = b.get("/d/message.eml").await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&eml);
    assert!(text.contains("To: <bob@plain.example>\r\n"), "{text}");
    assert!(!text.contains("carol"), "the other recipient stays hidden: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_the_page_offers_no_message_and_asking_for_it_is_a_404() {
    let (s, _dns, mx) = gateway("127.0.24.6", "127.0.24.5", |_| {}).await;
    let rcpt = "bob@plain.example";
    let id = s
        .submit("alice@example.jp", &[rcpt], &message_with_files(rcpt, &[("a.pdf", b"%PDF-1.4 x")], Names::Quoted))
        .await;
    s.wait_for(&id, 30, done).await;
    mx.wait_for(1, 5).await;
    let kept = s.queue.stores().links.link_message(&id).await.unwrap().unwrap();
    assert!(kept.original.is_none(), "nothing more is kept than the files");
    let mut b = verified(&s, &mx, rcpt).await;
    let (_, _, page) = b.get("/d").await;
    assert!(!String::from_utf8(page).unwrap().contains("download-original"));
    assert_eq!(b.get("/d/message.eml").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_holds_every_file_so_it_needs_a_download_left_of_each() {
    let (s, _dns, mx) = gateway("127.0.24.8", "127.0.24.7", |c| {
        c.portal.original_download = true;
        c.portal.max_downloads = 1;
    })
    .await;
    let rcpt = "bob@plain.example";
    let message =
        message_with_files(rcpt, &[("a.pdf", &random_bytes(3000)), ("b.pdf", &random_bytes(3000))], Names::Quoted);
    let id = s.submit("alice@example.jp", &[rcpt], &message).await;
    s.wait_for(&id, 30, done).await;
    mx.wait_for(1, 5).await;
    let mut b = verified(&s, &mx, rcpt).await;
    assert_eq!(b.get("/d/files/0").await.0, 200, "the one download of a.pdf");
    let (_, _, page) = b.get("/d").await;
    assert!(!String::from_utf8(page).unwrap().contains("download-original"), "no longer offered");
    assert_eq!(b.get("/d/message.eml").await.0, 410, "a.pdf has no download left: nor has the message holding it");
}
