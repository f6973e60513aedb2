//! The quarantine's administration: the portal's page for the accounts in `[portal]
//! administrators` (list, detail, release and delete with a confirmation and the session's
//! form token, each written to the audit log), and the daily digest to each recipient of what
//! was held for them, sent once.

mod support;

use base64::Engine as _;
use sekisho_config::Config;
use sekisho_policy::inbound::InboundAction;
use sekisho_store::{LinkEvent, RecipientState};
use sekisho_testkit::console::{get, http, sign_in};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server behind the gateway, and the gateway in front of it, which
/// quarantines mail with a file it could not scan (no antivirus: Error) or, with a real clamd,
/// a virus (Danger).
struct Site {
    _dns: FakeDns,
    internal: FakeMx,
    gw: TestServer,
    _clamd: Option<sekisho_testkit::Clamd>,
}

/// A file sekisho cannot scan without an antivirus: (name, base64).
const UNSCANNED: (&str, &str) = ("invoice.bin", "AAECAw==");

impl Site {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Site {
        let dns = FakeDns::start("127.0.0.53").await;
        let internal = FakeMx::start("127.0.0.97:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.97]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            c.inbound.error = InboundAction::Quarantine;
            c.inbound.danger = InboundAction::Quarantine;
            c.portal.administrators = vec!["postmaster@example.jp".into()];
            tweak(c);
        })
        .await;
        gw.add_user("postmaster@example.jp", "admin password").await;
        gw.add_user("alice@example.jp", "alice password").await;
        Site { _dns: dns, internal, gw, _clamd: None }
    }

    /// The same, scanning with a real clamd (the test kit's, with its own database).
    async fn scanned() -> Site {
        let clamd = sekisho_testkit::Clamd::start().await;
        let address = clamd.unix_address();
        let mut site = Site::start(move |c| c.antivirus.clamd = Some(address)).await;
        site._clamd = Some(clamd);
        site
    }

    /// Sends a message with `file` (name, base64) from the internet to `to`; its queue ID.
    async fn send(&self, header_from: &str, subject: &str, to: &[&str], file: (&str, &str)) -> String {
        let (name, base64) = file;
        let message = format!(
            "From: {header_from}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n\
             --b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {base64}\r\n--b--\r\n"
        );
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        let r = c.send_mail("billing@outside.example", to, &message).await;
        assert_eq!(r.code, 250, "{r:?}");
        queue_id(&r).unwrap()
    }

    fn base(&self) -> String {
        format!("http://{}", self.gw.portal.unwrap())
    }

    /// The command line on this site's data directory: (exit code, stdout, stderr).
    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let config = self.gw.dir().join("cli.toml");
        let data = self.gw.dir().join("data");
        std::fs::write(&config, format!("[store]\npath = \"{}\"\n", data.display())).unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            support::run(Some(&config), &args, "")
        })
        .await
        .unwrap()
    }
}

