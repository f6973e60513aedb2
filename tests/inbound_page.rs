//! The classification page of separated inbound mail, over HTTP: the route information (the
//! header From beside the envelope sender), each file's class, Danger never downloadable
//! whatever number is asked for, files that were not scanned only through the warning form,
//! and an encrypted ZIP opened with its password (wrong tries counted until the link locks),
//! its entries scanned by clamd and the Safe one downloadable.

mod support;

use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, Outcome};
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::mail::{encrypted_zip, notice_text, sha256, wrapped};
use sekisho_testkit::{Browser, Client, FakeDns, FakeMx, MxBehavior, TestServer, queue_id};

/// The internal mail server behind the gateway, the gateway scanning with the kit's clamd.
struct Site {
    _dns: FakeDns,
    internal: FakeMx,
    gw: TestServer,
    _clamd: sekisho_testkit::Clamd,
}

impl Site {
    async fn start(ip: &str, tweak: impl FnOnce(&mut Config)) -> Site {
        let clamd = sekisho_testkit::Clamd::start().await;
        let address = clamd.unix_address();
        let dns = FakeDns::start(&format!("{ip}3")).await;
        let internal = FakeMx::start(&format!("{ip}6:0"), MxBehavior::default()).await;
        let hop = format!("[{ip}6]:{}", internal.addr.port());
        let gw = TestServer::start_delivering(&dns, internal.addr.port(), move |c| {
            c.delivery.next_hop = Some(hop);
            c.antivirus.clamd = Some(address);
            tweak(c);
        })
        .await;
        Site { _dns: dns, internal, gw, _clamd: clamd }
    }

    /// Sends `message` from `sender` to bob@example.jp, waits until it is delivered; the
    /// stored message and the link of the notice the internal server got.
    async fn deliver(&self, sender: &str, message: &str) -> (MessageDetail, String) {
        let (mut c, _) = Client::connect(self.gw.mx).await;
        c.cmd("EHLO outside.example").await;
        let r = c.send_mail(sender, &["bob@example.jp"], message).await;
        assert_eq!(r.code, 250, "{r:?}");
        let id = queue_id(&r).unwrap();
        let d = self.gw.wait_for(&id, 30, |d| d.recipients.iter().all(|r| r.state == RecipientState::Delivered)).await;
        let got = self.internal.wait_for(1, 5).await;
        let notice = notice_text(&got[0].data);
        let at = notice.find("Files and their classes: ").expect("a notice") + "Files and their classes: ".len();
        (d, notice[at..].lines().next().unwrap().trim().to_string())
    }

    fn portal(&self) -> String {
        format!("http://{}", self.gw.portal.unwrap())
    }
}

/// A message from `from` (the header) with `files` attached.
fn message(from: &str, files: &[(&str, &[u8])]) -> String {
    let mut m = format!(
        "From: {from}\r\nTo: bob@example.jp\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the files.\r\n"
    );
    for (name, bytes) in files {
        m.push_str(&format!(
            "--b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            wrapped(bytes)
        ));
    }
    m.push_str("--b--\r\n");
    m
}

