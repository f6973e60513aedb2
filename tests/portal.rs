//! The download portal against what an outsider tries (OWASP ASVS): guessed and malformed
//! tokens, expired and revoked links, download limits, brute-forced and concurrently guessed
//! codes, cross-site and stale form posts, hostile file names, and clients that ask too often.
//! Links are seeded through the store, as delivery makes them.

use sekisho_store::links::{random_token, token_hash};
use sekisho_store::{Access, NewLink};
use sekisho_testkit::{FakeDns, TestServer};

const PORTAL_CODE_PAGE: &str = "Send me a code";

struct Seeded {
    message_id: String,
    url: String,
}

/// A message with one file `name` holding `bytes`, and a link for bob@example.com.
async fn seed(s: &TestServer, access: Access, name: &str, bytes: &[u8], tweak: impl FnOnce(&mut NewLink)) -> Seeded {
    let message_id = format!("M{}", random_token(8).replace(['-', '_'], "x"));
    seed_message(s, &message_id, access, name, bytes, tweak).await
}

/// Like `seed`, for message `message_id`.
async fn seed_message(
    s: &TestServer,
    message_id: &str,
    access: Access,
    name: &str,
    bytes: &[u8],
    tweak: impl FnOnce(&mut NewLink),
) -> Seeded {
    let url = s.seed_link_with(message_id, &[(name, bytes)], access, tweak).await;
    Seeded { message_id: message_id.to_string(), url }
}

/// A link without files for queued message `id`.
async fn seed_for(s: &TestServer, id: &str) {
    s.seed_link_with(id, &[], Access::Otp, |l| {
        l.created_at = 0;
        l.expires_at = i64::MAX;
        l.max_downloads = 1;
    })
    .await;
}

async fn server(tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static) -> (FakeDns, TestServer) {
    TestServer::with_mail_held(tweak).await
}

#[tokio::test]
async fn unknown_expired_and_revoked_links_are_refused() {
    let (_dns, s) = server(|_| {}).await;
    let mut b = s.browser();
    let base = format!("http://{}", s.portal.unwrap());
    assert_eq!(b.open(&format!("{base}/d/{}", random_token(16))).await.0, 404, "a guessed token");
    assert_eq!(b.open(&format!("{base}/d/..%2f..%2fqueue.db")).await.0, 404);
    assert_eq!(b.open(&format!("{base}/d/{}", "A".repeat(5000))).await.0, 404);
    assert_eq!(b.get_text("/d").await.0, 403, "no session");
    assert_eq!(b.get_text("/nothing-here").await.0, 404);

    let expired = seed(&s, Access::None, "a.pdf", b"x", |l| l.expires_at = 1).await;
    let (status, page) = s.browser().open(&expired.url).await;
    assert_eq!(status, 410);
    assert!(page.contains("expired"), "{page}");

    let revoked = seed(&s, Access::None, "a.pdf", b"x", |_| {}).await;
    let mut b = s.browser();
    assert_eq!(b.open(&revoked.url).await.0, 200);
    assert_eq!(b.get_text("/d/files/0").await.0, 200);
    s.queue.stores().links.revoke_links(&revoked.message_id, None).await.unwrap();
    let (status, page) = b.get_text("/d/files/0").await;
    assert_eq!(status, 410, "revocation ends an open session too");
    assert!(page.contains("revoked"), "{page}");
    assert_eq!(s.browser().open(&revoked.url).await.0, 410);
}

#[tokio::test]
async fn downloads_stop_at_the_limit_and_expired_files_are_purged() {
    let (_dns, s) = server(|_| {}).await;
    let file = b"%PDF-1.7 quarterly figures".repeat(1000);
    let link = seed(&s, Access::None, "figures.pdf", &file, |l| l.max_downloads = 2).await;
    let mut b = s.browser();
    let (status, page) = b.open(&link.url).await;
    assert_eq!(status, 200);
    assert!(page.contains("figures.pdf") && !page.contains(PORTAL_CODE_PAGE), "mode none opens at once");
    for _ in 0..2 {
        let (status, body) = b.get_text("/d/files/0").await;
        assert_eq!((status, body.len()), (200, file.len()));
    }
    let (status, page) = b.get_text("/d/files/0").await;
    assert_eq!(status, 410);
    assert!(page.contains("as many times as allowed"), "{page}");
    assert_eq!(b.get_text("/d/files/7").await.0, 404);
    assert_eq!(b.get_text("/d/files/x").await.0, 404);

    let kept = s.queue.stores().links.link_message(&link.message_id).await.unwrap().unwrap();
    let on_disk = s.config.store.path.join("files").join(&kept.files[0].file_id);
    assert!(on_disk.exists());
    s.queue.stores().links.set_link_expiry(&link.message_id, None, 1).await.unwrap();
    let files = s.files.clone();
    let purged =
        sekisho_store::purge_expired_files(s.queue.stores().links.as_ref(), &files, chrono::Utc::now().timestamp())
            .await
            .unwrap();
    assert!(purged.contains(&(link.message_id.clone(), 0)));
    assert!(!on_disk.exists(), "an expired file is gone from the disk");
}

