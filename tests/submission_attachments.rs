//! Encrypted attachments at submission, over a real SMTP session: files made by the real tools
//! (zip -P, 7-Zip with AES and with hidden names, qpdf, msoffcrypto-tool, LibreOffice; see
//! crates/inspect/tests/fixtures/make.sh) are refused with 550 5.7.1 and a sentence, nested ones
//! too; their unencrypted twins are queued. Nothing refused reaches the queue.

use base64::Engine as _;
use sekisho_testkit::{Client, TestServer};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/crates/inspect/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A message with a text part and `name` attached, base64 in 76-character lines.
fn mail_with(name: &str, bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "From: alice@example.jp\r\nTo: bob@partner.example\r\nSubject: the file\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"=-b\"\r\n\r\n--=-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Please find the file attached.\r\n--=-b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--=-b--\r\n",
        lines.join("\r\n")
    )
}

async fn submit(s: &TestServer, content: &str) -> (u16, String) {
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c.send_mail("alice@example.jp", &["bob@partner.example"], content).await;
    (r.code, r.text())
}

#[tokio::test]
async fn encrypted_files_made_by_real_tools_are_refused_and_their_twins_pass() {
    let s = TestServer::start().await;
    let cases = [
        ("zipcrypto.zip", "ZipCrypto"),
        ("aes256.zip", "AES-256"),
        ("headers-encrypted.7z", "names hidden"),
        ("content-encrypted.7z", "7z"),
        ("encrypted.pdf", "encrypted PDF"),
        ("encrypted-xref-stream.pdf", "encrypted PDF"),
        ("encrypted.docx", "Office document"),
        ("encrypted.xlsx", "Office document"),
        ("encrypted.doc", "Office 97-2003"),
        ("encrypted.xls", "Office 97-2003"),
        ("encrypted.odt", "OpenDocument"),
        ("docx-in-zip.zip", "Office document"),
        ("zip-in-zip.zip", "ZIP entry"),
        ("pdf-in-7z.7z", "encrypted PDF"),
    ];
    for (file, what) in cases {
        let (code, text) = submit(&s, &mail_with(file, &fixture(file))).await;
        assert_eq!(code, 550, "{file}: {text}");
        assert!(text.starts_with(&format!("5.7.1 \"{file}\" is password-protected (")), "{file}: {text}");
        assert!(text.contains(what), "{file}: {text}");
        assert!(text.contains("send the file unencrypted"), "{file}: {text}");
    }
    assert_eq!(s.queued().await, 0, "nothing refused is queued");
    let twins = [
        "plain.zip",
        "plain-7zip.zip",
        "plain.7z",
        "plain.pdf",
        "plain-xref-stream.pdf",
        "plain.docx",
        "plain.xlsx",
        "plain.doc",
        "plain.xls",
        "plain.odt",
        "plain-in-zip.zip",
        "decoy.pdf",
    ];
    for file in twins {
        let (code, text) = submit(&s, &mail_with(file, &fixture(file))).await;
        assert_eq!(code, 250, "{file}: {text}");
    }
    assert_eq!(s.queued().await, twins.len());
}

#[tokio::test]
async fn the_file_is_judged_by_its_bytes_not_its_name_or_type() {
    let s = TestServer::start().await;
    // An encrypted ZIP disguised as a text file, attached as a nested message.
    let inner = mail_with("notes.txt", &fixture("zipcrypto.zip"));
    let outer = format!(
        "From: alice@example.jp\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
         --o\r\nContent-Type: text/plain\r\n\r\nforwarded\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--o--\r\n"
    );
    let (code, text) = submit(&s, &outer).await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("\"notes.txt\" is password-protected"), "{text}");
}

#[tokio::test]
async fn a_uuencoded_file_in_the_text_is_an_attachment_too() {
    let s = TestServer::start().await;
    let zip = fixture("zipcrypto.zip");
    let mut uu = String::from("begin 644 secret.zip\r\n");
    for chunk in zip.chunks(45) {
        let mut line = vec![32 + chunk.len() as u8];
        for tri in chunk.chunks(3) {
            let b = [tri[0], *tri.get(1).unwrap_or(&0), *tri.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for shift in [18, 12, 6, 0] {
                let v = ((n >> shift) & 63) as u8;
                line.push(if v == 0 { b'`' } else { v + 32 });
            }
        }
        uu.push_str(&String::from_utf8(line).unwrap());
        uu.push_str("\r\n");
    }
    uu.push_str("`\r\nend\r\n");
    let content = format!("From: alice@example.jp\r\nSubject: old style\r\n\r\nHere it is:\r\n\r\n{uu}");
    let (code, text) = submit(&s, &content).await;
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("\"secret.zip\" is password-protected"), "{text}");
}

