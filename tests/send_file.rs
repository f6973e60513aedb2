//! The send-a-file page, over HTTP against the real server: a signed-in sender uploads files
//! with a message; the portal streams them into a MIME message in the spool and hands it to
//! the submission path, so each recipient gets what their session earns: the files inline
//! over good TLS, a link otherwise (whose download has the SHA-256 of what was sent). Too
//! large is 413 with nothing queued, a malformed form 400, signed out a redirect to sign-in,
//! a wrong form token 403.

use std::path::PathBuf;

use mail_parser::MimeHeaders as _;
use sekisho_store::RecipientState;
use sekisho_testkit::mail::{done, link_in, notice_text, random_bytes, sha256};
use sekisho_testkit::{Browser, FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-send-{name}-{}-{nanos}", std::process::id()))
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

/// A gateway whose partners are `tls.example` (an MX with a certificate it trusts) and
/// `plain.example` (an MX without STARTTLS); links open without a code.
struct Net {
    s: TestServer,
    _dns: FakeDns,
    tls_mx: FakeMx,
    plain_mx: FakeMx,
}

async fn net(base: u8, tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static) -> Net {
    let ip = |n: u8| format!("127.0.{base}.{n}");
    let dns = FakeDns::start(&ip(53)).await;
    let good = TestPki::generate(&pki_dir("good"), "mx.tls.example");
    let tls_mx =
        FakeMx::start(&format!("{}:0", ip(2)), MxBehavior { tls: Some(good.clone()), ..Default::default() }).await;
    let port = tls_mx.addr.port();
    let plain_mx = FakeMx::start(&format!("{}:{port}", ip(3)), MxBehavior::default()).await;
    for (domain, n) in [("tls.example", 2), ("plain.example", 3)] {
        dns.mx(domain, 10, &format!("mx.{domain}"));
        dns.addr(&format!("mx.{domain}"), &ip(n));
    }
    let roots = vec![good.ca_path.clone()];
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        c.portal.access = sekisho_policy::Access::None;
        tweak(c);
    })
    .await;
    Net { s, _dns: dns, tls_mx, plain_mx }
}

