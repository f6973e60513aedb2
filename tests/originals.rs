//! The original a sanitised copy stands in for (メール無害化), through the real MX listener with
//! a real clamd: the recipient gets the copy; the original is kept sealed for the
//! administrators, who download it on the portal after a warning (audited under their name);
//! no one else, and nothing the recipient holds, can reach it; retention removes it.

mod support;

use std::io::Read as _;

use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, InboundAction, Outcome};
use sekisho_store::{LinkEvent, RecipientState};
use sekisho_testkit::console::{get, http, sign_in};
use sekisho_testkit::mail::sha256;
use sekisho_testkit::{Browser, Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server, the gateway in front of it (sanitising macros, with a real clamd
/// and an administrator), and the gateway's clamd.
struct Site {
    _dns: FakeDns,
    _clamd: sekisho_testkit::Clamd,
    internal: FakeMx,
    gw: TestServer,
}

impl Site {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Site {
        let clamd = sekisho_testkit::Clamd::start().await;
        let address = clamd.unix_address();
        let dns = FakeDns::start("127.0.0.53").await;
        let internal = FakeMx::start("127.0.0.98:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.98]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            c.antivirus.clamd = Some(address);
            c.inbound.sanitise_macros = true;
            c.portal.administrators = vec!["postmaster@example.jp".into()];
            tweak(c);
        })
        .await;
        gw.add_user("postmaster@example.jp", "admin password").await;
        gw.add_user("alice@example.jp", "alice password").await;
        Site { _dns: dns, _clamd: clamd, internal, gw }
    }

    /// Sends `message` from the internet to bob@example.jp; the id it was queued under.
    async fn send(&self, message: &str) -> String {
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        let r = c.send_mail("someone@outside.example", &["bob@example.jp"], message).await;
        assert_eq!(r.code, 250, "{r:?}");
        queue_id(&r).unwrap()
    }

    fn base(&self) -> String {
        format!("http://{}", self.gw.portal.unwrap())
    }

    /// The command line on this site's data directory: (exit code, stdout, stderr).
    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let config = self.gw.dir().join("cli.toml");
        let (data, key) = (self.gw.dir().join("data"), self.gw.dir().join("store.key"));
        std::fs::write(&config, format!("[store]\npath = \"{}\"\nkey_file = \"{}\"\n", data.display(), key.display()))
            .unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            support::run(Some(&config), &args, "")
        })
        .await
        .unwrap()
    }
}

/// A message with a text part and the given attachments (name, type, bytes).
fn with_files(files: &[(&str, &str, &[u8])]) -> String {
    let mut out = "From: Someone <someone@outside.example>\r\nTo: bob@example.jp\r\nSubject: Figures Q3\r\n\
                   MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                   Content-Type: text/plain\r\n\r\nSee the figures.\r\n"
        .to_string();
    for (name, content_type, bytes) in files {
        out.push_str(&format!(
            "--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            sekisho_testkit::mail::wrapped(bytes)
        ));
    }
    out.push_str("--b--\r\n");
    out
}

const XLSM: &str = "application/vnd.ms-excel.sheet.macroEnabled.12";

