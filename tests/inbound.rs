//! Inbound protection through the MX listener: every file opened and classified before the
//! 250, the policy's action, and the record the trace shows.

mod support;

use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, InboundAction, Outcome};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server behind the gateway, and the gateway in front of it.
struct Site {
    _dns: FakeDns,
    internal: FakeMx,
    gw: TestServer,
}

impl Site {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Site {
        let dns = FakeDns::start("127.0.0.53").await;
        let internal = FakeMx::start("127.0.0.96:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.96]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            tweak(c);
        })
        .await;
        Site { _dns: dns, internal, gw }
    }

    /// Sends `message` from the internet to bob@example.jp; the final reply.
    async fn send(&self, message: &str) -> sekisho_testkit::Response {
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        c.send_mail("someone@outside.example", &["bob@example.jp"], message).await
    }

    async fn stored(&self, id: &str) -> MessageDetail {
        self.gw.queue.stores().messages.message(id).await.unwrap().expect("stored")
    }
}

fn with_file(name: &str, content_type: &str, base64: &str) -> String {
    format!(
        "From: someone@outside.example\r\nTo: bob@example.jp\r\nSubject: Invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the file.\r\n\
         --b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{base64}\r\n--b--\r\n"
    )
}

fn delivered(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| r.state == RecipientState::Delivered)
}

#[tokio::test]
async fn the_internal_server_gets_sekishos_summary_and_never_a_forged_one() {
    let site = Site::start(|_| {}).await;
    let message = "From: someone@outside.example\r\nX-Sekisho-Inspection: delivered; worst=safe; forged\r\n\
                   Subject: Hello\r\n\r\nJust text.\r\n";
    let r = site.send(message).await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 15, delivered).await;
    let record = d.info.inspection.as_ref().expect("inbound mail is inspected");
    assert_eq!((record.action, record.files.len()), (Outcome::Delivered, 0));
    assert_eq!(record.rule, "no file → deliver (inbound.safe)");
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.starts_with("X-Sekisho-Inspection: delivered; worst=safe; files=0;"), "{text}");
    assert_eq!(text.matches("X-Sekisho-Inspection").count(), 1, "the sender's copy is removed: {text}");
    assert!(text.ends_with("Just text.\r\n"), "the body is as received: {text}");
}

#[tokio::test]
async fn without_an_antivirus_a_file_is_never_safe_and_the_subject_says_so() {
    let site = Site::start(|c| {
        c.inbound.error = InboundAction::Deliver;
        c.inbound.subject_tag = "[要注意]".into();
    })
    .await;
    let r = site.send(&with_file("report.txt", "text/plain", "aGVsbG8gd29ybGQ=")).await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert_eq!(record.files.len(), 1);
    let file = &record.files[0];
    assert_eq!((file.name.as_str(), file.class, file.size), ("report.txt", FileClass::Error, 11));
    assert_eq!(file.reason, "not scanned: no antivirus is configured");
    assert_eq!(file.sha256.as_deref(), Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"));
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.contains("\r\nSubject: =?UTF-8?B?W+imgeazqOaEj10=?= Invoice\r\n"), "{text}");
    assert!(text.contains("worst=error; files=1; safe=0; unsupported=0; error=1; danger=0"), "{text}");
}

#[tokio::test]
async fn reject_refuses_before_the_250_and_names_the_file() {
    let site = Site::start(|c| c.inbound.error = InboundAction::Reject).await;
    let r = site.send(&with_file("invoice.zip", "application/zip", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==")).await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(r.lines[0].starts_with("5.7.1 \"invoice.zip\" is error: not scanned"), "{r:?}");
    assert_eq!(site.gw.queued().await, 0, "nothing is queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_holds_every_recipient_until_an_administrator_releases_or_deletes_it() {
    let site = Site::start(|c| c.inbound.error = InboundAction::Quarantine).await;
    let r = site.send(&with_file("a.bin", "application/octet-stream", "AAECAw==")).await;
    assert_eq!(r.code, 250, "{r:?}");
    let kept = queue_id(&r).unwrap();
    let dropped = queue_id(&site.send(&with_file("b.bin", "application/octet-stream", "AAECAw==")).await).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let d = site.stored(&kept).await;
    assert_eq!(d.info.inspection.as_ref().unwrap().action, Outcome::Quarantined);
    assert!(d.recipients.iter().all(|r| r.state == RecipientState::Held), "{d:#?}");
    assert!(site.internal.received().is_empty(), "nothing is delivered");

    // The administrator looks, releases one and deletes the other.
    let config = site.gw.dir().join("cli.toml");
    let data = site.gw.dir().join("data");
    std::fs::write(&config, format!("[store]\npath = \"{}\"\n", data.display())).unwrap();
    let cli = |args: &[&str], id: Option<&str>| {
        let config = config.clone();
        let args: Vec<String> = args.iter().copied().chain(id).map(str::to_string).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            support::run(Some(&config), &args, "")
        })
    };
    let (code, out, err) = cli(&["quarantine", "list", "--json"], None).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [kept.as_str(), dropped.as_str()]);
    assert_eq!(list[0]["inspection"]["files"][0]["class"], "error");
    let (code, out, _) = cli(&["quarantine", "show"], Some(&kept)).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.contains("inspection: quarantined — error file → quarantine (inbound.error)"), "{out}");
    assert!(out.contains("file:       a.bin ("), "{out}");
    let (code, out, _) = cli(&["quarantine", "release"], Some(&kept)).await.unwrap();
    assert_eq!((code, out.trim()), (0, format!("{kept}: released to 1 recipient(s)").as_str()));
    let (code, _, _) = cli(&["quarantine", "delete"], Some(&dropped)).await.unwrap();
    assert_eq!(code, 0);
    let (code, _, err) = cli(&["quarantine", "release"], Some(&dropped)).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains(&format!("no message {dropped} in quarantine")), "{err}");
    site.gw.queue.wake();
    let got = site.internal.wait_for(1, 10).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.starts_with("X-Sekisho-Inspection: released; worst=error;"), "{text}");
    assert!(text.contains("AAECAw=="), "a released message is delivered as it is");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(site.internal.received().len(), 1, "the deleted one never leaves");
}

