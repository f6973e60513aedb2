//! The portal's proofs under attack: a one-time code that opens only the session that asked for
//! it (so a wiretapper who reads the notice and the code mail cannot use them), the recipient's
//! "this wasn't me", code requests raced past the hourly limit, a verified session beside
//! someone else's wrong codes, and the sender console's sign-in under a guessing flood, mail
//! link scanners, sign-out and removed accounts. Everything over real sockets.

use sekisho_store::Access;
use sekisho_testkit::mail::{code_in, own_mail_text};
use sekisho_testkit::{Browser, FakeDns, TestServer};

/// A message with one file and an OTP link for bob@example.com: the link's URL.
async fn seed(s: &TestServer, message_id: &str) -> String {
    s.seed_link(message_id, &[("figures.pdf", b"the figures")], Access::Otp).await
}

async fn server(tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static) -> (FakeDns, TestServer) {
    TestServer::with_mail_held(tweak).await
}

/// The decoded texts of sekisho's own mails to `rcpt` waiting in the queue, oldest first.
async fn own_mails_to(s: &TestServer, rcpt: &str) -> Vec<String> {
    s.stored_all()
        .await
        .iter()
        .filter(|m| m.info.sender.is_empty() && m.recipients[0].address == rcpt)
        .filter_map(|m| own_mail_text(&s.body(&m.info.id)))
        .collect()
}

/// Waits up to 10 s until `n` of sekisho's own mails to `rcpt` are queued; returns them.
async fn wait_for_mails(s: &TestServer, rcpt: &str, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let mails = own_mails_to(s, rcpt).await;
        if mails.len() >= n {
            return mails;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} mails to {rcpt} were queued");
}

/// The first non-empty line after `label` in a mail text.
fn line_after(text: &str, label: &str) -> String {
    let at = text.find(label).unwrap_or_else(|| panic!("no `{label}` in {text}")) + label.len();
    text[at..].lines().map(str::trim).find(|l| !l.is_empty()).unwrap().to_string()
}

/// Asks for a code in browser `b`; the code and the whole code mail.
async fn ask_for_code(s: &TestServer, b: &Browser, n: usize) -> (String, String) {
    assert_eq!(b.submit("/d/code", &[]).await.0, 303);
    let mails = wait_for_mails(s, "bob@example.com", n).await;
    let mail = mails.last().unwrap().clone();
    let code = mail.split_once("Your one-time download code: ").unwrap().1[..6].to_string();
    (code, mail)
}

#[tokio::test]
async fn a_code_opens_only_the_session_that_asked_for_it_and_only_once() {
    let (_dns, s) = server(|_| {}).await;
    let url = seed(&s, "MBOUND1").await;
    let mut a = s.browser();
    let mut b = s.browser();
    assert_eq!(a.open(&url).await.0, 200);
    assert_eq!(b.open(&url).await.0, 200, "a second session of the same link (another cookie jar)");
    assert_ne!(a.cookie, b.cookie);
    let (code, mail) = ask_for_code(&s, &a, 1).await;
    assert!(code_in(&s.body(&s.stored_all().await[0].info.id)).is_some());
    assert!(mail.contains("Asked for by: 127.0.0.1, unknown browser at "), "{mail}");

    // The wiretapper's session: the right code, read off the wire, opens nothing.
    assert_eq!(b.verify(&code).await, 403);
    assert_eq!(b.get_text("/d/files/0").await.0, 403);
    // The session that asked for it: once.
    assert_eq!(a.verify(&code).await, 303);
    assert_eq!(a.get_text("/d/files/0").await, (200, "the figures".to_string()));
    let mut c = s.browser();
    c.open(&url).await;
    assert_eq!(c.verify(&code).await, 403, "a used code opens no other session");
    assert_eq!(b.verify(&code).await, 403);
}

