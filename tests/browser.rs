//! The recipient's side in a real browser: a message with two attachments, one of them named
//! to break out of the page's markup, goes to an MX without STARTTLS; the download notice's
//! link is followed in headless Chromium (Debian's, driven by playwright-core from
//! `tests/browser/walk.mjs`) through the one-time-code flow, the code captured at the fake MX
//! and typed in by the script, to the first file downloaded through the page's own link. Its
//! SHA-256 must be the attachment's, the hostile name must show as text and never as markup,
//! and no dialog may appear.
//!
//! The sender's side too: in the console `/sent` (`tests/browser/console.mjs`) a wrong password
//! is refused, the right one signs in, the list and the message's page tell why the message went
//! as a link, with the evidence of its delivery, and the recipient's Revoke button revokes the
//! link, which then opens only the "revoked" page.
//!
//! Inbound, the classification page (`tests/browser/unlock.mjs`): a `zip -P` archive arrives
//! through the MX listener (Unsupported: encrypted), a wrong password is refused, the right one
//! shows each entry classified by clamd (EICAR Danger, a text Safe), and the Safe entry
//! downloads with its SHA-256.
//!
//! An administrator (`tests/browser/quarantine.mjs`) signs in, follows the console's link to the
//! quarantine, opens a held message and releases it through the confirmation; the message then
//! reaches the internal server and the audit log names the administrator.
//!
//! Who sent it (`tests/browser/findings.mjs`): a separated inbound message from a look-alike
//! domain whose display name is another address written as markup; its classification page
//! lists each finding with its evidence, the name shown as text.
//!
//! Hold and cancel (`tests/browser/held.mjs`): a message a mis-send rule holds five minutes is
//! listed in the console with the time left; its "Cancel" button cancels it, the page says it
//! will never be delivered, and it is never delivered.
//!
//! Approval (`tests/browser/approval.mjs`): the sender sees a message a rule holds for an
//! approver "awaiting approval by" them; the approver finds it in the console, opens the
//! approval page and rejects it with a comment; the sender then sees who rejected it and why,
//! and it is never delivered.
//!
//! The organisation's sign-in (`tests/browser/oidc.mjs`): the console's "Sign in with PROVIDER"
//! button leads to a real OpenID Provider on the loopback (oidc-provider-mock), and its answer
//! ends in the console, signed in as the user's verified address, listing their sent mail.
//!
//! The administrator's dashboard (`tests/browser/dashboard.mjs`): after a delivery over an
//! authenticated TLS session and one in plaintext, the administrator follows the console's link
//! to the dashboard, whose 24-hour chart Chromium draws with one segment per level, and a recent
//! delivery's link opens the message's page.
//!
//! Sending a large file (`tests/browser/send.mjs`): the sender signs in, opens the send page,
//! uploads a 300 MB file of random bytes; the progress bar reaches 100 % and the answer shows
//! the queue ID; the recipient (an MX without STARTTLS: a link) downloads the file in Chromium
//! and its SHA-256 is the file's. The server's resident memory is sampled during the upload.
//!
//! Screenshots of each step are kept under `target/browser-artefacts/` of the workspace, the
//! console's named `console-*.png`, the classification page's `unlock-*.png`. The scripts share `tests/browser/common.mjs`.
//!
//! Needs `node`, `/usr/bin/chromium` and `tests/browser/node_modules` (`scripts/test` installs
//! them); without them the test fails saying so.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use sekisho_store::RecipientState;
use sekisho_testkit::mail::{
    Names, code_from, done, encrypted_zip, link_in, message_with_files, notice_text, random_bytes, sha256,
};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

/// A whole walk in the browser is killed past this.
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

const HOSTILE: &str = "\"><svg onload=alert(1)>.pdf";

/// The file-name prefix of the console walk's screenshots.
const CONSOLE_SHOTS: &str = "console-";
/// The file-name prefix of the classification page walk's screenshots.
const UNLOCK_SHOTS: &str = "unlock-";
/// The file-name prefix of the quarantine release's screenshots.
const QUARANTINE_SHOTS: &str = "quarantine-";
/// The file-name prefix of the sender findings' screenshots.
const FINDINGS_SHOTS: &str = "findings-";
/// The file-name prefix of the held-message walk's screenshots.
const HELD_SHOTS: &str = "held-";

/// The file-name prefix of the OpenID Connect sign-in's screenshots.
const OIDC_SHOTS: &str = "oidc-";