#[tokio::test]
async fn an_ambiguous_message_is_refused_as_at_submission() {
    let site = Site::start(|_| {}).await;
    let message = "From: someone@outside.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
                   Content-Type: text/plain\r\nContent-Type: application/zip\r\n\r\nbody\r\n";
    let r = site.send(message).await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(r.lines[0].starts_with("5.6.0 MIME part 1 is ambiguous: more than one Content-Type field"), "{r:?}");
}

#[tokio::test]
async fn inspection_off_passes_mail_as_before() {
    let site = Site::start(|c| c.inbound.inspect = false).await;
    let r = site.send(&with_file("a.bin", "application/octet-stream", "AAECAw==")).await;
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 15, delivered).await;
    assert!(d.info.inspection.is_none());
    let got = site.internal.wait_for(1, 5).await;
    assert!(!String::from_utf8_lossy(&got[0].data).contains("X-Sekisho-Inspection"));
}

#[tokio::test]
async fn separate_keeps_the_files_on_the_portal_and_the_notice_lists_each_with_its_class() {
    let site = Site::start(|_| {}).await;
    let report = sekisho_testkit::mail::random_bytes(3000);
    let r =
        site.send(&with_file("report.bin", "application/octet-stream", &sekisho_testkit::mail::wrapped(&report))).await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert_eq!(record.action, Outcome::Separated, "an unscanned file is Error, and Error is separated by default");
    assert_eq!(record.rule, "error file → separate (inbound.error)");
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.starts_with("X-Sekisho-Inspection: separated; worst=error;"), "{text}");
    assert!(!text.contains(&sekisho_testkit::mail::wrapped(&report)[..60]), "the file is not in the mail");
    assert!(text.contains("See the file."), "the text stays");
    let notice = sekisho_testkit::mail::notice_text(&got[0].data);
    assert!(notice.contains("- report.bin (2.9 KiB): エラー"), "{notice}");
    assert!(notice.contains("Error (not scanned; download at your own risk): not scanned: no antivirus is configured"));
    let at = notice.find("Files and their classes: ").unwrap() + "Files and their classes: ".len();
    let link = notice[at..].lines().next().unwrap().trim().to_string();
    let portal = format!("http://{}", site.gw.portal.unwrap());
    assert!(link.starts_with(&format!("{portal}/d/")), "{link}");
    let mut b = sekisho_testkit::Browser::new(&portal);
    assert_eq!(b.follow(&link).await.status().as_u16(), 303);
    assert_eq!(b.get("/d").await.0, 200);
    let (status, _, _) = b.get("/d/files/0").await;
    assert_eq!(status, 403, "[inbound] access = \"none\": the page opens, and an unscanned file needs its warning");
    let form = [("csrf", b.csrf.as_str()), ("accept", "1")];
    let r = b.request(b.http.post(format!("{portal}/d/files/0")).form(&form)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sekisho_testkit::mail::sha256(&r.bytes().await.unwrap()), sekisho_testkit::mail::sha256(&report));
}

