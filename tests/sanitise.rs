//! Sanitised delivery of inbound mail (メール無害化) through the MX listener with a real clamd:
//! an Office document with macros reaches the recipient as a copy without its VBA project, and
//! HTML bodies reach them as text.

mod support;

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, Outcome};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server, the gateway in front of it, and the gateway's clamd.
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
        let internal = FakeMx::start("127.0.0.96:0", MxBehavior::default()).await;
        let hop = format!("[127.0.0.96]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            c.antivirus.clamd = Some(address);
            tweak(c);
        })
        .await;
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

    async fn delivered(&self, id: &str) -> MessageDetail {
        self.gw.wait_for(id, 15, |d| d.recipients.iter().all(|r| r.state == RecipientState::Delivered)).await
    }
}

fn b64(bytes: &[u8]) -> String {
    sekisho_testkit::mail::wrapped(bytes)
}

/// A message with a text part and the given attachments (name, type, bytes).
fn with_files(files: &[(&str, &str, &[u8])]) -> String {
    let mut out = "From: someone@outside.example\r\nTo: bob@example.jp\r\nSubject: Figures\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                   See the figures.\r\n"
        .to_string();
    for (name, content_type, bytes) in files {
        out.push_str(&format!(
            "--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(bytes)
        ));
    }
    out.push_str("--b--\r\n");
    out
}

/// The decoded bytes of the attachment part named `name` in a delivered message.
fn attachment(data: &[u8], name: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(data);
    let at = text.find(&format!("filename=\"{name}\""))?;
    let body = &text[at..];
    let body = &body[body.find("\r\n\r\n")? + 4..];
    let body = &body[..body.find("\r\n--")?];
    let clean: String = body.split_whitespace().collect();
    Some(base64::engine::general_purpose::STANDARD.decode(clean).unwrap())
}

fn part_names(zip: &[u8]) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().to_string()).collect()
}

fn part(zip: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut out = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn an_xlsm_with_macros_reaches_the_recipient_as_an_xlsx_without_its_vba_project() {
    let site = Site::start(|c| c.inbound.sanitise_macros = true).await;
    let original = sekisho_testkit::mail::xlsm();
    let id =
        site.send(&with_files(&[("figures.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", &original)])).await;
    let d = site.delivered(&id).await;
    let record = d.info.inspection.as_ref().unwrap();
    let file = &record.files[0];
    assert_eq!((file.name.as_str(), file.class), ("figures.xlsm", FileClass::Danger), "the original stays Danger");
    assert!(file.reason.starts_with("Office document with macros (vbaProject.bin)"), "{}", file.reason);
    assert!(file.reason.ends_with("; delivered as a sanitised copy, \"figures.xlsx\""), "{}", file.reason);
    let copy = &record.sanitised[0];
    assert_eq!((copy.original, copy.done.as_str()), (0, "VBA project removed"));
    assert_eq!((copy.copy.name.as_str(), copy.copy.class), ("figures.xlsx", FileClass::Safe));
    assert_eq!(copy.copy.reason, "VBA project removed; scanned: nothing found", "clamd scanned the copy");
    assert_eq!(record.action, Outcome::Delivered);
    assert_eq!(record.rule, "safe file → deliver (inbound.safe); 1 file replaced by its sanitised copy");
    // What `queue show` prints (the trace API serialises the same record).
    let config = site.gw.dir().join("cli.toml");
    std::fs::write(&config, format!("[store]\npath = \"{}\"\n", site.gw.dir().join("data").display())).unwrap();
    let show = |json: bool| {
        let (config, id) = (config.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            let mut args = vec!["queue", "show", id.as_str()];
            args.extend(json.then_some("--json"));
            support::run(Some(&config), &args, "")
        })
    };
    let (code, out, err) = show(true).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let sanitised = &json["inspection"]["sanitised"][0];
    assert_eq!((sanitised["original"].as_u64(), sanitised["name"].as_str()), (Some(0), Some("figures.xlsx")));
    assert_eq!((sanitised["class"].as_str(), sanitised["done"].as_str()), (Some("safe"), Some("VBA project removed")));
    assert_eq!(sanitised["sha256"].as_str(), copy.copy.sha256.as_deref());
    let (_, out, _) = show(false).await.unwrap();
    assert!(out.contains("sanitised:  figures.xlsm → figures.xlsx ("), "{out}");

    let got = site.internal.wait_for(1, 5).await;
    let data = &got[0].data;
    let text = String::from_utf8_lossy(data).to_string();
    assert!(text.starts_with("X-Sekisho-Inspection: delivered; worst=safe; files=1;"), "{text}");
    assert!(text.contains("; sanitised=1 (VBA project removed: the attached copy has no macros;"), "{text}");
    assert!(text.contains("See the figures."), "the text stays");
    assert!(attachment(data, "figures.xlsm").is_none(), "the original is withheld: {text}");
    assert!(!text.contains(&b64(&original)[..60]));
    let delivered = attachment(data, "figures.xlsx").expect("the copy is attached");
    assert!(text.contains("Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"));
    assert_eq!(Some(sekisho_testkit::mail::sha256(&delivered)), copy.copy.sha256, "the copy that was inspected");
    let names = part_names(&delivered);
    assert!(!names.iter().any(|n| n.contains("vbaProject")), "{names:?}");
    assert_eq!(part(&delivered, "xl/worksheets/sheet1.xml"), "<worksheet><sheetData/></worksheet>");
    let types = part(&delivered, "[Content_Types].xml");
    assert!(!types.contains("macroEnabled") && !types.contains("vbaProject"), "{types}");
    assert!(types.contains("spreadsheetml.sheet.main+xml"), "{types}");
    assert!(!part(&delivered, "xl/_rels/workbook.xml.rels").contains("vbaProject"));
}