async fn wait_held(site: &Site, id: &str) {
    let d = site.gw.wait_for(id, 15, |d| d.recipients.iter().all(|r| r.state == RecipientState::Held)).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Held), "{d:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_releases_and_deletes_held_mail_on_the_portal_and_nobody_else_can() {
    let site = Site::scanned().await;
    let eicar = base64::engine::general_purpose::STANDARD.encode(sekisho_testkit::EICAR);
    let virus = ("invoice.com", eicar.as_str());
    let kept = site.send("Bank <notice@bank.example>", "Invoice 42", &["bob@example.jp"], virus).await;
    let dropped = site.send("billing@outside.example", "Second", &["carol@example.jp"], virus).await;
    wait_held(&site, &kept).await;
    wait_held(&site, &dropped).await;
    let (http, base) = (http(), site.base());

    // Not signed in: the console's sign-in page. Not an administrator: 403 with a sentence.
    let (status, page) = get(&http, format!("{base}/sent/quarantine"), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/sent/login\"") && !page.contains(&kept), "{page}");
    let alice = sign_in(&http, &base, "alice@example.jp", "alice password").await;
    for path in ["/sent/quarantine".to_string(), format!("/sent/quarantine/{kept}")] {
        let (status, page) = get(&http, format!("{base}{path}"), Some(&alice)).await;
        assert_eq!(status, 403, "{path}: {page}");
        assert!(page.contains("Only administrators can use this page"), "{page}");
        assert!(!page.contains("Invoice 42"), "{page}");
    }
    let (_, sent) = get(&http, format!("{base}/sent"), Some(&alice)).await;
    assert!(!sent.contains("/sent/quarantine"), "no link for a sender: {sent}");

    // The administrator sees both, with the header From that differs from the envelope.
    let admin = sign_in(&http, &base, "postmaster@example.jp", "admin password").await;
    let (_, sent) = get(&http, format!("{base}/sent"), Some(&admin)).await;
    assert!(sent.contains("href=\"/sent/quarantine\""), "{sent}");
    let (status, list) = get(&http, format!("{base}/sent/quarantine"), Some(&admin)).await;
    assert_eq!(status, 200, "{list}");
    let row = |id: &str| {
        let at = list.find(&format!("id=\"m-{id}\"")).unwrap_or_else(|| panic!("{id} listed: {list}"));
        list[at..at + list[at..].find("</tr>").unwrap()].to_string()
    };
    let kept_row = row(&kept);
    for text in [
        "billing@outside.example",
        "Bank &#60;notice@bank.example&#62;",
        "differs from the header",
        "Invoice 42",
        "bob@example.jp",
        &format!("invoice.com: danger — virus found: {}", sekisho_testkit::EICAR_SIGNATURE),
    ] {
        assert!(kept_row.contains(text), "{text}: {kept_row}");
    }
    assert!(!row(&dropped).contains("differs from the header"), "{}", row(&dropped));
    let (status, detail) = get(&http, format!("{base}/sent/quarantine/{kept}"), Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(detail.contains("danger file → quarantine (inbound.danger)"), "{detail}");
    assert!(detail.contains("invoice.com") && detail.contains(sekisho_testkit::EICAR_SIGNATURE), "{detail}");

    // A session from a mailed sign-in link is not an administrator's, even for a listed name.
    let linked = site.gw.console_cookie("postmaster@example.jp").await;
    let (status, page) = get(&http, format!("{base}/sent/quarantine"), Some(&linked)).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("sign in with your account"), "{page}");

    // Release: a confirmation, then a POST that needs the session's form token.
    let (status, confirm) = get(&http, format!("{base}/sent/quarantine/{kept}/release"), Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Release this message") && confirm.contains("Invoice 42"), "{confirm}");
    let csrf = sekisho_testkit::csrf_in(confirm.as_bytes()).unwrap();
    let post = |path: String, cookie: String, csrf: &str| {
        let form = [("csrf", csrf.to_string())];
        http.post(format!("{base}{path}")).header("cookie", cookie).header("accept-language", "en").form(&form).send()
    };
    let release = format!("/sent/quarantine/{kept}/release");
    assert_eq!(post(release.clone(), admin.clone(), "").await.unwrap().status().as_u16(), 403, "no token");
    assert_eq!(post(release.clone(), admin.clone(), "forged").await.unwrap().status().as_u16(), 403);
    assert_eq!(post(release.clone(), alice.clone(), &csrf).await.unwrap().status().as_u16(), 403, "not an admin");
    assert!(site.internal.received().is_empty(), "nothing left yet");
    let r = post(release.clone(), admin.clone(), &csrf).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/sent/quarantine");
    let got = site.internal.wait_for(1, 10).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.starts_with("X-Sekisho-Inspection: released; worst=danger;"), "{text}");
    assert!(text.contains("Subject: Invoice 42") && text.contains(&eicar), "delivered as it is: {text}");
    assert_eq!(post(release, admin.clone(), &csrf).await.unwrap().status().as_u16(), 404, "released once");

    // Delete: gone from the queue, never delivered.
    let delete = format!("/sent/quarantine/{dropped}/delete");
    let (_, confirm) = get(&http, format!("{base}{delete}"), Some(&admin)).await;
    assert!(confirm.contains("cannot be undone"), "{confirm}");
    assert_eq!(post(delete, admin.clone(), &csrf).await.unwrap().status().as_u16(), 303);
    assert!(site.gw.queue.stores().messages.message(&dropped).await.unwrap().is_none(), "deleted");
    let (_, list) = get(&http, format!("{base}/sent/quarantine"), Some(&admin)).await;
    assert!(!list.contains(&kept) && !list.contains(&dropped) && list.contains("Nothing is in quarantine"), "{list}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(site.internal.received().len(), 1, "the deleted one never leaves");

    // Each action is in the message's audit log with the administrator's name, and
    // `queue show` prints it.
    let events = site.gw.queue.stores().links.events(&kept).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, LinkEvent::QuarantineReleased);
    assert_eq!(events[0].detail, "released to 1 recipient(s) by postmaster@example.jp in the console");
    let deleted = site.gw.queue.stores().links.events(&dropped).await.unwrap();
    assert_eq!(deleted[0].event, LinkEvent::QuarantineDeleted, "{deleted:?}");
    let (code, out, err) = site.cli(&["queue", "show", &kept]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("quarantine-released: released to 1 recipient(s) by postmaster@example.jp in the console"),
        "{out}"
    );
}