/// A site whose gateway scans with a real clamd (the test kit's, with its own database).
#[tokio::test]
async fn a_virus_uuencoded_in_the_text_cannot_be_separated_and_the_message_is_held() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|_| {}).await;
    let eicar = base64::engine::general_purpose::STANDARD.encode(sekisho_testkit::EICAR);
    // The attachment is separated as usual; the same file in the text is no attachment part.
    let message = with_file("invoice.com", "application/octet-stream", &eicar).replace(
        "See the file.\r\n",
        &format!("See the file.\r\n{}", sekisho_testkit::mail::uuencoded("invoice.com", sekisho_testkit::EICAR)),
    );
    let r = site.send(&message).await;
    assert_eq!(r.code, 250, "{r:?}");
    let id = queue_id(&r).unwrap();
    let d = site.gw.wait_for(&id, 15, |d| d.recipients.iter().all(|r| r.state == RecipientState::Held)).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert!(record.files.iter().all(|f| f.class == FileClass::Danger), "{record:#?}");
    let error = d.recipients[0].last_reply.as_deref().unwrap_or_default();
    assert!(error.contains("is encoded in the message's text, where it cannot be taken out"), "{d:#?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(site.internal.received().is_empty(), "nothing reaches the internal server");
}

async fn scanned_site(tweak: impl FnOnce(&mut Config)) -> (Site, sekisho_testkit::Clamd) {
    let clamd = sekisho_testkit::Clamd::start().await;
    let address = clamd.unix_address();
    let site = Site::start(move |c| {
        c.antivirus.clamd = Some(address);
        tweak(c);
    })
    .await;
    (site, clamd)
}

#[tokio::test]
async fn a_clean_file_scanned_by_clamd_is_safe_and_travels_as_it_is() {
    let (site, _clamd) = scanned_site(|_| {}).await;
    let r = site.send(&with_file("notes.txt", "text/plain", "bm90aGluZyB0byBzZWUgaGVyZQ==")).await;
    assert_eq!(r.code, 250, "{r:?}");
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert!(record.antivirus.starts_with("clamd at unix:"), "{}", record.antivirus);
    assert_eq!((record.files[0].class, record.files[0].reason.as_str()), (FileClass::Safe, "scanned: nothing found"));
    assert_eq!(record.action, Outcome::Delivered);
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.contains("bm90aGluZyB0byBzZWUgaGVyZQ=="), "the file travels as it is");
    assert!(text.starts_with("X-Sekisho-Inspection: delivered; worst=safe; files=1; safe=1;"), "{text}");
}

#[tokio::test]
async fn a_virus_is_danger_and_is_never_downloadable() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|_| {}).await;
    let eicar = base64::engine::general_purpose::STANDARD.encode(sekisho_testkit::EICAR);
    let r = site.send(&with_file("invoice.com", "application/octet-stream", &eicar)).await;
    assert_eq!(r.code, 250, "{r:?}");
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    let file = &record.files[0];
    assert_eq!(file.class, FileClass::Danger);
    assert_eq!(file.reason, format!("virus found: {}", sekisho_testkit::EICAR_SIGNATURE));
    assert_eq!(record.action, Outcome::Separated);
    let got = site.internal.wait_for(1, 5).await;
    assert!(!String::from_utf8_lossy(&got[0].data).contains(&eicar), "the virus is not delivered");
    let notice = sekisho_testkit::mail::notice_text(&got[0].data);
    assert!(
        notice.contains("invoice.com (68 bytes): 危険（ダウンロードできません） / Danger (cannot be downloaded)"),
        "{notice}"
    );
    let kept = site.gw.queue.stores().links.link_message(&d.info.id).await.unwrap().unwrap();
    assert!(kept.files.is_empty(), "a Danger file is never kept for download: {kept:?}");
}

#[tokio::test]
async fn a_virus_under_reject_is_refused_before_the_250() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|c| c.inbound.danger = InboundAction::Reject).await;
    let eicar = base64::engine::general_purpose::STANDARD.encode(sekisho_testkit::EICAR);
    let r = site.send(&with_file("a.txt", "text/plain", &eicar)).await;
    assert_eq!(r.code, 550, "{r:?}");
    assert_eq!(
        r.lines[0],
        format!(
            "5.7.1 \"a.txt\" is danger: virus found: {}; the recipient's gateway does not accept it",
            sekisho_testkit::EICAR_SIGNATURE
        )
    );
}

#[tokio::test]
async fn with_clamd_stopped_a_file_is_error_never_safe() {
    let (site, mut clamd) = scanned_site(|c| c.inbound.error = InboundAction::Deliver).await;
    clamd.stop();
    let r = site.send(&with_file("notes.txt", "text/plain", "aGVsbG8=")).await;
    assert_eq!(r.code, 250, "{r:?}");
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let file = &d.info.inspection.as_ref().unwrap().files[0];
    assert_eq!(file.class, FileClass::Error);
    assert!(file.reason.starts_with("not scanned: "), "{}", file.reason);
}