/// POST the warning form of file `n`, `accept`ed or not: the status and the bytes.
async fn warned(b: &Browser, n: usize, accept: bool) -> (u16, Vec<u8>) {
    let mut form = vec![("csrf", b.csrf.as_str())];
    if accept {
        form.push(("accept", "1"));
    }
    let r = b.request(b.http.post(format!("{}/d/files/{n}", b.base)).form(&form)).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

const CLEAN: &[u8] = b"minutes of the meeting, nothing else\n";

#[tokio::test]
async fn the_page_shows_the_route_and_each_class_and_danger_never_downloads() {
    let site = Site::start("127.0.31.", |_| {}).await;
    let secret = encrypted_zip("secret", &[("readme.txt", CLEAN)]);
    let files: [(&str, &[u8]); 3] =
        [("invoice.com", sekisho_testkit::EICAR), ("minutes.txt", CLEAN), ("secret.zip", &secret)];
    let (d, link) = site.deliver("someone@outside.example", &message("Bank <support@bank.example>", &files)).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert_eq!(record.action, Outcome::Separated);
    let classes: Vec<_> = record.files.iter().map(|f| f.class).collect();
    assert_eq!(classes, [FileClass::Danger, FileClass::Safe, FileClass::Unsupported], "{record:#?}");

    let mut b = Browser::new(&site.portal());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<td id=\"header-from\">Bank &#60;support@bank.example&#62;</td>"), "{page}");
    assert!(page.contains("<span id=\"envelope-from\">someone@outside.example</span>"), "{page}");
    assert!(page.contains("<strong class=\"differs\" id=\"differs\">differs from the header</strong>"), "{page}");
    assert!(page.contains("<td id=\"recipient\">bob@example.jp</td>") && page.contains("Your invoice"), "{page}");
    assert!(page.contains("<span class=\"badge danger\">Danger (cannot be downloaded)</span>"), "{page}");
    assert!(page.contains(&format!("virus found: {}", sekisho_testkit::EICAR_SIGNATURE)), "{page}");
    assert!(page.contains("<span class=\"badge safe\">Safe (can be downloaded)</span>"), "{page}");
    assert!(page.contains("<span class=\"badge unsupported\">Unsupported"), "{page}");
    assert!(page.contains("href=\"/d/files/1\""), "the Safe file has a link: {page}");
    assert!(!page.contains("href=\"/d/files/0\"") && !page.contains("action=\"/d/files/0\""), "none for Danger");
    assert!(!page.contains("href=\"/d/files/2\""), "no plain link for the unscanned file");
    assert!(page.contains("action=\"/d/files/2\"") && page.contains("action=\"/d/unlock/2\""), "{page}");

    // Danger: refused whatever the way in.
    let (status, _, body) = b.get("/d/files/0").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("This file was found dangerous: it cannot be downloaded."));
    assert_eq!(warned(&b, 0, true).await.0, 403, "no warning opens a Danger file");
    // Safe: as it is.
    let (status, _, body) = b.get("/d/files/1").await;
    assert_eq!((status, sha256(&body)), (200, sha256(CLEAN)));
    // Not scanned: only through the warning, accepted, with the page's form token.
    let (status, _, body) = b.get("/d/files/2").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("not scanned for viruses"));
    assert_eq!(warned(&b, 2, false).await.0, 403, "the box must be ticked");
    let forged = b.post("/d/files/2", &[("csrf", "forged"), ("accept", "1")], None).await;
    assert_eq!(forged.0, 403, "a form from elsewhere");
    let (status, body) = warned(&b, 2, true).await;
    assert_eq!((status, sha256(&body)), (200, sha256(&secret)));
    assert!(!page.contains("id=\"download-all\""), "one Safe file: no ZIP offered");
    // All files: the Safe ones only.
    let (status, _, zip) = b.get("/d/all.zip").await;
    assert_eq!(status, 200);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let names: Vec<_> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
    assert_eq!(names, ["minutes.txt"]);
    assert_eq!(archive.by_index(0).unwrap().size(), CLEAN.len() as u64);
}

#[tokio::test]
async fn an_encrypted_zip_opens_with_its_password_and_wrong_tries_lock_the_link() {
    let site = Site::start("127.0.32.", |c| c.portal.max_failures = 3).await;
    let secret = encrypted_zip("secret", &[("eicar.com", sekisho_testkit::EICAR), ("readme.txt", CLEAN)]);
    let files: [(&str, &[u8]); 1] = [("secret.zip", &secret)];
    let (d, link) = site.deliver("someone@outside.example", &message("someone@outside.example", &files)).await;
    assert_eq!(d.info.inspection.as_ref().unwrap().files[0].class, FileClass::Unsupported);

    let mut b = Browser::new(&site.portal());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("id=\"differs\""), "the header From is the envelope sender: {page}");
    assert_eq!(b.get("/d/unlocked/0/1").await.0, 404, "nothing opened yet");

    let (status, page) = b.submit("/d/unlock/0", &[("password", "wrong")]).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("The password is wrong. Tries left: 2"), "{page}");
    let (status, _) = b.post("/d/unlock/0", &[("csrf", "forged"), ("password", "secret")], None).await;
    assert_eq!(status, 403, "a form from elsewhere is never tried");

    let (status, page) = b.submit("/d/unlock/0", &[("password", "secret")]).await;
    assert_eq!(status, 303, "{page}");
    let (status, page) = b.get_text("/d").await;
    assert_eq!(status, 200);
    assert!(page.contains("Opened with the password"), "{page}");
    let eicar_row = page.find("<span class=\"file-name\">eicar.com</span>").expect(&page);
    assert!(page[eicar_row..].contains("badge danger"), "{page}");
    assert!(page.contains("href=\"/d/unlocked/0/1\""), "the clean entry downloads: {page}");
    assert!(!page.contains("href=\"/d/unlocked/0/0\""), "the virus does not: {page}");
    assert_eq!(b.get("/d/unlocked/0/0").await.0, 403);
    let (status, headers, body) = b.get("/d/unlocked/0/1").await;
    assert_eq!((status, sha256(&body)), (200, sha256(CLEAN)));
    assert!(headers["content-disposition"].to_str().unwrap().contains("readme.txt"));
    // Another visitor's session sees none of it.
    let mut other = Browser::new(&site.portal());
    other.open(&link).await;
    assert_eq!(other.get("/d/unlocked/0/1").await.0, 404);

    // Right resets the count; wrong tries up to [portal] max_failures lock the link.
    for left in [2, 1] {
        let (status, page) = b.submit("/d/unlock/0", &[("password", "nope")]).await;
        assert_eq!(status, 403);
        assert!(page.contains(&format!("Tries left: {left}")), "{page}");
    }
    let (status, page) = b.submit("/d/unlock/0", &[("password", "nope")]).await;
    assert_eq!(status, 423, "{page}");
    assert!(page.contains("Too many wrong passwords: this link is locked."), "{page}");
    let (status, _) = b.submit("/d/unlock/0", &[("password", "secret")]).await;
    assert_eq!(status, 423, "locked: not even the right password is tried");
    let events = site.gw.queue.stores().links.events(&d.info.id).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(kinds.contains(&"archive-opened") && kinds.contains(&"locked"), "{kinds:?}");
    assert!(events.iter().all(|e| !e.detail.contains("secret") || e.detail.contains("secret.zip")), "{events:?}");
}