#[tokio::test]
async fn the_policy_can_allow_them_and_inbound_mail_is_not_refused_here() {
    let s = TestServer::start_with(|c| c.outbound.encrypted_attachments = sekisho_config::EncryptedPolicy::Allow).await;
    let (code, text) = submit(&s, &mail_with("zipcrypto.zip", &fixture("zipcrypto.zip"))).await;
    assert_eq!(code, 250, "{text}");

    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO mx.outside.example").await;
    let r = c
        .send_mail("carol@outside.example", &["alice@example.jp"], &mail_with("x.zip", &fixture("zipcrypto.zip")))
        .await;
    assert_eq!(r.code, 250, "inbound mail is inspected by the inbound stage, not refused at submission: {r:?}");
}

/// A PDF with `file` embedded as `name` (an uncompressed EmbeddedFile stream), as a PDF writer
/// attaches a file.
fn pdf_embedding(name: &str, file: &[u8]) -> Vec<u8> {
    let mut pdf = format!(
        "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Names << /EmbeddedFiles << /Names [({name}) 2 0 R] >> >> >>\nendobj\n\
         2 0 obj\n<< /Type /Filespec /F ({name}) /EF << /F 3 0 R >> >>\nendobj\n\
         3 0 obj\n<< /Type /EmbeddedFile /Length {} >>\nstream\n",
        file.len()
    )
    .into_bytes();
    pdf.extend_from_slice(file);
    pdf.extend_from_slice(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    pdf
}

#[tokio::test]
async fn encrypted_files_in_wrappers_pdfs_and_saved_messages_are_refused() {
    let s = TestServer::start().await;
    let forwarded = mail_with("secret.zip", &fixture("zipcrypto.zip"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zipcrypto.zip.gz", fixture("zipcrypto.zip.gz"), "ZipCrypto"),
        ("zipcrypto.zip.bz2", fixture("zipcrypto.zip.bz2"), "ZipCrypto"),
        ("zipcrypto.zip.xz", fixture("zipcrypto.zip.xz"), "ZipCrypto"),
        ("wrapped.tar", fixture("wrapped.tar"), "ZipCrypto"),
        ("wrapped.tgz", fixture("wrapped.tgz"), "ZipCrypto"),
        ("wrapped.tar.xz", fixture("wrapped.tar.xz"), "ZipCrypto"),
        ("report.pdf", pdf_embedding("secret.zip", &fixture("zipcrypto.zip")), "ZipCrypto"),
        ("report2.pdf", pdf_embedding("budget.xlsx", &fixture("encrypted.xlsx")), "Office document"),
        ("fwd.eml", forwarded.into_bytes(), "ZipCrypto"),
    ];
    for (file, bytes, what) in &cases {
        let (code, text) = submit(&s, &mail_with(file, bytes)).await;
        assert_eq!(code, 550, "{file}: {text}");
        assert!(text.starts_with(&format!("5.7.1 \"{file}\" is password-protected (")), "{file}: {text}");
        assert!(text.contains(what), "{file}: {text}");
    }
    assert_eq!(s.queued().await, 0, "nothing refused is queued");
    let plain_forward = mail_with("hello.zip", &fixture("plain.zip"));
    let twins: Vec<(&str, Vec<u8>)> = vec![
        ("plain.tar.bz2", fixture("plain.tar.bz2")),
        ("report.pdf", pdf_embedding("hello.zip", &fixture("plain.zip"))),
        ("fwd.eml", plain_forward.into_bytes()),
    ];
    for (file, bytes) in &twins {
        let (code, text) = submit(&s, &mail_with(file, bytes)).await;
        assert_eq!(code, 250, "{file}: {text}");
    }
    assert_eq!(s.queued().await, twins.len());
}