#[tokio::test]
async fn this_wasnt_me_locks_the_link_ends_the_asking_session_and_tells_the_sender() {
    let (_dns, s) = server(|_| {}).await;
    let url = seed(&s, "MREPORT1").await;
    let mut intruder = s.browser();
    intruder.open(&url).await;
    let (_, mail) = ask_for_code(&s, &intruder, 1).await;
    let report = line_after(&mail, "If this was not you, open this link (it locks the link and tells the sender):");
    assert!(report.starts_with(&format!("http://{}/d/report/", s.portal.unwrap())), "{report}");

    // A mail scanner fetching the link changes nothing.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http.get(&report).header("accept-language", "en").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    assert!(page.contains("This wasn&#39;t me") || page.contains("This wasn't me"), "{page}");
    let csrf = sekisho_testkit::csrf_in(page.as_bytes()).unwrap();
    assert!(!s.queue.stores().links.link("MREPORT1", 0).await.unwrap().unwrap().locked(5));

    let post = |csrf: String| {
        http.post(&report).header("cookie", &cookie).header("accept-language", "en").form(&[("csrf", csrf)]).send()
    };
    assert_eq!(post("forged".into()).await.unwrap().status().as_u16(), 403, "the button's own form only");
    let r = post(csrf.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("The link is locked and the sender was told"));
    assert!(s.queue.stores().links.link("MREPORT1", 0).await.unwrap().unwrap().locked(5));
    assert_eq!(intruder.get_text("/d").await.0, 403, "the session that asked for the code is gone");
    assert_eq!(post(csrf).await.unwrap().status().as_u16(), 404, "a report counts once");

    let told = wait_for_mails(&s, "alice@example.jp", 1).await;
    assert!(told[0].contains("bob@example.com reported that someone else asked for a download code"), "{told:?}");
    assert!(told[0].contains("Asked for by: 127.0.0.1, unknown browser"), "{told:?}");
    let events = s.queue.stores().links.events("MREPORT1").await.unwrap();
    let reported = events.iter().find(|e| e.event == sekisho_store::LinkEvent::CodeReported).expect("recorded");
    assert!(reported.detail.contains("code asked for by 127.0.0.1"), "{reported:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_parallel_code_requests_mail_no_more_codes_than_the_hourly_limit() {
    let (_dns, s) = server(|c| c.portal.max_codes_per_hour = 5).await;
    let url = seed(&s, "MRACE1").await;
    let mut b = s.browser();
    b.open(&url).await;
    let asks = (0..30).map(|_| {
        let b = b.clone();
        tokio::spawn(async move { b.submit("/d/code", &[]).await.0 })
    });
    let mut statuses = Vec::new();
    for a in asks {
        statuses.push(a.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|&&s| s == 303).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 25, "{statuses:?}");
    assert_eq!(own_mails_to(&s, "bob@example.com").await.len(), 5, "at most the limit of code mails queued");
}

#[tokio::test]
async fn a_verified_session_keeps_its_files_when_someone_elses_wrong_codes_lock_the_link() {
    let (_dns, s) = server(|_| {}).await;
    let url = seed(&s, "MLOCK1").await;
    let mut bob = s.browser();
    bob.open(&url).await;
    let (code, _) = ask_for_code(&s, &bob, 1).await;
    assert_eq!(bob.verify(&code).await, 303);
    let mut guesser = s.browser();
    guesser.open(&url).await;
    for _ in 0..5 {
        assert_eq!(guesser.verify("000000").await, 403);
    }
    assert_eq!(guesser.verify("000000").await, 423, "the link is locked");
    assert_eq!(guesser.get_text("/d/files/0").await.0, 423);
    let (status, page) = bob.get_text("/d").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("figures.pdf"), "{page}");
    assert_eq!(bob.get_text("/d/files/0").await, (200, "the figures".to_string()));
}

/// The sign-in form token the console set in its cookie, and the cookie header to send back.
async fn sign_in_form(http: &reqwest::Client, base: &str) -> (String, String) {
    let r = http.get(format!("{base}/sent")).header("accept-language", "en").send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    (sekisho_testkit::csrf_in(page.as_bytes()).unwrap(), cookie)
}

/// Signs in with a password: the status, the console cookie if any, the page.
async fn sign_in(http: &reqwest::Client, base: &str, user: &str, password: &str) -> (u16, Option<String>, String) {
    let (csrf, pre) = sign_in_form(http, base).await;
    let form = [("csrf", csrf.as_str()), ("user", user), ("password", password)];
    let r = http
        .post(format!("{base}/sent/login"))
        .header("cookie", pre)
        .header("accept-language", "en")
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("sekisho-console="));
    (status, cookie, r.text().await.unwrap())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