#[tokio::test]
async fn five_wrong_codes_lock_the_link_even_when_guessed_at_once() {
    let (_dns, s) = server(|_| {}).await;
    let link = seed(&s, Access::Otp, "a.pdf", b"secret", |_| {}).await;
    let mut b = s.browser();
    let (status, page) = b.open(&link.url).await;
    assert_eq!(status, 200);
    assert!(page.contains(PORTAL_CODE_PAGE), "{page}");
    let (status, page) = b.post("/d/code", &[("csrf", &b.csrf)], None).await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(s.queued().await, 1, "the code mail waits in the queue");

    // Twenty wrong guesses at once: exactly five are counted, the rest find the link locked.
    let guesses = (0..20).map(|i| {
        let b = b.clone();
        tokio::spawn(async move { b.verify(&format!("{:06}", 900_000 + i)).await })
    });
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|&&s| s == 403).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 423).count(), 15, "{statuses:?}");
    let l = s.queue.stores().links.link(&link.message_id, 0).await.unwrap().unwrap();
    assert_eq!(l.failures, 5);
    let (status, page) = b.get_text("/d").await;
    assert_eq!(status, 423);
    assert!(page.contains("Ask the sender to unlock it"), "{page}");
    assert_eq!(b.post("/d/code", &[("csrf", &b.csrf)], None).await.0, 423, "no code for a locked link");
    assert_eq!(b.get_text("/d/files/0").await.0, 423);

    // The sender unlocks it; a fresh code works once.
    s.queue.stores().links.unlock_link(&link.message_id, 0).await.unwrap();
    let code_hash = |code: &str| token_hash(&format!("{}\0{}\0{code}", link.message_id, 0));
    let now = chrono::Utc::now().timestamp();
    let session = b.cookie.as_deref().unwrap().split_once('=').unwrap().1;
    let code = sekisho_store::NewCode {
        message_id: link.message_id.clone(),
        idx: 0,
        session_hash: token_hash(session),
        code_hash: code_hash("123456"),
        report_hash: token_hash(&random_token(16)),
        client: "127.0.0.1, test".into(),
        created_at: now,
        expires_at: now + 600,
    };
    assert!(s.queue.stores().links.issue_code(&code, 10).await.unwrap());
    assert_eq!(b.verify("123456").await, 303);
    assert_eq!(b.get_text("/d/files/0").await, (200, "secret".to_string()));
}

#[tokio::test]
async fn forms_from_elsewhere_or_without_their_token_are_refused() {
    let (_dns, s) = server(|_| {}).await;
    let link = seed(&s, Access::Otp, "a.pdf", b"x", |_| {}).await;
    let mut b = s.browser();
    b.open(&link.url).await;
    let csrf = b.csrf.clone();
    assert_eq!(b.post("/d/code", &[], None).await.0, 422, "a form without its fields");
    assert_eq!(b.post("/d/code", &[("csrf", "forged")], None).await.0, 403);
    assert_eq!(b.post("/d/code", &[("csrf", &csrf)], Some("https://evil.example")).await.0, 403);
    let other = s.browser();
    assert_eq!(other.post("/d/code", &[("csrf", &csrf)], None).await.0, 403, "no session, no form");
    assert_eq!(s.queued().await, 0, "no code was sent");
    let own_origin = b.base.clone();
    assert_eq!(b.post("/d/code", &[("csrf", &csrf)], Some(&own_origin)).await.0, 303);
    assert_eq!(s.queued().await, 1);
    assert_eq!(
        b.post("/d/code", &[("csrf", &csrf)], Some("null")).await.0,
        303,
        "a browser's own form under no-referrer"
    );
    assert_eq!(s.queued().await, 2);
}