#[tokio::test]
async fn a_virus_named_and_sized_like_a_clean_file_is_never_kept() {
    let site = Site::start("127.0.33.", |_| {}).await;
    let twin = vec![b'a'; sekisho_testkit::EICAR.len()];
    let files: [(&str, &[u8]); 2] = [("a.txt", &twin), ("a.txt", sekisho_testkit::EICAR)];
    let (d, link) = site.deliver("someone@outside.example", &message("someone@outside.example", &files)).await;
    let classes: Vec<_> = d.info.inspection.as_ref().unwrap().files.iter().map(|f| f.class).collect();
    assert_eq!(classes, [FileClass::Safe, FileClass::Danger]);
    let kept = site.gw.queue.stores().links.link_message(&d.info.id).await.unwrap().unwrap();
    let hashes: Vec<_> = kept.files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(hashes, [sha256(&twin)], "only the clean one is kept");
    let mut b = Browser::new(&site.portal());
    b.open(&link).await;
    assert_eq!(b.get("/d/files/1").await.0, 403);
    let (status, _, body) = b.get("/d/files/0").await;
    assert_eq!((status, body), (200, twin));
}

#[tokio::test]
async fn wrong_passwords_are_also_bounded_in_memory_with_429() {
    // The link would lock only after 100; the portal's own count of wrong tries stops first.
    let site = Site::start("127.0.34.", |c| c.portal.max_failures = 100).await;
    let secret = encrypted_zip("secret", &[("readme.txt", CLEAN)]);
    let (_, link) = site.deliver("someone@outside.example", &message("a@outside.example", &[("s.zip", &secret)])).await;
    let mut b = Browser::new(&site.portal());
    assert_eq!(b.open(&link).await.0, 200);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(b.submit("/d/unlock/0", &[("password", "guess")]).await.0);
    }
    assert_eq!(statuses, [[403; 10].as_slice(), &[429]].concat());
    let r = b.request(
        b.http.post(format!("{}/d/unlock/0", b.base)).form(&[("csrf", b.csrf.as_str()), ("password", "secret")]),
    );
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429, "not even the right one is tried now");
    assert_eq!(r.headers()["retry-after"], "900");
    assert!(r.text().await.unwrap().contains("Too many wrong passwords: try again in 15 minutes."));
}

#[tokio::test]
async fn with_otp_access_the_classes_show_but_nothing_opens_before_the_code() {
    let site = Site::start("127.0.35.", |c| c.inbound.access = sekisho_policy::Access::Otp).await;
    let secret = encrypted_zip("secret", &[("readme.txt", CLEAN)]);
    let files: [(&str, &[u8]); 2] = [("minutes.txt", CLEAN), ("s.zip", &secret)];
    let (_, link) = site.deliver("someone@outside.example", &message("a@outside.example", &files)).await;
    let mut b = Browser::new(&site.portal());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("badge safe") && page.contains("badge unsupported"), "{page}");
    assert!(page.contains("id=\"send-code\""), "the code form: {page}");
    assert!(!page.contains("/d/files/") && !page.contains("/d/unlock/"), "nothing to act on yet: {page}");
    assert_eq!(b.get("/d/files/0").await.0, 403);
    assert_eq!(b.submit("/d/unlock/1", &[("password", "secret")]).await.0, 403);
    assert_eq!(b.submit("/d/code", &[]).await.0, 303);
    let code = sekisho_testkit::mail::code_from(&site.internal, "bob@example.jp", 20).await;
    assert_eq!(b.verify(&code).await, 303);
    let (status, page) = b.get_text("/d").await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/d/files/0\"") && page.contains("action=\"/d/unlock/1\""), "{page}");
}