#[tokio::test]
async fn fifty_six_wrong_passwords_lock_the_account_and_its_owner_is_told_once() {
    // The portal's request budget is not what is tested here.
    let (_dns, s) = server(|c| c.portal.rate_limit = 10_000).await;
    s.add_user("alice@example.jp", "correct horse").await;
    let (http, base) = (client(), format!("http://{}", s.portal.unwrap()));
    let mut statuses = Vec::new();
    for round in 0..7 {
        let tries = (0..8).map(|i| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(
                async move { sign_in(&http, &base, "alice@example.jp", &format!("guess {round} {i}")).await.0 },
            )
        });
        for t in tries {
            statuses.push(t.await.unwrap());
        }
    }
    assert_eq!(statuses.len(), 56);
    assert_eq!(statuses.iter().filter(|&&s| s == 403).count(), 10, "ten were checked: {statuses:?}");
    assert!(statuses.iter().all(|&s| s == 403 || s == 423), "{statuses:?}");
    let (status, cookie, page) = sign_in(&http, &base, "alice@example.jp", "correct horse").await;
    assert_eq!(status, 423, "the right password is refused while the account is locked");
    assert!(cookie.is_none());
    assert!(page.contains("This account is locked for a while"), "{page}");
    let told = wait_for_mails(&s, "alice@example.jp", 1).await;
    assert!(told[0].contains("10 wrong passwords were entered for the account alice@example.jp"), "{told:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(own_mails_to(&s, "alice@example.jp").await.len(), 1, "once per episode");
    // Another account from elsewhere is not affected (its own count).
    s.add_user("carol@example.jp", "battery staple").await;
    assert_eq!(sign_in(&http, &base, "carol@example.jp", "battery staple").await.0, 303);
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_is_hashed_a_few_at_a_time_and_then_refused_unhashed() {
    let (_dns, s) = server(|c| c.portal.rate_limit = 10_000).await;
    s.add_user("alice@example.jp", "correct horse").await;
    let (http, base) = (client(), format!("http://{}", s.portal.unwrap()));
    // Sixty at once, each for another name (known or not), from one address.
    let tries = (0..60).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        let user = if i % 2 == 0 { "alice@example.jp".to_string() } else { format!("nobody{i}@example.jp") };
        tokio::spawn(async move { sign_in(&http, &base, &user, "wrong").await.0 })
    });
    let mut statuses = Vec::new();
    for t in tries {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.len(), 60, "every request was answered");
    assert!(statuses.iter().all(|s| [403, 423, 429, 503].contains(s)), "{statuses:?}");
    let checked = statuses.iter().filter(|&&s| s == 403).count();
    assert!((1..=30).contains(&checked), "at most 30 checks per client address: {statuses:?}");
    let peak = s.portal_app.as_ref().unwrap().password_checks_peak();
    assert!((1..=2).contains(&peak), "at most two argon2 checks at once, saw {peak}");
}

#[tokio::test]
async fn a_mailed_sign_in_link_signs_in_only_by_its_button() {
    let (_dns, s) = server(|_| {}).await;
    let mine = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let (http, base) = (client(), format!("http://{}", s.portal.unwrap()));
    let (csrf, pre) = sign_in_form(&http, &base).await;
    let r = http
        .post(format!("{base}/sent/login-link"))
        .header("cookie", pre)
        .form(&[("csrf", csrf.as_str()), ("address", "alice@example.jp")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mail = wait_for_mails(&s, "alice@example.jp", 1).await.remove(0);
    let link = line_after(&mail, "To see what became of the mail you sent, open this link (within 15 minutes, once):");

    // What a mail scanner does: fetch it, twice. Nothing is used up, nobody is signed in.
    for _ in 0..2 {
        let r = http.get(&link).header("accept-language", "en").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers().get_all("set-cookie").iter().all(|c| !c.to_str().unwrap().starts_with("sekisho-console=")));
    }
    let r = http.get(&link).header("accept-language", "en").send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let csrf = sekisho_testkit::csrf_in(&r.bytes().await.unwrap()).unwrap();
    let press = |csrf: String, origin: &'static str| {
        http.post(&link).header("cookie", &cookie).header("origin", origin).form(&[("csrf", csrf)]).send()
    };
    assert_eq!(press(csrf.clone(), "https://evil.example").await.unwrap().status().as_u16(), 403, "cross-site");
    let r = press(csrf.clone(), "null").await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let console = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let list = http.get(format!("{base}/sent")).header("cookie", &console).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&mine), "{list}");
    assert_eq!(press(csrf, "null").await.unwrap().status().as_u16(), 404, "the link works once");
}

#[tokio::test]
async fn signing_out_and_removing_the_account_end_console_sessions() {
    let (_dns, s) = server(|_| {}).await;
    s.add_user("alice@example.jp", "correct horse").await;
    let mine = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let (http, base) = (client(), format!("http://{}", s.portal.unwrap()));
    let get = |path: String, cookie: String| {
        http.get(format!("{base}{path}")).header("cookie", cookie).header("accept-language", "en").send()
    };

    let (status, console, _) = sign_in(&http, &base, "alice@example.jp", "correct horse").await;
    assert_eq!(status, 303);
    let console = console.unwrap();
    let list = get("/sent".into(), console.clone()).await.unwrap().text().await.unwrap();
    assert!(list.contains(&mine) && list.contains("Sign out"), "{list}");
    let csrf = sekisho_testkit::csrf_in(list.as_bytes()).unwrap();
    let out = |csrf: String| {
        http.post(format!("{base}/sent/logout")).header("cookie", console.clone()).form(&[("csrf", csrf)]).send()
    };
    assert_eq!(out("forged".into()).await.unwrap().status().as_u16(), 403);
    let r = out(csrf).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let page = get("/sent".into(), console.clone()).await.unwrap().text().await.unwrap();
    assert!(!page.contains(&mine) && page.contains("action=\"/sent/login\""), "signed out: {page}");

    let (_, console, _) = sign_in(&http, &base, "alice@example.jp", "correct horse").await;
    let console = console.unwrap();
    assert!(get("/sent".into(), console.clone()).await.unwrap().text().await.unwrap().contains(&mine));
    assert!(s.queue.stores().accounts.delete_user("alice@example.jp").await.unwrap(), "what `sekisho user del` does");
    let page = get("/sent".into(), console.clone()).await.unwrap().text().await.unwrap();
    assert!(!page.contains(&mine) && page.contains("action=\"/sent/login\""), "the session ended: {page}");
    let r = get(format!("/sent/m/{mine}"), console).await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "sent to sign in");
    assert_eq!(r.headers()["location"], "/sent");
}