/// POST `csrf` to `url` with `cookie`: status, headers and body.
async fn post(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    csrf: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = http
        .post(url)
        .header("cookie", cookie)
        .header("accept-language", "en")
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// Every file under `dir`, read. The database's files are read by another process: closing a
/// descriptor of them here would drop this process's SQLite locks (POSIX locks are per
/// process), and a command run next would take the server's database for its own alone.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("queue.db")) {
            let read = std::process::Command::new("cat").arg(&path).output().unwrap();
            out.push((path, read.stdout));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_administrator_downloads_the_withheld_original_and_nobody_else_can_until_it_is_purged() {
    let site = Site::start(|_| {}).await;
    let original = sekisho_testkit::mail::xlsm();
    let id = site.send(&with_files(&[("figures.xlsm", XLSM, &original)])).await;
    let d = site.gw.wait_for(&id, 15, sekisho_testkit::mail::done).await;
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Delivered), "{d:#?}");
    let record = d.info.inspection.clone().unwrap();
    let copy = record.sanitised[0].copy.clone();
    assert_eq!((copy.name.as_str(), copy.class), ("figures.xlsx", FileClass::Safe));

    // The recipient gets the copy, not the original.
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.contains("filename=\"figures.xlsx\"") && !text.contains("figures.xlsm\""), "{text}");

    // The original is kept sealed: nowhere in the data directory in clear.
    let vba = b"Attribute VB_Name = \"Module1\"";
    for (path, bytes) in files_under(&site.gw.dir().join("data")) {
        assert!(!bytes.windows(vba.len()).any(|w| w == vba), "the VBA project in clear in {}", path.display());
    }

    let (http, base) = (http(), site.base());
    let list_url = format!("{base}/sent/originals");
    let confirm_url = format!("{base}/sent/originals/{id}/0");

    // Not signed in: the sign-in page. A sender who is not an administrator: 403, nothing shown.
    let (status, page) = get(&http, list_url.clone(), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("action=\"/sent/login\"") && !page.contains(&id), "{page}");
    let alice = sign_in(&http, &base, "alice@example.jp", "alice password").await;
    for url in [&list_url, &confirm_url] {
        let (status, page) = get(&http, url.clone(), Some(&alice)).await;
        assert_eq!(status, 403, "{url}: {page}");
        assert!(!page.contains("figures.xlsm") && !page.contains(&id), "{page}");
    }
    let (_, alice_sent) = get(&http, format!("{base}/sent"), Some(&alice)).await;
    let alice_csrf = sekisho_testkit::csrf_in(alice_sent.as_bytes()).unwrap();
    let (status, _, body) = post(&http, &confirm_url, &alice, &alice_csrf).await;
    assert_eq!(status, 403, "a sender's own form token is no administrator's");
    assert_ne!(sha256(&body), sha256(&original));
    // A session from a mailed sign-in link, even for the administrator's name, is not enough.
    let linked = site.gw.console_cookie("postmaster@example.jp").await;
    assert_eq!(get(&http, list_url.clone(), Some(&linked)).await.0, 403);

    // The administrator sees the message and the original.
    let admin = sign_in(&http, &base, "postmaster@example.jp", "admin password").await;
    let (status, list) = get(&http, format!("{base}/sent/quarantine"), Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(list.contains("href=\"/sent/originals\""), "the quarantine links to the originals: {list}");
    let (status, list) = get(&http, list_url.clone(), Some(&admin)).await;
    assert_eq!(status, 200, "{list}");
    let at = list.find(&format!("id=\"o-{id}-0\"")).unwrap_or_else(|| panic!("{id} listed: {list}"));
    let row = &list[at..at + list[at..].find("</tr>").unwrap()];
    for text in [
        "someone@outside.example",
        "Someone &#60;someone@outside.example&#62;",
        "Figures Q3",
        "bob@example.jp",
        "figures.xlsm",
        &format!("({} bytes)", original.len()),
        &format!("SHA-256 {}", sha256(&original)),
        "Office document with macros (vbaProject.bin)",
        "figures.xlsx",
        &format!("SHA-256 {}", copy.sha256.as_deref().unwrap()),
        &format!("href=\"/sent/originals/{id}/0\""),
    ] {
        assert!(row.contains(text), "{text}: {row}");
    }

    // The warning, then the POST with the session's form token.
    let (status, confirm) = get(&http, confirm_url.clone(), Some(&admin)).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("DANGER: this original carries macros") && confirm.contains("audit log"), "{confirm}");
    assert!(confirm.contains(&sha256(&original)) && confirm.contains("I understand the danger"), "{confirm}");
    let csrf = sekisho_testkit::csrf_in(confirm.as_bytes()).unwrap();
    assert_eq!(post(&http, &confirm_url, &admin, "").await.0, 403, "no form token");
    assert_eq!(post(&http, &confirm_url, &admin, "forged").await.0, 403);
    assert_eq!(post(&http, &format!("{base}/sent/originals/{id}/1"), &admin, &csrf).await.0, 404, "no such original");
    let events = site.gw.queue.stores().links.events(&id).await.unwrap();
    assert!(!events.iter().any(|e| e.event == LinkEvent::OriginalDownloaded), "nothing taken yet: {events:?}");
    let (status, headers, bytes) = post(&http, &confirm_url, &admin, &csrf).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(sha256(&bytes), sha256(&original), "the original as it was sent");
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"figures.xlsm\""));
    let events = site.gw.queue.stores().links.events(&id).await.unwrap();
    let taken: Vec<_> = events.iter().filter(|e| e.event == LinkEvent::OriginalDownloaded).collect();
    assert_eq!(taken.len(), 1, "{events:?}");
    assert!(
        taken[0].detail.contains("figures.xlsm") && taken[0].detail.contains("by postmaster@example.jp"),
        "{taken:?}"
    );

    // The command line lists it and writes it out, audited too.
    let (code, out, err) = site.cli(&["quarantine", "originals"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{id} #0")) && out.contains(&sha256(&original)), "{out}");
    assert!(out.contains("delivered:  figures.xlsx") && out.contains("subject:    Figures Q3"), "{out}");
    let (code, out, _) = site.cli(&["quarantine", "originals", "--json"]).await;
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json[0]["sha256"].as_str(), Some(sha256(&original).as_str()));
    assert!(json[0].get("key").is_none() && json[0].get("file_id").is_none(), "no key material: {out}");
    let exported = site.gw.dir().join("exported.xlsm");
    let (code, out, err) = site.cli(&["quarantine", "original", &id, "0", "--out", exported.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(sha256(&std::fs::read(&exported).unwrap()), sha256(&original));
    let (code, _, err) = site.cli(&["quarantine", "original", &id, "0", "--out", exported.to_str().unwrap()]).await;
    assert_eq!(code, 1, "an existing file is never overwritten: {err}");
    let events = site.gw.queue.stores().links.events(&id).await.unwrap();
    let taken = events.iter().filter(|e| e.event == LinkEvent::OriginalDownloaded).count();
    assert_eq!(taken, 2, "the export is audited too: {events:?}");

    // Retention: once older than it, the original and its sealed file are gone.
    let data_files = || files_under(&site.gw.dir().join("data/files")).into_iter().filter(|(p, _)| !p.ends_with("tmp"));
    let sealed = data_files().count();
    assert_eq!(sealed, 1, "one sealed file: the original");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (code, out, err) = site.cli(&["queue", "purge", "--older-than", "1s"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 withheld original(s)"), "{out}");
    assert_eq!(data_files().count(), 0, "the sealed file is removed");
    let (code, out, _) = site.cli(&["quarantine", "originals", "--json"]).await;
    assert_eq!((code, out.trim()), (0, "[]"), "the record is gone");
    let (_, list) = get(&http, list_url.clone(), Some(&admin)).await;
    assert!(!list.contains(&id) && list.contains("No original is kept."), "{list}");
    let (status, _, bytes) = post(&http, &confirm_url, &admin, &csrf).await;
    assert_eq!(status, 404);
    assert_ne!(sha256(&bytes), sha256(&original));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beside_a_separated_message_the_recipients_link_never_reaches_the_original() {
    // An encrypted ZIP is Unsupported, separated by default: the recipient gets a link.
    let site = Site::start(|c| c.inbound.unsupported = InboundAction::Separate).await;
    let original = sekisho_testkit::mail::xlsm();
    let secret = sekisho_testkit::mail::encrypted_zip("pw", &[("a.txt", b"quarterly figures")]);
    let id =
        site.send(&with_files(&[("figures.xlsm", XLSM, &original), ("secret.zip", "application/zip", &secret)])).await;
    let d = site.gw.wait_for(&id, 15, sekisho_testkit::mail::done).await;
    let record = d.info.inspection.clone().unwrap();
    assert_eq!(record.action, Outcome::Separated, "{record:?}");
    assert_eq!(record.sanitised[0].copy.class, FileClass::Safe);
    let kept = site.gw.queue.stores().originals.withheld(Some(&id)).await.unwrap();
    assert_eq!(kept.len(), 1, "the original is kept for the administrators");
    assert_eq!(kept[0].sha256, sha256(&original));

    let got = site.internal.wait_for(1, 5).await;
    let notice = sekisho_testkit::mail::notice_text(&got[0].data);
    let at = notice.find("Files and their classes: ").unwrap() + "Files and their classes: ".len();
    let link = notice[at..].lines().next().unwrap().trim().to_string();
    let mut b = Browser::new(&site.base());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("/sent/originals"), "{page}");
    let http = http();
    let mut reached = Vec::new();
    for n in ["0", "1", "2", "3", "-1"] {
        let (_, _, bytes) = b.get(&format!("/d/files/{n}")).await;
        reached.push(bytes);
        let form = [("csrf", b.csrf.as_str()), ("accept", "1")];
        let r = b.request(http.post(format!("{}/d/files/{n}", site.base())).form(&form)).send().await.unwrap();
        reached.push(r.bytes().await.unwrap().to_vec());
    }
    let (status, _, zip) = b.get("/d/all.zip").await;
    assert_eq!(status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).unwrap();
    for i in 0..archive.len() {
        let mut entry = Vec::new();
        archive.by_index(i).unwrap().read_to_end(&mut entry).unwrap();
        reached.push(entry);
    }
    reached.push(zip);
    let copy = record.sanitised[0].copy.sha256.clone().unwrap();
    assert!(reached.iter().any(|b| sha256(b) == copy), "the recipient downloads the copy");
    let vba = b"Attribute VB_Name = \"Module1\"";
    for bytes in &reached {
        assert_ne!(sha256(bytes), sha256(&original), "the recipient reached the original");
        assert!(!bytes.windows(vba.len()).any(|w| w == vba), "the VBA project reached the recipient");
    }
    // The recipient's session opens nothing of the administrators'.
    let r = b.request(http.get(format!("{}/sent/originals", site.base()))).send().await.unwrap();
    assert!(!r.text().await.unwrap().contains(&id));
    let r = b
        .request(http.post(format!("{}/sent/originals/{id}/0", site.base())).form(&[("csrf", b.csrf.as_str())]))
        .send()
        .await
        .unwrap();
    let page = r.bytes().await.unwrap();
    assert_ne!(sha256(&page), sha256(&original));
    assert!(String::from_utf8_lossy(&page).contains("action=\"/sent/login\""), "only the console's sign-in page");
}