/// A ZIP made by Info-ZIP with `password` (ZipCrypto) holding `files`.
fn zip_with_password(password: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let mut cmd = std::process::Command::new("zip");
    cmd.current_dir(dir.path()).args(["-q", "-X", "-P", password, "out.zip"]);
    cmd.args(files.iter().map(|(n, _)| *n));
    assert!(cmd.status().expect("Info-ZIP's zip (scripts/test installs it)").success());
    std::fs::read(dir.path().join("out.zip")).unwrap()
}

#[tokio::test]
async fn the_password_in_the_same_mail_opens_the_archive_and_the_virus_inside_is_found() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|_| {}).await;
    let zip = zip_with_password("Zq7-4mTa", &[("invoice.doc.exe", sekisho_testkit::EICAR), ("readme.txt", b"hello")]);
    let body = "From: partner@outside.example\r\nSubject: Re: 請求書\r\nMIME-Version: 1.0\r\n\
                Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\
                Content-Transfer-Encoding: 8bit\r\n\r\n請求書をお送りします。\r\nパスワード：Zq7-4mTa\r\n--b\r\n\
                Content-Type: application/zip; name=\"invoice.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let message = format!("{body}{}\r\n--b--\r\n", base64::engine::general_purpose::STANDARD.encode(&zip));
    let r = site.send(&message).await;
    assert_eq!(r.code, 250, "{r:?}");
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert!(record.password_in_message, "{record:#?}");
    let archive = &record.files[0];
    assert_eq!(archive.class, FileClass::Danger, "{archive:#?}");
    let entry = |name: &str| archive.children.iter().find(|c| c.name == name).unwrap();
    assert_eq!(entry("invoice.doc.exe").reason, format!("virus found: {}", sekisho_testkit::EICAR_SIGNATURE));
    assert_eq!(entry("readme.txt").class, FileClass::Safe);
    let got = site.internal.wait_for(1, 5).await;
    let notice = sekisho_testkit::mail::notice_text(&got[0].data);
    assert!(notice.contains("the password of an encrypted attachment was written in this mail itself"), "{notice}");
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.contains("; password-in-message=yes"), "{text}");
}

#[tokio::test]
async fn without_the_password_an_encrypted_archive_is_unsupported() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|_| {}).await;
    let zip = zip_with_password("Zq7-4mTa", &[("a.txt", b"quarterly figures")]);
    let r = site
        .send(&with_file("a.zip", "application/zip", &base64::engine::general_purpose::STANDARD.encode(&zip)))
        .await;
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert!(!record.password_in_message);
    assert_eq!(record.files[0].class, FileClass::Unsupported, "{record:#?}");
    assert!(record.files[0].reason.starts_with("encrypted ("), "{}", record.files[0].reason);
    assert_eq!(record.action, Outcome::Separated);
}

/// A minimal Windows executable: the MZ header pointing at a PE signature.
fn pe() -> Vec<u8> {
    let mut pe = b"MZ".to_vec();
    pe.resize(0x200, 0);
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe
}

#[tokio::test]
async fn content_the_policy_forbids_is_danger_whatever_its_name() {
    use base64::Engine as _;
    use std::io::Write as _;
    let (site, _clamd) = scanned_site(|_| {}).await;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let r = site.send(&with_file("invoice.pdf", "application/pdf", &b64(&pe()))).await;
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let file = &d.info.inspection.as_ref().unwrap().files[0];
    assert_eq!(file.class, FileClass::Danger, "{file:#?}");
    assert!(file.reason.contains("executable (PE)"), "{}", file.reason);

    let mut xlsm = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in [
        ("[Content_Types].xml", &b"<?xml version=\"1.0\"?><Types/>"[..]),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/vbaProject.bin", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"),
    ] {
        xlsm.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        xlsm.write_all(bytes).unwrap();
    }
    let xlsm = xlsm.finish().unwrap().into_inner();
    let r = site.send(&with_file("figures.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", &b64(&xlsm))).await;
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let file = &d.info.inspection.as_ref().unwrap().files[0];
    assert_eq!(file.class, FileClass::Danger, "{file:#?}");
    assert!(file.reason.contains("Office document with macros"), "{}", file.reason);
}

#[tokio::test]
async fn content_left_out_of_danger_content_is_named_but_allowed() {
    use base64::Engine as _;
    let (site, _clamd) = scanned_site(|c| {
        c.inbound.danger_content = vec![sekisho_policy::inbound::DangerKind::Macros];
    })
    .await;
    let r = site
        .send(&with_file(
            "tool.bin",
            "application/octet-stream",
            &base64::engine::general_purpose::STANDARD.encode(pe()),
        ))
        .await;
    let d = site.gw.wait_for(&queue_id(&r).unwrap(), 15, delivered).await;
    let file = &d.info.inspection.as_ref().unwrap().files[0];
    assert_eq!(file.class, FileClass::Safe, "{file:#?}");
    assert!(file.reason.contains("allowed by policy"), "{}", file.reason);
}