/// A multipart form as the page sends it: the fields, then the files.
fn form(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----sekisho-test-boundary-7d1";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
                 Content-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A signed-in sender's browser: the cookie and the send page's form token.
struct Sender {
    http: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl Sender {
    async fn sign_in(s: &TestServer, address: &str) -> Sender {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let base = format!("http://{}", s.portal.unwrap());
        let cookie = s.console_cookie(address).await;
        let r = http.get(format!("{base}/sent/send")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        let page = r.text().await.unwrap();
        assert!(page.contains("<script src=\"/sent/send.js\"></script>"), "{page}");
        Sender { csrf: csrf_of(&page), http, base, cookie }
    }

    async fn post(&self, cookie: Option<&str>, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (u16, String) {
        let (content_type, body) = form(fields, files);
        let mut r = self
            .http
            .post(format!("{}/sent/send", self.base))
            .header("content-type", content_type)
            .header("accept-language", "en")
            .body(body);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        (status, location.unwrap_or_else(String::new) + &r.text().await.unwrap_or_default())
    }

    async fn send(&self, to: &str, subject: &str, files: &[(&str, &[u8])]) -> (u16, String) {
        let fields =
            [("csrf", self.csrf.as_str()), ("to", to), ("cc", ""), ("subject", subject), ("text", "本文です。")];
        self.post(Some(&self.cookie), &fields, files).await
    }
}

fn queued_id(page: &str) -> String {
    let at = page.find("id=\"queue-id\">").expect("the queue id") + 14;
    page[at..at + page[at..].find('<').unwrap()].to_string()
}

fn spool_is_empty(s: &TestServer) -> bool {
    ["spool/msg", "spool/tmp"]
        .iter()
        .all(|d| std::fs::read_dir(s.config.store.path.join(d)).map_or(true, |mut e| e.next().is_none()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sent_from_the_page_goes_inline_over_good_tls_and_as_a_link_otherwise() {
    let n = net(44, |_| {}).await;
    let sender = Sender::sign_in(&n.s, "alice@example.jp").await;
    let quote = random_bytes(200_000);
    let (status, page) =
        sender.send("carol@tls.example, Bob <bob@plain.example>", "見積書の送付", &[("見積書.pdf", &quote)]).await;
    assert_eq!(status, 200, "{page}");
    let id = queued_id(&page);
    assert!(page.contains(&format!("href=\"/sent/m/{id}\"")), "the page links to the trace: {page}");
    let d = n.s.wait_for(&id, 30, done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{:#?}", d.recipients);
    assert_eq!(d.info.sender, "alice@example.jp");
    assert_eq!(d.info.auth_user.as_deref(), Some("alice@example.jp"));
    assert_eq!(d.info.origin, sekisho_store::Origin::Submission);
    let found: Vec<(&str, u64)> = d.info.findings.iter().flatten().map(|f| (f.name.as_str(), f.size)).collect();
    assert_eq!(found, [("見積書.pdf", 200_000)], "inspected at submission like mail from a client");

    // Over authenticated TLS: the file attached.
    let inline = n.tls_mx.wait_for(1, 10).await;
    assert!(inline[0].tls);
    let parsed = mail_parser::MessageParser::default().parse(&inline[0].data).unwrap();
    assert_eq!(parsed.subject(), Some("見積書の送付"));
    assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("alice@example.jp"));
    let attachment = parsed.attachment(0).expect("the file inline");
    assert_eq!(attachment.attachment_name(), Some("見積書.pdf"));
    assert_eq!(sha256(attachment.contents()), sha256(&quote));
    let raw = String::from_utf8_lossy(&inline[0].data);
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(body.lines().all(|l| l.len() <= 998), "no line too long");

    // Without STARTTLS: a link, whose download is the file.
    let plain = n.plain_mx.wait_for(1, 10).await;
    assert!(!plain[0].tls);
    let notice = notice_text(&plain[0].data);
    assert!(notice.contains(&format!("SHA-256 {}", sha256(&quote))), "{notice}");
    let mut b = Browser::new(&format!("http://{}", n.s.portal.unwrap()));
    assert_eq!(b.follow(&link_in(&notice)).await.status().as_u16(), 303);
    let (status, _, got) = b.get("/d/files/0").await;
    assert_eq!(status, 200);
    assert_eq!(sha256(&got), sha256(&quote), "the download is the file sent");
    let variant = |rcpt: &str| {
        let a = d.attempts.iter().rev().find(|a| a.recipient == rcpt).unwrap();
        a.attempt.variant.clone().unwrap().kind
    };
    assert_eq!((variant("carol@tls.example").as_str(), variant("bob@plain.example").as_str()), ("inline", "link"));

    // The trace page is the sender's.
    let r =
        sender.http.get(format!("{}/sent/m/{id}", sender.base)).header("cookie", &sender.cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_link_above_even_good_tls_gets_a_link() {
    let n = net(45, |c| c.outbound.link_above = Some(sekisho_config::Size(100_000))).await;
    let sender = Sender::sign_in(&n.s, "alice@example.jp").await;
    let big = random_bytes(150_000);
    let (status, page) = sender.send("carol@tls.example", "large", &[("data.bin", &big)]).await;
    assert_eq!(status, 200, "{page}");
    let d = n.s.wait_for(&queued_id(&page), 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let got = n.tls_mx.wait_for(1, 10).await;
    let notice = notice_text(&got[0].data);
    let mut b = Browser::new(&format!("http://{}", n.s.portal.unwrap()));
    b.follow(&link_in(&notice)).await;
    let (status, _, file) = b.get("/d/files/0").await;
    assert_eq!((status, sha256(&file)), (200, sha256(&big)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_malformed_signed_out_and_forged_uploads_queue_nothing() {
    let n = net(46, |c| c.console.send_max_size = sekisho_config::Size(100_000)).await;
    let sender = Sender::sign_in(&n.s, "alice@example.jp").await;
    let (status, page) = sender
        .send("carol@tls.example", "x", &[("a.bin", &random_bytes(60_000)), ("b.bin", &random_bytes(60_000))])
        .await;
    assert_eq!(status, 413, "{page}");
    assert!(page.contains("552 5.3.4"), "{page}");
    let (status, page) = sender.send("", "x", &[("a.bin", b"x")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("no recipient"), "{page}");
    let (status, page) = sender.send("carol@tls.example, not-an-address", "x", &[("a.bin", b"x")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not-an-address"), "{page}");
    // Empty files still add parts to the message: their number and their names are bounded.
    let names: Vec<String> = (0..101).map(|i| format!("empty-{i}.txt")).collect();
    let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    let (status, page) = sender.send("carol@tls.example", "x", &many).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("at most 100 files"), "{page}");
    let long = format!("{}.txt", "a".repeat(2000));
    let (status, page) = sender.send("carol@tls.example", "x", &[(long.as_str(), b"x")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("file name is longer"), "{page}");
    let fields = [("csrf", "forged"), ("to", "carol@tls.example")];
    let (status, _) = sender.post(Some(&sender.cookie), &fields, &[("a.bin", b"x")]).await;
    assert_eq!(status, 403);
    let fields = [("csrf", sender.csrf.as_str()), ("to", "carol@tls.example")];
    let (status, location) = sender.post(None, &fields, &[("a.bin", b"x")]).await;
    assert_eq!((status, location.as_str()), (303, "/sent"), "signed out: to the sign-in page");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/sent/send", sender.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(spool_is_empty(&n.s), "nothing was queued or left behind");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(n.tls_mx.received().is_empty(), "nothing was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_refuses_a_message_from_the_page_as_it_would_one_from_a_client() {
    let rules = sekisho_config::Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"no-secrets\"\n\
         match = { subject_keywords = [\"社外秘\"] }\n\
         actions = { reject = \"Confidential material may not leave\" }\n",
        std::path::Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let n = net(47, move |c| c.rules = rules).await;
    let sender = Sender::sign_in(&n.s, "alice@example.jp").await;
    let (status, page) = sender.send("carol@tls.example", "【社外秘】計画", &[("a.bin", &random_bytes(1000))]).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("550 5.7.1 Confidential material may not leave"), "{page}");
    assert!(spool_is_empty(&n.s), "nothing was queued");
    let (status, page) = sender.send("carol@tls.example", "x", &[("a.bin", &random_bytes(1000))]).await;
    assert_eq!(status, 200, "another subject is not refused: {page}");
}