/// A server whose recipient domain example.com has a plaintext-only MX at 127.0.0.41 (the
/// weak path a wiretapper watches), under `code_min_assurance`.
async fn weak_path(floor: Option<sekisho_config::Assurance>) -> (FakeDns, sekisho_testkit::FakeMx, TestServer) {
    let dns = FakeDns::start("127.0.0.53").await;
    let mx = sekisho_testkit::FakeMx::start("127.0.0.41:0", sekisho_testkit::MxBehavior::default()).await;
    dns.mx("example.com", 10, "mx.example.com");
    dns.addr("mx.example.com", "127.0.0.41");
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.portal.code_min_assurance = floor).await;
    (dns, mx, s)
}

#[tokio::test]
async fn under_code_min_assurance_the_code_mail_waits_rather_than_travel_in_plaintext() {
    // Without a floor the code mail goes the weak way, as the notice did.
    let (_dns, mx, s) = weak_path(None).await;
    let url = seed(&s, "MFLOOR0").await;
    let mut b = s.browser();
    b.open(&url).await;
    assert_eq!(b.submit("/d/code", &[]).await.0, 303);
    sekisho_testkit::mail::code_from(&mx, "bob@example.com", 20).await;

    let (_dns, mx, s) = weak_path(Some(sekisho_config::Assurance::Encrypted)).await;
    let url = seed(&s, "MFLOOR1").await;
    let mut b = s.browser();
    b.open(&url).await;
    assert_eq!(b.submit("/d/code", &[]).await.0, 303);
    let mail = s.stored_all().await.into_iter().find(|m| m.info.sender.is_empty()).expect("the code mail is queued");
    let d = s.wait_for(&mail.info.id, 20, |d| d.recipients[0].attempts >= 1).await;
    let r = &d.recipients[0];
    assert_eq!(r.state, sekisho_store::RecipientState::Queued, "{d:#?}");
    let reply = r.last_reply.as_deref().unwrap_or_default();
    assert!(reply.contains("TLS required: encrypted; the session reached none"), "{reply}");
    assert!(mx.received().is_empty(), "not a byte of the code mail in plaintext");
}

#[tokio::test]
async fn below_code_min_assurance_the_link_falls_back_to_the_sender_relayed_password() {
    use sekisho_testkit::mail::{Names, done, link_in, message_with_files, notice_text, random_bytes};
    let dns = FakeDns::start("127.0.0.53").await;
    let home = sekisho_testkit::FakeMx::start("127.0.0.42:0", sekisho_testkit::MxBehavior::default()).await;
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.0.42");
    let port = home.addr.port();
    let plain = sekisho_testkit::FakeMx::start(&format!("127.0.0.43:{port}"), Default::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.0.43");
    let floor = Some(sekisho_config::Assurance::Encrypted);
    let s = TestServer::start_delivering(&dns, port, move |c| c.portal.code_min_assurance = floor).await;
    let report = random_bytes(5_000);
    let submitted = message_with_files("bob", &[("report.pdf", &report)], Names::Quoted);
    let id = s.submit("alice@example.jp", &["bob@plain.example"], &submitted).await;
    s.wait_for(&id, 30, done).await;
    let notice = notice_text(&plain.wait_for(1, 5).await[0].data);
    assert!(notice.contains("the password the sender gives you by phone or chat"), "{notice}");
    assert!(notice.contains("a one-time code cannot be mailed to you"), "the notice says why: {notice}");
    let told = home.wait_for(1, 10).await;
    assert_eq!(told[0].rcpt_to, ["alice@example.jp"], "the sender gets the password to pass on");
    let mut b = s.browser();
    let (status, page) = b.open(&link_in(&notice)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Enter the password the sender gave you"), "{page}");
    assert_eq!(b.submit("/d/code", &[]).await.0, 400, "no code mail for this link");
    let link = s.queue.stores().links.link(&id, 0).await.unwrap().unwrap();
    assert_eq!(link.access, Access::Password);
}