/// The body of a sekisho text mail, decoded.
fn decoded_body(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).to_string();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let clean: String = body.split_whitespace().collect();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_tells_each_recipient_once_what_was_held_for_them() {
    let site = Site::start(|_| {}).await;
    let first =
        site.send("Bank <notice@bank.example>", "Invoice 42", &["bob@example.jp", "carol@example.jp"], UNSCANNED).await;
    let second = site.send("billing@outside.example", "Reminder", &["bob@example.jp"], UNSCANNED).await;
    wait_held(&site, &first).await;
    wait_held(&site, &second).await;

    let (code, out, err) = site.cli(&["quarantine", "digest", "--now", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let sent: serde_json::Value = serde_json::from_str(&out).unwrap();
    let to: Vec<&str> = sent.as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["bob@example.jp", "carol@example.jp"], "one mail per recipient: {out}");
    site.gw.queue.wake();
    let got = site.internal.wait_for(2, 10).await;
    let bob = got.iter().find(|m| m.rcpt_to == ["bob@example.jp"]).expect("bob's digest");
    assert!(bob.mail_from.is_empty(), "from the null sender");
    let text = decoded_body(&bob.data);
    for line in [
        "The following 2 message(s) for you are held",
        "  From: Bank <notice@bank.example> (envelope: <billing@outside.example>)\r\n",
        "  Subject: Invoice 42\r\n",
        "  Subject: Reminder\r\n",
        "  Why: invoice.bin: error — not scanned: no antivirus is configured\r\n",
        "ask your administrator",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let carol = got.iter().find(|m| m.rcpt_to == ["carol@example.jp"]).expect("carol's digest");
    let text = decoded_body(&carol.data);
    assert!(text.contains("Invoice 42") && !text.contains("Reminder"), "only what was held for her: {text}");

    // A second run, and a run after a restart, tell nobody again.
    let (code, out, _) = site.cli(&["quarantine", "digest", "--now"]).await;
    assert_eq!((code, out.trim()), (0, "no digest to send: nothing new is held"));
    let (code, out, _) = site.cli(&["quarantine", "digest", "--now"]).await;
    assert_eq!((code, out.trim()), (0, "no digest to send: nothing new is held"), "after a restart (a new process)");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(site.internal.received().len(), 2, "no digest twice");
    let (code, out, _) = site.cli(&["queue", "show", &first]).await;
    assert_eq!(code, 0);
    assert!(out.contains("quarantine-digest: bob@example.jp told in the quarantine digest"), "{out}");

    // Something new is held: the next run tells only about it.
    let third = site.send("x@outside.example", "Third", &["bob@example.jp"], UNSCANNED).await;
    wait_held(&site, &third).await;
    let (code, out, _) = site.cli(&["quarantine", "digest", "--now"]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("bob@example.jp: digest ") && out.contains("(1 message(s))"), "{out}");

    // The command line's release is the page's: written to the audit log with who ran it.
    let (code, _, err) = site.cli(&["quarantine", "release", &first]).await;
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = site.cli(&["queue", "show", &first]).await;
    assert!(out.contains("quarantine-released: released to 2 recipient(s) by "), "{out}");
    assert!(out.contains(" on the command line"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_digest_runs_once_per_day_even_across_a_restart() {
    let site = Site::start(|_| {}).await;
    let id = site.send("billing@outside.example", "Invoice 7", &["bob@example.jp"], UNSCANNED).await;
    wait_held(&site, &id).await;
    // The digest's time of day is this minute (UTC): the day's run is due now.
    let mut config = site.gw.config.clone();
    config.time_zone = sekisho_config::TimeZone::utc();
    let now = chrono::Utc::now();
    let minute = u16::try_from(chrono::Timelike::hour(&now) * 60 + chrono::Timelike::minute(&now)).unwrap();
    config.inbound.quarantine_digest = sekisho_config::DigestTime::at(minute / 60, minute % 60).unwrap();
    let run = |config: Config| {
        let queue = site.gw.queue.clone();
        let (stores, control) = (queue.stores().clone(), queue.control().clone());
        sekisho_portal::digest::run_daily(
            config,
            stores,
            control,
            move || queue.wake(),
            tokio::time::sleep(std::time::Duration::from_millis(800)),
        )
    };
    run(config.clone()).await;
    let got = site.internal.wait_for(1, 10).await;
    assert_eq!(got[0].rcpt_to, ["bob@example.jp"]);
    assert!(decoded_body(&got[0].data).contains("  Subject: Invoice 7\r\n"));

    // Something new is held, then sekisho restarts the same day: the day's digest was sent.
    let later = site.send("billing@outside.example", "Invoice 8", &["bob@example.jp"], UNSCANNED).await;
    wait_held(&site, &later).await;
    run(config).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(site.internal.received().len(), 1, "one digest a day");
}