#[tokio::test]
async fn a_passphrase_agreed_beforehand_opens_the_link() {
    let (_dns, s) = server(|_| {}).await;
    use argon2::PasswordHasher as _;
    let salt = argon2::password_hash::SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2::Argon2::default().hash_password(b"blue heron 42", &salt).unwrap().to_string();
    let link = seed(&s, Access::Passphrase, "a.pdf", b"agreed", |l| {
        l.secret_hash = Some(hash);
        l.hint = Some("the bird at the lake".into());
    })
    .await;
    let mut b = s.browser();
    let (status, page) = b.open(&link.url).await;
    assert_eq!(status, 200);
    assert!(page.contains("the bird at the lake") && !page.contains(PORTAL_CODE_PAGE), "{page}");
    assert_eq!(b.post("/d/code", &[("csrf", &b.csrf)], None).await.0, 400, "no codes in passphrase mode");
    assert_eq!(b.verify("red heron 42").await, 403);
    assert_eq!(b.verify("blue heron 42").await, 303);
    assert_eq!(b.get_text("/d/files/0").await, (200, "agreed".to_string()));
}

#[tokio::test]
async fn hostile_file_names_are_text_and_never_headers() {
    let (_dns, s) = server(|_| {}).await;
    let name = "\"><svg onload=alert(1)>\r\nSet-Cookie: stolen=1;.pdf";
    let link = seed(&s, Access::None, name, b"x", |_| {}).await;
    let mut b = s.browser();
    let (status, page) = b.open(&link.url).await;
    assert_eq!(status, 200);
    assert!(!page.contains("<svg"), "{page}");
    assert!(page.contains("&#34;&#62;&#60;svg onload=alert(1)&#62;"), "{page}");
    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("set-cookie").is_none(), "no header from a file name");
    let d = r.headers()["content-disposition"].to_str().unwrap();
    assert!(
        d.starts_with("attachment; filename=\"_><svg onload=alert(1)>_u{d}_u{a}Set-Cookie: stolen=1_.pdf\""),
        "{d}"
    );
    assert!(
        d.contains("filename*=UTF-8''%22%3E%3Csvg%20onload%3Dalert%281%29%3E%5Cu%7Bd%7D%5Cu%7Ba%7DSet-Cookie"),
        "{d}"
    );
}

#[tokio::test]
async fn a_client_asking_too_often_waits() {
    let (_dns, s) = server(|c| c.portal.rate_limit = 5).await;
    let b = s.browser();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = b.request(b.http.get(format!("{}/d", b.base))).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            assert_eq!(r.headers()["retry-after"], "60");
        }
    }
    assert_eq!(statuses, [403, 403, 403, 403, 403, 429, 429]);
}

#[tokio::test]
async fn the_trace_api_answers_administrators_only() {
    let token = "admin-secret-token-for-tests";
    let (_dns, s) = server(move |c| c.portal.api_token_sha256 = token_hash(token)).await;
    let id = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nsee link\r\n").await;
    seed_for(&s, &id).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/v1/messages/{id}", s.portal.unwrap());
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = http.get(&url).bearer_auth("admin-secret-token-for-test").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "a near miss is a miss");
    let r = http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let trace: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(trace["message"]["id"], id.as_str());
    assert_eq!(trace["message"]["recipients"][0]["address"], "bob@example.com");
    assert!(trace["links"].as_array().unwrap().iter().any(|l| l["recipient"] == "bob@example.com"));
    assert!(trace["files"].as_array().is_some());
    let missing = format!("http://{}/api/v1/messages/NOSUCHMESSAGE", s.portal.unwrap());
    assert_eq!(http.get(&missing).bearer_auth(token).send().await.unwrap().status().as_u16(), 404);

    let (_dns2, off) = server(|_| {}).await;
    let url = format!("http://{}/api/v1/messages/{id}", off.portal.unwrap());
    let r = http.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "without a configured token the API is off");
}

#[tokio::test]
async fn the_checker_tells_a_person_and_a_program_what_a_domain_offers() {
    let dns = FakeDns::start("127.0.0.53").await;
    let dir = std::env::temp_dir().join(format!("sekisho-portal-check-{}", std::process::id()));
    let pki = sekisho_testkit::TestPki::generate(&dir, "mx.checked.example");
    let mx = sekisho_testkit::FakeMx::start(
        "127.0.8.2:0",
        sekisho_testkit::MxBehavior { tls: Some(pki.clone()), ..Default::default() },
    )
    .await;
    dns.mx("checked.example", 10, "mx.checked.example");
    dns.addr("mx.checked.example", "127.0.8.2");
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| {
        c.tls.extra_roots = roots;
        c.portal.check_rate_limit = 2;
        // The fake MX host is on loopback.
        c.portal.checker_allow_private = true;
    })
    .await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", s.portal.unwrap());
    let r = http.get(format!("{base}/api/v1/check?domain=checked.example")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(report["assurance"], "authenticated", "{report:#}");
    assert_eq!(report["mx"][0]["host"], "mx.checked.example");
    let page = http
        .get(format!("{base}/check?domain=checked.example"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"verdict\"") && page.contains("mx.checked.example"), "{page}");
    assert!(page.contains("TLSv1.3"), "{page}");
    let r = http.get(format!("{base}/api/v1/check?domain=%3Csvg%3E.example")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "not a domain name");
    let r = http.get(format!("{base}/check?domain=%22%3E%3Csvg%20onload%3Dalert(1)%3E")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(!r.text().await.unwrap().contains("<svg"), "the input is escaped");
    let r = http.get(format!("{base}/api/v1/check?domain=checked.example")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429, "two checks a minute (malformed names are not checks)");
}

/// The sign-in form token the console set in its cookie, and the cookie header to send back.
async fn sign_in_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let r = http.get(format!("{base}/sent")).header("accept-language", "en").send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    (page[at..at + page[at..].find('"').unwrap()].to_string(), cookie)
}

fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn senders_see_their_own_mail_and_manage_its_links() {
    let (_dns, s) = server(|_| {}).await;
    s.add_user("alice@example.jp", "correct horse").await;
    let mine = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let theirs = s.submit("carol@example.jp", &["bob@example.com"], "Subject: other\r\n\r\nx\r\n").await;
    seed_for(&s, &mine).await;
    seed_for(&s, &theirs).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", s.portal.unwrap());

    let (csrf, pre) = sign_in_form(&http, &base).await;
    let post = |path: &str, cookie: &str, form: &[(&str, &str)]| {
        http.post(format!("{base}{path}")).header("cookie", cookie).header("accept-language", "en").form(form).send()
    };
    let wrong = [("csrf", csrf.as_str()), ("user", "alice@example.jp"), ("password", "battery staple")];
    let r = post("/sent/login", &pre, &wrong).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("Wrong user name or password"));
    let forged = [("csrf", "forged"), ("user", "alice@example.jp"), ("password", "correct horse")];
    assert_eq!(post("/sent/login", &pre, &forged).await.unwrap().status().as_u16(), 403, "a form from elsewhere");
    let (csrf, pre) = sign_in_form(&http, &base).await;
    let right = [("csrf", csrf.as_str()), ("user", "alice@example.jp"), ("password", "correct horse")];
    let r = post("/sent/login", &pre, &right).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let console = session_cookie(&r);
    assert!(console.starts_with("sekisho-console="), "{console}");
    let cleared =
        r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("sekisho-sign-in=;"));
    assert!(cleared, "the sign-in form's token is dropped once used");

    let get = |path: String, cookie: String| http.get(format!("{base}{path}")).header("cookie", cookie).send();
    let list = get("/sent".into(), console.clone()).await.unwrap().text().await.unwrap();
    assert!(list.contains(&mine) && !list.contains(&theirs), "only the sender's own mail: {list}");
    let r = get(format!("/sent/m/{theirs}"), console.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "someone else's message does not exist");
    let page = get(format!("/sent/m/{mine}"), console.clone()).await.unwrap().text().await.unwrap();
    assert!(page.contains("bob@example.com") && page.contains("link (otp): active"), "{page}");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let form_token = page[at..at + page[at..].find('"').unwrap()].to_string();
    let revoke = [("csrf", form_token.as_str()), ("idx", "0"), ("action", "revoke")];
    let r = post(&format!("/sent/m/{theirs}/link"), &console, &revoke).await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "no action on someone else's links");
    assert!(!s.queue.stores().links.link(&theirs, 0).await.unwrap().unwrap().revoked);
    let r = post(&format!("/sent/m/{mine}/link"), &console, &revoke).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(s.queue.stores().links.link(&mine, 0).await.unwrap().unwrap().revoked);
    let events = s.queue.stores().links.events(&mine).await.unwrap();
    assert!(
        events.iter().any(|e| e.event.as_str() == "revoked" && e.detail.contains("alice@example.jp")),
        "{events:?}"
    );
    let page = get(format!("/sent/m/{mine}"), console).await.unwrap().text().await.unwrap();
    assert!(page.contains("link (otp): revoked"), "{page}");
}

