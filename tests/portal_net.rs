//! The portal against clients that try to exhaust or fool it: a slowloris holding connections,
//! forged `X-Forwarded-For` headers, stalled "download all" requests, HEAD requests counted as
//! downloads, file names that reverse or break lines — and HSTS when served over HTTPS.
//! Links are seeded through the store, as delivery makes them.

use sekisho_store::files::FileStore;
use sekisho_store::links::{random_token, token_hash};
use sekisho_store::{Access, ConsoleSession, LinkFile, LinkMessage, NewLink};
use sekisho_testkit::{FakeDns, TestServer};

/// A link for bob@example.com to message `message_id` holding `files` (name, bytes).
async fn seed(s: &TestServer, message_id: &str, files: &[(&str, &[u8])]) -> String {
    let store_files = FileStore::open(&s.config.store.path).unwrap();
    let mut kept = Vec::new();
    for (idx, (name, bytes)) in files.iter().enumerate() {
        let stored = store_files.put(bytes).unwrap();
        kept.push(LinkFile {
            idx: idx as i64,
            file_id: stored.id,
            key: stored.key.to_hex(),
            name: name.to_string(),
            content_type: "application/pdf".into(),
            size: stored.size,
            sha256: stored.sha256,
            purged: false,
        });
    }
    let store = s.queue.store();
    let message = LinkMessage {
        message_id: message_id.into(),
        sender: "alice@example.jp".into(),
        subject: "figures".into(),
        created_at: 0,
        files: kept,
        password_hash: None,
    };
    store.put_link_message(&message).await.unwrap();
    let token = random_token(16);
    let now = chrono::Utc::now().timestamp();
    let link = NewLink {
        message_id: message_id.into(),
        idx: 0,
        recipient: "bob@example.com".into(),
        token_hash: token_hash(&token),
        access: Access::None,
        created_at: now,
        expires_at: now + 3600,
        max_downloads: 3,
        secret_hash: None,
        hint: None,
    };
    store.put_link(&link).await.unwrap();
    format!("http://{}/d/{token}", s.portal.unwrap())
}

async fn server(tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static) -> (FakeDns, TestServer) {
    let dns = FakeDns::start("127.0.0.53").await;
    let s = TestServer::start_delivering(&dns, 9, tweak).await;
    (dns, s)
}

/// A console session for alice@example.jp: the cookie header that carries it.
async fn console_cookie(s: &TestServer) -> String {
    let id = random_token(32);
    let session = ConsoleSession {
        sender: "alice@example.jp".into(),
        account: false,
        csrf: random_token(16),
        expires_at: chrono::Utc::now().timestamp() + 600,
    };
    s.queue.store().put_console_session(&token_hash(&id), &session).await.unwrap();
    format!("sekisho-console={id}")
}

#[tokio::test]
async fn names_that_reverse_or_break_lines_are_shown_escaped_everywhere() {
    let (_dns, s) = server(|_| {}).await;
    let name = "invoice\u{202e}fdp.exe\r\nX-Injected: 1\0.pdf";
    let id = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let url = seed(&s, &id, &[(name, b"MZ")]).await;
    let escaped = "invoice\\u{202e}fdp.exe\\u{d}\\u{a}X-Injected: 1\\u{0}.pdf";
    let hidden = ['\u{202e}', '\r', '\0'];

    let mut b = s.browser();
    let (status, page) = b.open(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains(escaped), "the download page: {page}");
    assert!(!page.contains(hidden), "{page}");

    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        d.ends_with(
            "filename*=UTF-8''invoice%5Cu%7B202e%7Dfdp.exe%5Cu%7Bd%7D%5Cu%7Ba%7DX-Injected%3A%201%5Cu%7B0%7D.pdf"
        ),
        "{d}"
    );
    assert!(!d.contains("%E2%80%AE") && !d.contains("%0D") && !d.contains("%00"), "{d}");

    let http = reqwest::Client::new();
    let cookie = console_cookie(&s).await;
    let base = format!("http://{}", s.portal.unwrap());
    let r = http
        .get(format!("{base}/sent/m/{id}"))
        .header("cookie", &cookie)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let console = r.text().await.unwrap();
    assert!(console.contains(escaped), "the console: {console}");
    assert!(!console.contains(hidden), "{console}");
}

#[tokio::test]
async fn hsts_is_sent_when_the_portal_is_served_over_https() {
    let http = reqwest::Client::new();
    let (_dns, plain) = server(|_| {}).await;
    let r = http.get(format!("http://{}/check", plain.portal.unwrap())).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none(), "not over plain HTTP");
    let (_dns2, tls) = server(|c| c.portal.url = "https://portal.example.jp".into()).await;
    for path in ["/check", "/d", "/no-such-page"] {
        let r = http.get(format!("http://{}{path}", tls.portal.unwrap())).send().await.unwrap();
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
}