/// The file-name prefix of the approval walk's screenshots.
const APPROVAL_SHOTS: &str = "approval-";
/// The file-name prefix of the send-a-file walk's screenshots.
const SEND_SHOTS: &str = "send-";
/// The file-name prefix of the search-and-send-again walk's screenshots.
const RESEND_SHOTS: &str = "resend-";
/// The file-name prefix of the dashboard walk's screenshots.
const DASHBOARD_SHOTS: &str = "dashboard-";

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 1000 && b.starts_with(b"\x89PNG\r\n\x1a\n"))
}

/// What the script said on stdout, and how it ended.
#[derive(Default, Debug)]
struct Walk {
    asked_for_code: bool,
    filename: Option<String>,
    sha256: Option<String>,
    /// The name the browser suggested for the whole message (`.eml`), when it was downloaded.
    original: Option<String>,
    done: bool,
    other: Vec<String>,
}

/// Fails at once, saying what to install, when node, Chromium or playwright-core is missing.
fn preflight() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let version = match std::process::Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => panic!("`node --version` failed ({}): install Node.js (scripts/test does)", out.status),
        Err(e) => panic!("cannot run node ({e}): install Node.js (scripts/test does)"),
    };
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "node {version} is too old: playwright-core needs Node.js 20 or later");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).is_file(), "no Chromium at {chromium}: install Debian's chromium (scripts/test does)");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci --prefix tests/browser` (scripts/test does)"
    );
}

/// The directory of the screenshots, emptied of the files `mine` names (the other walk's stay:
/// the tests run at the same time).
fn artefacts(mine: impl Fn(&str) -> bool) -> PathBuf {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artefacts");
    std::fs::create_dir_all(&shots).unwrap();
    for entry in std::fs::read_dir(&shots).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_str().is_some_and(&mine) {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    shots
}

/// Runs `tests/browser/{script}` with node and `env`, `talk` reading its stdout and writing to
/// its stdin; returns what `talk` made of it, the script's exit status and its stderr. Past
/// `SCRIPT_LIMIT` the script is killed and the test fails.
/// One Chromium at a time: two on a loaded two-core machine starve each other.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_script<T>(
    script: &str,
    env: &[(&str, &OsStr)],
    talk: impl AsyncFnOnce(&mut Lines<BufReader<ChildStdout>>, &mut ChildStdin) -> T,
) -> (T, ExitStatus, String) {
    run_script_within(SCRIPT_LIMIT, script, env, talk).await
}

/// `run_script` with a limit of its own.
async fn run_script_within<T>(
    limit: Duration,
    script: &str,
    env: &[(&str, &OsStr)],
    talk: impl AsyncFnOnce(&mut Lines<BufReader<ChildStdout>>, &mut ChildStdin) -> T,
) -> (T, ExitStatus, String) {
    let _one = ONE_BROWSER.lock().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = tokio::process::Command::new("node")
        .arg(Path::new("tests/browser").join(script))
        .current_dir(root)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js (scripts/test does)"));
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let whole = async {
        let made = talk(&mut stdout, &mut stdin).await;
        let status = child.wait().await.unwrap();
        (made, status)
    };
    match tokio::time::timeout(limit, whole).await {
        Ok((made, status)) => (made, status, errors.await.unwrap()),
        Err(_) => {
            // Chromium ends with node: it loses the pipe playwright-core drives it through.
            let _ = child.start_kill();
            let stderr = tokio::time::timeout(Duration::from_secs(5), errors).await.ok().and_then(Result::ok);
            panic!("{script} killed after {} s; its stderr:\n{}", limit.as_secs(), stderr.unwrap_or_default())
        }
    }
}

/// Runs `tests/browser/walk.mjs` on `link`, giving it the code that arrives at `mx` for `rcpt`
/// when it asks; returns what it printed, its exit status and its stderr.
async fn walk(link: &str, shots: &Path, mx: &FakeMx, rcpt: &str, original: &Path) -> (Walk, ExitStatus, String) {
    let env = [
        ("PORTAL_LINK", link.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
        ("HOSTILE_NAME", HOSTILE.as_ref()),
        ("ORIGINAL_OUT", original.as_os_str()),
    ];
    run_script("walk.mjs", &env, async |stdout, stdin| {
        let mut w = Walk::default();
        while let Some(line) = stdout.next_line().await.unwrap() {
            match line.split_once(' ').unwrap_or((line.as_str(), "")) {
                ("NEED_CODE", _) => {
                    w.asked_for_code = true;
                    let code = code_from(mx, rcpt, 20).await;
                    stdin.write_all(format!("{code}\n").as_bytes()).await.unwrap();
                    stdin.flush().await.unwrap();
                }
                ("FILENAME", name) => w.filename = Some(name.to_string()),
                ("SHA256", hex) => w.sha256 = Some(hex.to_string()),
                ("ORIGINAL", name) => w.original = Some(name.to_string()),
                ("DONE", _) => w.done = true,
                _ => w.other.push(line),
            }
        }
        w
    })
    .await
}

#[tokio::test]
async fn a_recipient_walks_from_the_notice_to_the_file_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.53").await;
    let home = FakeMx::start("127.0.7.60:0", MxBehavior::default()).await;
    let port = home.addr.port();
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.60");
    let plain_mx = FakeMx::start(&format!("127.0.7.61:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.7.61");
    let s = TestServer::start_delivering(&dns, port, |c| c.portal.original_download = true).await;

    let hostile = random_bytes(120_000);
    let sheet = random_bytes(30_000);
    let files: [(&str, &[u8]); 2] = [(HOSTILE, &hostile), ("明細.xlsx", &sheet)];
    let rcpt = "bob@plain.example";
    let id = s.submit("alice@example.jp", &[rcpt], &message_with_files(rcpt, &files, Names::Rfc2231)).await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let got = plain_mx.wait_for(1, 5).await;
    assert!(!got[0].tls, "the MX offers no STARTTLS");
    let notice = notice_text(&got[0].data);
    assert!(notice.contains(&format!("{HOSTILE} (117.2 KiB, SHA-256 {})", sha256(&hostile))), "{notice}");
    let link = link_in(&notice);
    let portal = format!("http://{}", s.portal.unwrap());
    assert!(link.starts_with(&format!("{portal}/d/")), "{link}");

    let shots = artefacts(|name| {
        ![CONSOLE_SHOTS, UNLOCK_SHOTS, QUARANTINE_SHOTS, HELD_SHOTS, APPROVAL_SHOTS].iter().any(|p| name.starts_with(p))
    });
    let started = std::time::Instant::now();
    let original = tempfile::tempdir().unwrap();
    let eml = original.path().join("message.eml");
    let (w, status, stderr) = walk(&link, &shots, &plain_mx, rcpt, &eml).await;
    eprintln!("walk.mjs took {:.1} s; {w:?}", started.elapsed().as_secs_f64());
    assert!(status.success(), "walk.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert!(w.asked_for_code && w.done, "{w:?}\n{stderr}");
    assert_eq!(w.sha256.as_deref(), Some(sha256(&hostile).as_str()), "the file downloaded is the file sent");
    let suggested = w.filename.as_deref().unwrap_or_default();
    assert!(suggested.ends_with(".pdf"), "the browser saves {suggested:?}");
    // The whole message, kept as the recipient's mail: every attachment byte for byte.
    assert_eq!(w.original.as_deref(), Some("message.eml"), "{w:?}");
    let saved = std::fs::read(&eml).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&saved).expect("the .eml is a message");
    let mut got: Vec<String> = parsed.attachments().map(|a| sha256(a.contents())).collect();
    let mut sent = vec![sha256(&hostile), sha256(&sheet)];
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "the .eml holds every file as sent");
    for name in ["01-opened.png", "02-code-sent.png", "04-files.png", "05-downloaded.png"] {
        assert!(is_png(&shots.join(name)), "no screenshot {name} in {}", shots.display());
    }

    // The audit log saw a browser do each step.
    let events = s.queue.stores().links.events(&id).await.unwrap();
    for e in ["opened", "code-sent", "verified", "download"] {
        let seen =
            events.iter().find(|x| x.event.as_str() == e).unwrap_or_else(|| panic!("{e} missing from {events:?}"));
        assert!(seen.user_agent.contains("Chrome"), "{e}: {}", seen.user_agent);
    }
}

#[tokio::test]
async fn a_sender_revokes_a_link_in_the_console_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.73").await;
    let home = FakeMx::start("127.0.7.70:0", MxBehavior::default()).await;
    let port = home.addr.port();
    dns.mx("example.jp", 10, "mx.example.jp");
    dns.addr("mx.example.jp", "127.0.7.70");
    let plain_mx = FakeMx::start(&format!("127.0.7.71:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.7.71");
    let s = TestServer::start_delivering(&dns, port, |_| {}).await;
    let (user, password) = ("alice@example.jp", "correct horse battery");
    s.add_user(user, password).await;

    let sheet = random_bytes(40_000);
    let rcpt = "bob@plain.example";
    let id = s.submit(user, &[rcpt], &message_with_files(rcpt, &[("quotation.pdf", &sheet)], Names::Rfc2231)).await;
    let d = s.wait_for(&id, 30, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    let got = plain_mx.wait_for(1, 5).await;
    assert!(!got[0].tls, "the MX offers no STARTTLS");
    let link = link_in(&notice_text(&got[0].data));
    let portal = format!("http://{}", s.portal.unwrap());
    assert!(link.starts_with(&format!("{portal}/d/")), "{link}");

    let shots = artefacts(|name| name.starts_with(CONSOLE_SHOTS));
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("RECIPIENT", rcpt.as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("EVIDENCE", "mx.plain.example[127.0.7.71]: no TLS".as_ref()),
        ("PORTAL_LINK", link.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let started = std::time::Instant::now();
    let (said, status, stderr) = run_script("console.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    eprintln!("console.mjs took {:.1} s; {said:?}\n{stderr}", started.elapsed().as_secs_f64());
    assert!(status.success(), "console.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-sign-in", "02-wrong-password", "03-list", "04-message", "05-revoked", "06-link-revoked"] {
        let name = format!("{CONSOLE_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }

    // The browser revoked the link, and the audit log says who, with what.
    let store = &s.queue.stores().links;
    assert!(store.link(&id, 0).await.unwrap().expect("the recipient's link").revoked);
    let events = store.events(&id).await.unwrap();
    let revoked =
        events.iter().find(|e| e.event.as_str() == "revoked").unwrap_or_else(|| panic!("no revoked in {events:?}"));
    assert!(revoked.user_agent.contains("Chrome"), "revoked by {:?}", revoked.user_agent);
    assert!(revoked.detail.contains(user), "{revoked:?}");
    assert_eq!(revoked.idx, Some(0), "{revoked:?}");
    assert!(!events.iter().any(|e| e.event.as_str() == "opened"), "the revoked link opened nothing: {events:?}");
}

#[tokio::test]
async fn a_recipient_unlocks_an_encrypted_zip_on_the_classification_page_in_chromium() {
    preflight();
    let clamd = sekisho_testkit::Clamd::start().await;
    let av = clamd.unix_address();
    let dns = FakeDns::start("127.0.7.83").await;
    let internal = FakeMx::start("127.0.7.86:0", MxBehavior::default()).await;
    let hop = format!("[127.0.7.86]:{}", internal.addr.port());
    let s = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
        c.delivery.next_hop = Some(hop);
        c.antivirus.clamd = Some(av);
    })
    .await;

    // The attack: a password-protected ZIP whose password is not in the mail.
    let readme = b"the quarterly figures are in the shared folder\n";
    let archive = encrypted_zip("secret", &[("eicar.com", sekisho_testkit::EICAR), ("readme.txt", readme)]);
    let message = format!(
        "From: Accounts <billing@bank.example>\r\nTo: bob@example.jp\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         The password follows in another mail.\r\n--b\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\n\
         Content-Disposition: attachment; filename=\"invoice.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        sekisho_testkit::mail::wrapped(&archive)
    );
    let (mut c, _) = sekisho_testkit::Client::connect(s.mx).await;
    c.cmd("EHLO outside.example").await;
    let r = c.send_mail("bounce@mailer.example", &["bob@example.jp"], &message).await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = sekisho_testkit::queue_id(&r).unwrap();
    s.wait_for(&id, 30, done).await;
    let got = internal.wait_for(1, 5).await;
    let notice = notice_text(&got[0].data);
    let at = notice.find("Files and their classes: ").expect(&notice) + "Files and their classes: ".len();
    let link = notice[at..].lines().next().unwrap().trim().to_string();

    let shots = artefacts(|name| name.starts_with(UNLOCK_SHOTS));
    let env = [
        ("PORTAL_LINK", link.as_ref()),
        ("ARCHIVE", "invoice.zip".as_ref()),
        ("PASSWORD", "secret".as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let started = std::time::Instant::now();
    let (said, status, stderr) = run_script("unlock.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    eprintln!("unlock.mjs took {:.1} s; {said:?}\n{stderr}", started.elapsed().as_secs_f64());
    assert!(status.success(), "unlock.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(
        said,
        [
            "DIFFERS yes".to_string(),
            "ENTRY danger eicar.com".into(),
            "ENTRY safe readme.txt".into(),
            "FILENAME readme.txt".into(),
            format!("SHA256 {}", sha256(readme)),
            "DONE".into(),
        ],
        "{stderr}"
    );
    for step in ["01-opened", "02-wrong", "03-opened", "04-downloaded"] {
        assert!(is_png(&shots.join(format!("unlock-{step}.png"))), "no screenshot unlock-{step}.png");
    }
    let events = s.queue.stores().links.events(&id).await.unwrap();
    let opened = events.iter().find(|e| e.event.as_str() == "archive-opened").expect("archive-opened");
    assert!(opened.user_agent.contains("Chrome"), "{opened:?}");
    assert!(events.iter().all(|e| !e.detail.contains("not-the-password")), "a password is never recorded");
    drop(clamd);
}

#[tokio::test]
async fn an_administrator_releases_a_quarantined_message_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.87").await;
    let internal = FakeMx::start("127.0.7.80:0", MxBehavior::default()).await;
    let hop = format!("[127.0.7.80]:{}", internal.addr.port());
    let (user, password) = ("postmaster@example.jp", "correct horse battery");
    let s = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
        c.delivery.next_hop = Some(hop);
        c.inbound.error = sekisho_policy::inbound::InboundAction::Quarantine;
        c.portal.administrators = vec![user.into()];
    })
    .await;
    s.add_user(user, password).await;
    let message = "From: billing@outside.example\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee.\r\n\
                   --b\r\nContent-Type: application/octet-stream; name=\"held.bin\"\r\n\
                   Content-Disposition: attachment; filename=\"held.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   AAECAw==\r\n--b--\r\n";
    let (mut c, _) = sekisho_testkit::Client::connect(s.mx).await;
    c.cmd("EHLO outside.example").await;
    let r = c.send_mail("billing@outside.example", &["bob@example.jp"], message).await;
    let id = sekisho_testkit::queue_id(&r).unwrap_or_else(|| panic!("{r:?}"));
    let d = s.wait_for(&id, 15, |d| d.recipients[0].state == RecipientState::Held).await;
    assert_eq!(d.recipients[0].state, RecipientState::Held, "{d:#?}");

    let portal = format!("http://{}", s.portal.unwrap());
    let shots = artefacts(|name| name.starts_with(QUARANTINE_SHOTS));
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("FILE", "held.bin".as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) = run_script("quarantine.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "quarantine.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-list", "02-message", "03-confirm", "04-released"] {
        let name = format!("{QUARANTINE_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
    let got = internal.wait_for(1, 10).await;
    assert!(String::from_utf8_lossy(&got[0].data).starts_with("X-Sekisho-Inspection: released;"));
    let events = s.queue.stores().links.events(&id).await.unwrap();
    let released = events.iter().find(|e| e.event.as_str() == "quarantine-released").expect("audited");
    assert!(released.user_agent.contains("Chrome"), "{released:?}");
    assert!(released.detail.contains(user), "{released:?}");
}

#[tokio::test]
async fn a_sender_cancels_a_held_message_in_the_console_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.88").await;
    let mx = FakeMx::start("127.0.7.81:0", MxBehavior::default()).await;
    dns.mx("held.example", 10, "mx.held.example");
    dns.addr("mx.held.example", "127.0.7.81");
    let rules = sekisho_config::Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"hold-outside\"\n\
         match = { recipient_class = [\"external\"] }\nactions = { hold = 5 }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = rules).await;
    let (user, password) = ("alice@example.jp", "correct horse battery");
    s.add_user(user, password).await;
    let id = s.submit(user, &["bob@held.example"], "Subject: the plan\r\n\r\nHere it is.\r\n").await;

    let shots = artefacts(|name| name.starts_with(HELD_SHOTS));
    let portal = format!("http://{}", s.portal.unwrap());
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) = run_script("held.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "held.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-held", "02-cancelled", "03-list"] {
        let name = format!("{HELD_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    assert_eq!(d.cancelled.unwrap().by, format!("console:{user}"));
    let now = chrono::Utc::now().timestamp();
    s.queue.control().apply(Some(&id), sekisho_store::Command::Retry, now).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(mx.received().is_empty(), "a cancelled message is never delivered");
}

#[tokio::test]
async fn the_classification_page_says_who_sent_the_message_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.91").await;
    let internal = FakeMx::start("127.0.7.92:0", MxBehavior::default()).await;
    let hop = format!("[127.0.7.92]:{}", internal.addr.port());
    let s = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
        c.delivery.next_hop = Some(hop);
        c.findings.partners = vec!["example-bank.co.jp".into()];
    })
    .await;
    // No antivirus: the file is Error, so the message is separated and has a page.
    let message = "From: \"<img src=x onerror=alert(1)><b>ceo@example.jp</b>\" <billing@examp1e-bank.co.jp>\r\n\
                   To: bob@example.jp\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee.\r\n\
                   --b\r\nContent-Type: application/octet-stream; name=\"invoice.bin\"\r\n\
                   Content-Disposition: attachment; filename=\"invoice.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   AAECAw==\r\n--b--\r\n";
    let (mut c, _) = sekisho_testkit::Client::connect(s.mx).await;
    c.cmd("EHLO outside.example").await;
    let r = c.send_mail("billing@examp1e-bank.co.jp", &["bob@example.jp"], message).await;
    let id = sekisho_testkit::queue_id(&r).unwrap_or_else(|| panic!("{r:?}"));
    s.wait_for(&id, 30, done).await;
    let got = internal.wait_for(1, 5).await;
    let notice = notice_text(&got[0].data);
    let at = notice.find("Files and their classes: ").expect(&notice) + "Files and their classes: ".len();
    let link = notice[at..].lines().next().unwrap().trim().to_string();

    let shots = artefacts(|name| name.starts_with(FINDINGS_SHOTS));
    let env = [("PORTAL_LINK", link.as_ref()), ("SCREENSHOT_DIR", shots.as_os_str())];
    let (said, status, stderr) = run_script("findings.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "findings.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(
        said,
        [
            "HEADING About the sender",
            "FINDING look-alike examp1e-bank.co.jp looks like example-bank.co.jp, a partner you write to: it is not that domain. \
             (examp1e-bank.co.jp ~ example-bank.co.jp (confusable characters))",
            "FINDING display-name-spoof The name shown, \"<img src=x onerror=alert(1)><b>ceo@example.jp</b>\", is another \
             address than the one this message came from (billing@examp1e-bank.co.jp). (display name \"<img src=x \
             onerror=alert(1)><b>ceo@example.jp</b>\", address billing@examp1e-bank.co.jp)",
            "FINDING first-contact Nobody in your organisation has written to billing@examp1e-bank.co.jp or to anyone at \
             examp1e-bank.co.jp before. (no mail written to billing@examp1e-bank.co.jp or to examp1e-bank.co.jp before)",
            "INJECTED 0",
            "DONE",
        ],
        "{stderr}"
    );
    for step in ["01-opened", "02-findings"] {
        let name = format!("{FINDINGS_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
}

#[tokio::test]
async fn an_approver_rejects_a_message_with_a_comment_and_the_sender_sees_why_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.93").await;
    let mx = FakeMx::start("127.0.7.95:0", MxBehavior::default()).await;
    dns.mx("approve.example", 10, "mx.approve.example");
    dns.addr("mx.approve.example", "127.0.7.95");
    let rules = sekisho_config::Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"contract-approval\"\n\
         match = { subject_keywords = [\"contract\"] }\n\
         actions = { require_approval = { approvers = [\"boss@example.jp\"], timeout = 60 } }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = rules).await;
    let (sender, sender_password) = ("alice@example.jp", "correct horse battery");
    let (approver, approver_password) = ("boss@example.jp", "staple battery horse");
    s.add_user(sender, sender_password).await;
    s.add_user(approver, approver_password).await;
    let message = "Subject: the contract\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                   Signed copy attached.\r\n--b\r\nContent-Type: application/pdf; name=\"contract.pdf\"\r\n\
                   Content-Disposition: attachment; filename=\"contract.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   JVBERi0xLjQKJSVFT0YK\r\n--b--\r\n";
    let id = s.submit(sender, &["bob@approve.example"], message).await;
    let comment = "Wrong customer: this contract is for Tanaka of Kita, not Minami";

    let shots = artefacts(|name| name.starts_with(APPROVAL_SHOTS));
    let portal = format!("http://{}", s.portal.unwrap());
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("SENDER_USER", sender.as_ref()),
        ("SENDER_PASSWORD", sender_password.as_ref()),
        ("APPROVER_USER", approver.as_ref()),
        ("APPROVER_PASSWORD", approver_password.as_ref()),
        ("COMMENT", comment.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) = run_script("approval.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "approval.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-awaiting", "02-to-decide", "03-approval-page", "04-rejected", "05-outcome"] {
        let name = format!("{APPROVAL_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    let decision = d.approval.unwrap().decision.unwrap();
    assert_eq!((decision.by.as_str(), decision.comment.as_str()), ("approver:boss@example.jp", comment));
    let events = s.queue.stores().links.events(&id).await.unwrap();
    let rejected = events.iter().find(|e| e.event.as_str() == "approval-rejected").expect("audited");
    assert!(rejected.user_agent.contains("Chrome"), "{rejected:?}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(mx.received().is_empty(), "a rejected message is never delivered");
}

#[tokio::test]
async fn a_sender_finds_an_old_quote_and_sends_its_expired_link_again_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.96").await;
    let home = FakeMx::start("127.0.7.97:0", MxBehavior::default()).await;
    let port = home.addr.port();
    let plain_mx = FakeMx::start(&format!("127.0.7.98:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.7.98");
    let s = TestServer::start_delivering(&dns, port, |c| {
        c.portal.keep_expired = sekisho_config::Duration::from_secs(30 * 86_400);
    })
    .await;
    let (user, password) = ("alice@example.jp", "correct horse battery");
    s.add_user(user, password).await;
    let rcpt = "bob@plain.example";
    let quote = random_bytes(30_000);
    let id = s.submit(user, &[rcpt], &message_with_files(rcpt, &[("quote-2025.pdf", &quote)], Names::Quoted)).await;
    let other =
        s.submit(user, &[rcpt], &message_with_files(rcpt, &[("minutes.pdf", &random_bytes(900))], Names::Quoted)).await;
    for m in [&id, &other] {
        let d = s.wait_for(m, 30, done).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{:#?}", d.recipients);
    }
    plain_mx.wait_for(2, 5).await;
    // A month later: the link expired; the hourly purge keeps the file (keep_expired).
    let now = chrono::Utc::now().timestamp();
    assert_eq!(s.queue.stores().links.set_link_expiry(&id, Some(0), now - 86_400).await.unwrap(), 1);
    s.portal_app.as_ref().unwrap().purge().await.unwrap();

    let shots = artefacts(|name| name.starts_with(RESEND_SHOTS));
    let portal = format!("http://{}", s.portal.unwrap());
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("OTHER_ID", other.as_ref()),
        ("SEARCH", "quote-2025".as_ref()),
        ("RECIPIENT", rcpt.as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) = run_script("resend.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "resend.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-search", "02-expired", "03-sent-again"] {
        let name = format!("{RESEND_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }

    // The new notice reached the recipient, and its link gives the same file.
    let got = plain_mx.wait_for(3, 30).await;
    let link = link_in(&notice_text(&got[2].data));
    let mut browser = s.browser();
    let (status, page) = browser.open(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("quote-2025.pdf"), "{page}");
    let events = s.queue.stores().links.events(&id).await.unwrap();
    let resent = events.iter().find(|e| e.event.as_str() == "resent").unwrap_or_else(|| panic!("{events:?}"));
    assert!(resent.user_agent.contains("Chrome"), "{resent:?}");
}

#[tokio::test]
async fn a_sender_signs_in_through_the_organisations_provider_in_chromium() {
    preflight();
    let provider = sekisho_testkit::oidc::OidcProvider::start("127.0.7.100");
    provider.set_user("hanako", serde_json::json!({"email": "hanako@example.jp", "email_verified": true}));
    let dns = FakeDns::start("127.0.7.103").await;
    let issuer = provider.issuer.clone();
    let s = TestServer::start_delivering(&dns, 9, |c| {
        let (id, secret) = provider.register(&format!("{}/sent/oidc/callback", c.portal.url));
        c.console.sign_in = vec![sekisho_config::SignInMethod::Local, sekisho_config::SignInMethod::Oidc];
        c.console.oidc.issuer = issuer.clone();
        c.console.oidc.client_id = id;
        c.console.oidc.client_secret = Some(secret);
    })
    .await;
    let id = s.submit("hanako@example.jp", &["bob@example.com"], "Subject: plans\r\n\r\nthe plans\r\n").await;
    let portal = format!("http://{}", s.portal.unwrap());
    let shots = artefacts(|name| name.starts_with(OIDC_SHOTS));
    let env = [
        ("PORTAL", portal.as_ref()),
        ("ISSUER", issuer.as_ref()),
        ("SUB", "hanako".as_ref()),
        ("SENDER", "hanako@example.jp".as_ref()),
        ("MESSAGE_ID", id.as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let started = std::time::Instant::now();
    let (said, status, stderr) = run_script("oidc.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    eprintln!("oidc.mjs took {:.1} s; {said:?}\n{stderr}", started.elapsed().as_secs_f64());
    assert!(status.success(), "oidc.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-sign-in", "02-provider", "03-signed-in"] {
        let name = format!("{OIDC_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
}

#[tokio::test]
async fn an_administrator_reads_the_dashboards_chart_and_opens_a_delivery_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.110").await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let pki_dir = std::env::temp_dir().join(format!("sekisho-browser-dashboard-{}-{nanos}", std::process::id()));
    let pki = TestPki::generate(&pki_dir, "mx.secure.example");
    let roots = vec![pki.ca_path.clone()];
    let secure = FakeMx::start("127.0.7.111:0", MxBehavior { tls: Some(pki), ..Default::default() }).await;
    let port = secure.addr.port();
    dns.mx("secure.example", 10, "mx.secure.example");
    dns.addr("mx.secure.example", "127.0.7.111");
    let _plain = FakeMx::start(&format!("127.0.7.112:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.7.112");
    let (user, password) = ("postmaster@example.jp", "correct horse battery");
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        c.portal.administrators = vec![user.into()];
    })
    .await;
    s.add_user(user, password).await;
    let mut ids = Vec::new();
    for rcpt in ["bob@secure.example", "carol@plain.example"] {
        let id = s.submit("alice@example.jp", &[rcpt], "Subject: report\r\n\r\nThe figures.\r\n").await;
        let d = s.wait_for(&id, 20, done).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
        ids.push(id);
    }

    let shots = artefacts(|name| name.starts_with(DASHBOARD_SHOTS));
    let portal = format!("http://{}", s.portal.unwrap());
    let env = [
        ("PORTAL", portal.as_ref()),
        ("MESSAGE_ID", ids[1].as_ref()),
        ("RECIPIENT", "carol@plain.example".as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("EXPECT", "authenticated=1 none=1".as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) = run_script("dashboard.mjs", &env, async |stdout, _| {
        let mut said = Vec::new();
        while let Some(line) = stdout.next_line().await.unwrap() {
            said.push(line);
        }
        said
    })
    .await;
    assert!(status.success(), "dashboard.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    assert_eq!(said, ["DONE"], "{stderr}");
    for step in ["01-dashboard", "02-trace"] {
        let name = format!("{DASHBOARD_SHOTS}{step}.png");
        assert!(is_png(&shots.join(&name)), "no screenshot {name} in {}", shots.display());
    }
}

/// The test process's resident memory (the server runs in it): (VmRSS, VmHWM) in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_uploads_300_mb_from_the_send_page_and_the_recipient_downloads_it_in_chromium() {
    preflight();
    let dns = FakeDns::start("127.0.7.120").await;
    let mx = FakeMx::start("127.0.7.121:0", MxBehavior::default()).await;
    dns.mx("big.example", 10, "mx.big.example");
    dns.addr("mx.big.example", "127.0.7.121");
    let s = TestServer::start_delivering(&dns, mx.addr.port(), |c| {
        c.portal.access = sekisho_policy::Access::None;
    })
    .await;
    let (user, password) = ("alice@example.jp", "correct horse battery");
    s.add_user(user, password).await;
    // 300 MB of random bytes in the test's temporary directory, written a MiB at a time.
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("dataset.bin");
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&upload).unwrap();
        for _ in 0..300 {
            let chunk = random_bytes(1 << 20);
            hash.update(&chunk);
            f.write_all(&chunk).unwrap();
        }
    }
    let expected: String = hash.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let (idle_rss, _) = memory_kib();

    // The server's memory, sampled while the browser uploads.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(memory_kib().0, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let shots = artefacts(|name| name.starts_with(SEND_SHOTS));
    let portal = format!("http://{}", s.portal.unwrap());
    let env = [
        ("PORTAL", portal.as_ref()),
        ("CONSOLE_USER", user.as_ref()),
        ("CONSOLE_PASSWORD", password.as_ref()),
        ("UPLOAD", upload.as_os_str()),
        ("RECIPIENT", "bob@big.example".as_ref()),
        ("SCREENSHOT_DIR", shots.as_os_str()),
    ];
    let (said, status, stderr) =
        run_script_within(Duration::from_secs(600), "send.mjs", &env, async |stdout, stdin| {
            let mut said = Vec::new();
            let mut upload_peak = 0;
            while let Some(line) = stdout.next_line().await.unwrap() {
                match line.split_once(' ').unwrap_or((line.as_str(), "")) {
                    ("UPLOADED", _) => upload_peak = peak.load(std::sync::atomic::Ordering::SeqCst),
                    ("NEED_LINK", _) => {
                        let got = mx.wait_for(1, 300).await;
                        let link = link_in(&notice_text(&got[0].data));
                        stdin.write_all(format!("{link}\n").as_bytes()).await.unwrap();
                        stdin.flush().await.unwrap();
                    }
                    _ => {}
                }
                said.push(line);
            }
            (said, upload_peak)
        })
        .await;
    sampling.abort();
    let (said, upload_peak) = said;
    assert!(status.success(), "send.mjs failed ({status}); screenshots in {}:\n{stderr}", shots.display());
    let (_, hwm) = memory_kib();
    eprintln!(
        "send page, 300 MB: test process idle {} MiB, peak RSS while uploading {} MiB, VmHWM at the end {} MiB",
        idle_rss / 1024,
        upload_peak / 1024,
        hwm / 1024
    );
    assert!(said.iter().any(|l| l == "UPLOADED"), "the bar reached 100 %: {said:?}");
    let id = said.iter().find_map(|l| l.strip_prefix("QUEUED ")).expect("a queue id").to_string();
    assert_eq!(said.iter().find_map(|l| l.strip_prefix("SHA256 ")), Some(expected.as_str()), "{stderr}");
    assert_eq!(said.last().map(String::as_str), Some("DONE"));
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.info.auth_user.as_deref(), Some(user));
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    // Memory stays bounded while the upload streams to the spool: far below the file's size.
    assert!(upload_peak > 0 && upload_peak < idle_rss + 150 * 1024, "peak {upload_peak} KiB, idle {idle_rss} KiB");
}