#[tokio::test]
async fn a_sign_in_link_reaches_only_addresses_that_sent_mail() {
    let (_dns, s) = server(|_| {}).await;
    let mine = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", s.portal.unwrap());
    let queued_before = s.queued().await;
    let (csrf, pre) = sign_in_form(&http, &base).await;
    let ask = |address: &'static str| {
        http.post(format!("{base}/sent/login-link"))
            .header("cookie", pre.clone())
            .header("accept-language", "en")
            .form(&[("csrf", csrf.clone()), ("address", address.to_string())])
            .send()
    };
    let stranger = ask("mallory@example.net").await.unwrap();
    assert_eq!(stranger.status().as_u16(), 200);
    let stranger_page = stranger.text().await.unwrap();
    assert_eq!(s.queued().await, queued_before, "no mail to an address that never sent any");
    let sender = ask("Alice@Example.jp").await.unwrap();
    assert_eq!(sender.status().as_u16(), 200);
    assert!(
        sender.text().await.unwrap().contains("a sign-in link is on its way") && stranger_page.contains("on its way")
    );
    // The sign-in mail waits in the queue (nothing answers on port 9): read it from the spool.
    // It is queued in the background, so the answer takes as long for a stranger.
    let mut mails = s.stored_all().await;
    for _ in 0..200 {
        if mails.iter().any(|m| m.info.sender.is_empty() && m.recipients[0].address == "alice@example.jp") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        mails = s.stored_all().await;
    }
    let mail =
        mails.iter().find(|m| m.info.sender.is_empty() && m.recipients[0].address == "alice@example.jp").unwrap();
    let body = String::from_utf8(s.body(&mail.info.id)).unwrap();
    let b64: String = body.split_once("\r\n\r\n").unwrap().1.split_whitespace().collect();
    use base64::Engine as _;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    let at = text.find(&format!("{base}/sent/login/")).unwrap();
    let link = text[at..].lines().next().unwrap().trim().to_string();
    // The link shows a button (a mail scanner's GET uses up nothing); its form signs in.
    let r = http.get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let confirm = session_cookie(&r);
    let page = r.text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..at + page[at..].find('"').unwrap()].to_string();
    let press = || http.post(&link).header("cookie", &confirm).form(&[("csrf", csrf.as_str())]).send();
    let r = press().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let console = session_cookie(&r);
    let list = http.get(format!("{base}/sent")).header("cookie", console).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&mine), "{list}");
    assert_eq!(press().await.unwrap().status().as_u16(), 404, "a sign-in link works once");
}

#[tokio::test]
async fn a_sender_can_send_a_recipient_a_new_link() {
    let (_dns, s) = server(|_| {}).await;
    s.add_user("alice@example.jp", "correct horse").await;
    let id = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let old = seed_message(&s, &id, Access::None, "figures.pdf", b"the figures", |_| {}).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", s.portal.unwrap());
    let (csrf, pre) = sign_in_form(&http, &base).await;
    let form = [("csrf", csrf.as_str()), ("user", "alice@example.jp"), ("password", "correct horse")];
    let r = http.post(format!("{base}/sent/login")).header("cookie", pre).form(&form).send().await.unwrap();
    let console = session_cookie(&r);
    let page = http.get(format!("{base}/sent/m/{id}")).header("cookie", &console).send().await.unwrap();
    let page = page.text().await.unwrap();
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = page[at..at + page[at..].find('"').unwrap()].to_string();
    let before = s.queued().await;
    let resend = [("csrf", token.as_str()), ("idx", "0"), ("action", "resend")];
    let r =
        http.post(format!("{base}/sent/m/{id}/link")).header("cookie", &console).form(&resend).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(s.queued().await, before + 1, "a notice of its own is queued");
    assert_eq!(s.browser().open(&old.url).await.0, 404, "the old link stops working");
    let mails = s.stored_all().await;
    let mail = mails.iter().find(|m| m.info.sender.is_empty() && m.recipients[0].address == "bob@example.com").unwrap();
    let body = String::from_utf8(s.body(&mail.info.id)).unwrap();
    assert!(body.contains("Content-Type: multipart/alternative; boundary=\"=_sekisho_"), "{body}");
    let start = body.find("Content-Transfer-Encoding: base64\r\n\r\n").unwrap() + 35;
    let b64: String = body[start..start + body[start..].find("\r\n--").unwrap()].split_whitespace().collect();
    use base64::Engine as _;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    let at = text.find("Download: ").unwrap() + 10;
    let new_link = text[at..].lines().next().unwrap().trim().to_string();
    assert_ne!(new_link, old.url);
    let mut b = s.browser();
    let (status, page) = b.open(&new_link).await;
    assert_eq!(status, 200);
    assert!(page.contains(PORTAL_CODE_PAGE), "the new link follows today's policy (otp): {page}");
    let (status, page) = b.get_text("/d/files/0").await;
    assert_eq!(status, 403);
    assert!(page.contains("Enter the code"), "{page}");
    let events = s.queue.stores().links.events(&id).await.unwrap();
    assert!(events.iter().any(|e| e.event.as_str() == "resent" && e.detail.contains("queued as")), "{events:?}");
}