#[tokio::test]
async fn beside_a_file_that_is_separated_the_copy_is_kept_for_download_and_the_original_is_not() {
    let site = Site::start(|c| c.inbound.sanitise_macros = true).await;
    // An encrypted ZIP (the central directory says so) is Unsupported: the message is separated.
    let zip = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().with_aes_encryption(zip::AesMode::Aes256, "pw");
        w.start_file("a.txt", options).unwrap();
        w.write_all(b"quarterly figures").unwrap();
        w.finish().unwrap().into_inner()
    };
    let message = with_files(&[
        ("figures.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12", &sekisho_testkit::mail::xlsm()),
        ("secret.zip", "application/zip", &zip),
    ]);
    let id = site.send(&message).await;
    let d = site.delivered(&id).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert_eq!(record.action, Outcome::Separated);
    assert_eq!(record.sanitised[0].copy.class, FileClass::Safe);
    let got = site.internal.wait_for(1, 5).await;
    let notice = sekisho_testkit::mail::notice_text(&got[0].data);
    assert!(
        notice.contains("- figures.xlsx (")
            && notice.contains("Sanitised (a copy with its macros removed; can be downloaded."),
        "{notice}"
    );
    assert!(notice.contains("- figures.xlsm ("), "the original is listed with its class: {notice}");
    let kept = site.gw.queue.stores().links.link_message(&d.info.id).await.unwrap().unwrap();
    let names: Vec<&str> = kept.files.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"figures.xlsx") && !names.contains(&"figures.xlsm"), "{names:?}");

    // On the classification page the copy is a Safe file under its original.
    let at = notice.find("Files and their classes: ").unwrap() + "Files and their classes: ".len();
    let link = notice[at..].lines().next().unwrap().trim().to_string();
    let portal = format!("http://{}", site.gw.portal.unwrap());
    let mut b = sekisho_testkit::Browser::new(&portal);
    assert_eq!(b.follow(&link).await.status().as_u16(), 303);
    let (status, page) = b.get_text("/d").await;
    assert_eq!(status, 200);
    assert!(page.contains("figures.xlsx") && page.contains("href=\"/d/files/0\""), "{page}");
    let (status, _, bytes) = b.get("/d/files/0").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(Some(sekisho_testkit::mail::sha256(&bytes)), record.sanitised[0].copy.sha256);
    assert!(!part_names(&bytes).iter().any(|n| n.contains("vbaProject")));
}

#[tokio::test]
async fn html_bodies_reach_the_recipient_as_text_with_their_links_shown() {
    let site = Site::start(|c| c.inbound.html_to_text = true).await;
    // Alone, in ISO-2022-JP: converted.
    let html = "<html><body><p>ご確認ください: <a href=\"https://evil.example/login\">銀行のサイト</a></p>\
                <script>alert(1)</script></body></html>";
    let jis = iso_2022_jp(html);
    let message = format!(
        "From: someone@outside.example\r\nTo: bob@example.jp\r\nSubject: html\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=iso-2022-jp\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64(&jis)
    );
    let id = site.send(&message).await;
    let d = site.delivered(&id).await;
    assert!(d.info.inspection.as_ref().unwrap().html_to_text);
    let got = site.internal.wait_for(1, 5).await;
    let text = String::from_utf8_lossy(&got[0].data).to_string();
    assert!(text.contains("; html=text (shown as plain text, every link as its address)"), "{text}");
    assert!(text.contains("Content-Type: text/plain; charset=UTF-8\r\n") && !text.contains("text/html"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let body: String = body.split_whitespace().collect();
    let body = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap();
    assert_eq!(body, "ご確認ください: 銀行のサイト <https://evil.example/login>\r\n");

    // Beside a text/plain alternative: the HTML goes, the text stays as it was.
    let message = "From: someone@outside.example\r\nTo: bob@example.jp\r\nSubject: alt\r\nMIME-Version: 1.0\r\n\
                   Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
                   --a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words.\r\n\
                   --a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Rich <a href=\"https://x.example/\">words</a></p>\r\n--a--\r\n";
    site.send(message).await;
    let got = site.internal.wait_for(2, 5).await;
    let text = String::from_utf8_lossy(&got[1].data).to_string();
    assert!(text.contains("--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words.\r\n--a--\r\n"), "{text}");
    assert!(!text.contains("text/html") && !text.contains("x.example"), "{text}");
}

/// `text` in ISO-2022-JP, as Japanese mail programs write it (iconv, installed with libc).
fn iso_2022_jp(text: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("iconv")
        .args(["-f", "UTF-8", "-t", "ISO-2022-JP"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("iconv");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}