#[tokio::test]
async fn a_7z_with_encrypted_names_opens_with_its_password() {
    let site = Site::start("127.0.36.", |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), CLEAN).unwrap();
    let out = std::process::Command::new("7zz")
        .current_dir(dir.path())
        .args(["a", "-bso0", "-bsp0", "-psecret", "-mhe=on", "archive.7z", "readme.txt"])
        .output()
        .expect("7zz (Debian package 7zip)");
    assert!(out.status.success(), "7zz failed: {}", String::from_utf8_lossy(&out.stderr));
    let archive = std::fs::read(dir.path().join("archive.7z")).unwrap();
    let (d, link) = site.deliver("a@outside.example", &message("a@outside.example", &[("docs.7z", &archive)])).await;
    assert_eq!(d.info.inspection.as_ref().unwrap().files[0].class, FileClass::Unsupported);
    let mut b = Browser::new(&site.portal());
    let (_, page) = b.open(&link).await;
    assert!(page.contains("action=\"/d/unlock/0\""), "a 7z takes a password: {page}");
    assert_eq!(b.submit("/d/unlock/0", &[("password", "Secret")]).await.0, 403);
    assert_eq!(b.submit("/d/unlock/0", &[("password", "secret")]).await.0, 303);
    let (status, _, body) = b.get("/d/unlocked/0/0").await;
    assert_eq!((status, sha256(&body)), (200, sha256(CLEAN)));
}

#[tokio::test]
async fn a_password_in_the_mail_itself_is_a_warning_on_the_page() {
    let site = Site::start("127.0.37.", |_| {}).await;
    let secret = encrypted_zip("Kx7pQ2", &[("eicar.com", sekisho_testkit::EICAR), ("readme.txt", CLEAN)]);
    let body = message("a@outside.example", &[("invoice.zip", &secret)])
        .replace("See the files.", "The password for the attachment: Kx7pQ2");
    let (d, link) = site.deliver("a@outside.example", &body).await;
    let record = d.info.inspection.as_ref().unwrap();
    assert!(record.password_in_message, "{record:#?}");
    let mut b = Browser::new(&site.portal());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("<p class=\"message warning\" id=\"password-in-message\">Warning: the password"), "{page}");
    let entry = page.find("<span class=\"file-name\">eicar.com</span>").expect(&page);
    assert!(page[entry..].contains("badge danger"), "the entries the gateway opened are shown: {page}");
    assert!(!page.contains("action=\"/d/unlock/"), "nothing left to unlock: {page}");
}

#[tokio::test]
async fn with_unscanned_downloads_off_an_unscanned_file_never_downloads_but_its_password_still_opens_it() {
    let site = Site::start("127.0.38.", |c| c.inbound.unscanned_downloads = false).await;
    let secret = encrypted_zip("secret", &[("readme.txt", CLEAN)]);
    let files: [(&str, &[u8]); 2] = [("minutes.txt", CLEAN), ("secret.zip", &secret)];
    let (_, link) = site.deliver("someone@outside.example", &message("someone@outside.example", &files)).await;

    let mut b = Browser::new(&site.portal());
    let (status, page) = b.open(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("your organisation does not allow it"), "{page}");
    assert!(!page.contains("action=\"/d/files/1\""), "no warning form: {page}");
    assert!(page.contains("action=\"/d/unlock/1\""), "the password form stays: {page}");
    // Refused whatever the way in, the warning accepted or not.
    let (status, _, body) = b.get("/d/files/1").await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("your organisation does not allow it"));
    assert_eq!(warned(&b, 1, true).await.0, 403);
    // The Safe file as usual, and the archive's entries once its password opened it.
    let (status, _, body) = b.get("/d/files/0").await;
    assert_eq!((status, sha256(&body)), (200, sha256(CLEAN)));
    let (status, page) = b.submit("/d/unlock/1", &[("password", "secret")]).await;
    assert_eq!(status, 303, "{page}");
    let (_, page) = b.get_text("/d").await;
    assert!(page.contains("href=\"/d/unlocked/1/0\""), "{page}");
    let (status, _, body) = b.get("/d/unlocked/1/0").await;
    assert_eq!((status, sha256(&body)), (200, sha256(CLEAN)));
}
