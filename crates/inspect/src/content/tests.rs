//! The content tree and the encrypted-file check over the formats this module opens: each
//! wrapper, embedding and encoding, built here or from the committed fixtures.

use std::io::Write;

use super::{Hazard, Node, State, open_file, open_message};
use crate::encrypted::{Limits, Verdict, inspect};
use crate::mime::{MessageLimits, inspect_message};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A deflated ZIP of `entries`, in memory (tests of other modules build theirs with it too).
pub(crate) fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default().compression_method(::zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A compound file with these storages and streams (path, bytes).
fn cfb(storages: &[&str], streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    for s in storages {
        cf.create_storage_all(s).unwrap();
    }
    for (path, data) in streams {
        cf.create_stream(path).unwrap().write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

fn pe() -> Vec<u8> {
    let mut pe = b"MZ".to_vec();
    pe.resize(0x200, 0);
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    pe
}

/// The first node named `name` in the tree.
fn find<'a>(root: &'a Node, name: &str) -> &'a Node {
    root.walk().into_iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no {name} in {:#?}", names(root)))
}

fn names(root: &Node) -> Vec<String> {
    root.walk().iter().map(|n| n.name.clone()).collect()
}

fn encrypted(node: &Node) -> bool {
    matches!(node.state, State::Encrypted { .. })
}

fn message(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = b"From: a@example.jp\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
                  Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
        .to_vec();
    for (headers, body) in parts {
        m.extend_from_slice(format!("--XX\r\n{headers}\r\n\r\n").as_bytes());
        m.extend_from_slice(body);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--XX--\r\n");
    m
}

fn base64(bytes: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes().chunks(76).collect::<Vec<_>>().join(&b"\r\n"[..])
}

#[test]
fn an_encrypted_zip_in_gzip_bzip2_or_xz_is_found() {
    for name in ["zipcrypto.zip.gz", "zipcrypto.zip.bz2", "zipcrypto.zip.xz"] {
        let bytes = fixture(name);
        let report = inspect(name, &bytes, &Limits::default());
        let Verdict::Encrypted(findings) = report.verdict() else { panic!("{name}: {report:#?}") };
        assert_eq!(findings[0].path, [name, "zipcrypto.zip", "hello.txt"], "{name}");
        let root = open_file(name, &bytes, &Limits::default());
        assert_eq!(root.children.len(), 1, "{name}");
        let inner = &root.children[0];
        assert_eq!((inner.name.as_str(), inner.file_type.as_str()), ("zipcrypto.zip", "ZIP archive"));
        assert!(encrypted(inner), "{name}: {inner:#?}");
        assert!(encrypted(&inner.children[0]));
        assert_eq!(inner.children[0].size, 14, "the declared size of hello.txt");
        assert_eq!(inner.content.as_deref(), Some(&fixture("zipcrypto.zip")[..]));
    }
}

#[test]
fn encrypted_files_in_tar_tgz_and_tar_xz_are_each_found() {
    for name in ["wrapped.tar", "wrapped.tgz", "wrapped.tar.xz"] {
        let bytes = fixture(name);
        let root = open_file(name, &bytes, &Limits::default());
        let tar = if name == "wrapped.tar" { &root } else { find(&root, "wrapped.tar") };
        assert_eq!(tar.file_type, "tar archive");
        let entries: Vec<&str> = tar.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(entries, ["zipcrypto.zip", "headers-encrypted.7z", "encrypted.docx"], "{name}");
        assert!(tar.children.iter().all(encrypted), "{name}: {:#?}", tar.children);
        let report = inspect(name, &bytes, &Limits::default());
        assert_eq!(report.findings.len(), 3, "{name}: {report:#?}");
    }
}

#[test]
fn a_plain_tar_bz2_opens_all_the_way_down() {
    let root = open_file("plain.tar.bz2", &fixture("plain.tar.bz2"), &Limits::default());
    assert_eq!(root.file_type, "bzip2 compressed data");
    let hello = find(&root, "hello.txt");
    assert_eq!(hello.content.as_deref(), Some(&b"hello sekisho\n"[..]));
    assert_eq!(hello.file_type, "text");
    assert_eq!(find(&root, "plain.pdf").file_type, "PDF document");
    assert!(root.walk().iter().all(|n| n.state == State::Open && n.hazards.is_empty()), "{root:#?}");
}

#[test]
fn a_zip_embedded_in_a_pdf_is_opened() {
    let pdf = super::pdf_files::build(&[("secret.zip", &fixture("zipcrypto.zip")), ("notes.txt", b"hi")]);
    let report = inspect("doc.pdf", &pdf, &Limits::default());
    let Verdict::Encrypted(findings) = report.verdict() else { panic!("{report:#?}") };
    assert_eq!(findings[0].path, ["doc.pdf", "secret.zip", "hello.txt"]);
    let root = open_file("doc.pdf", &pdf, &Limits::default());
    let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["secret.zip", "notes.txt"]);
    assert_eq!(root.children[1].content.as_deref(), Some(&b"hi"[..]));
}

#[test]
fn a_saved_message_sent_as_octet_stream_is_opened_as_a_message() {
    let inner = message(&[(
        "Content-Type: application/zip; name=\"secret.zip\"\r\nContent-Transfer-Encoding: base64",
        &base64(&fixture("zipcrypto.zip")),
    )]);
    let outer = message(&[
        ("Content-Type: text/plain", b"see attached"),
        (
            "Content-Type: application/octet-stream; name=\"fwd.eml\"\r\nContent-Transfer-Encoding: base64",
            &base64(&inner),
        ),
    ]);
    let parts = inspect_message(&outer, &MessageLimits::default()).unwrap();
    let file = parts.iter().find(|p| p.names.first().is_some_and(|n| n == "fwd.eml")).unwrap();
    let Verdict::Encrypted(findings) = file.report.verdict() else { panic!("{:#?}", file.report) };
    assert_eq!(findings[0].path, ["fwd.eml", "secret.zip", "hello.txt"]);
    let contents = open_message(&outer, &MessageLimits::default()).unwrap();
    assert_eq!(contents.files.len(), 1);
    assert_eq!(contents.files[0].file_type, "email message");
    assert!(encrypted(&contents.files[0].children[0]));
    assert_eq!(contents.text, "see attached");
}

#[test]
fn an_attached_message_is_a_node_with_its_files_whatever_its_header() {
    // A forwarded message whose header has only a Subject: not sniffed as a message, but
    // declared message/rfc822.
    let inner = b"Subject: fwd\r\nContent-Type: multipart/mixed; boundary=\"YY\"\r\n\r\n--YY\r\n\
                  Content-Type: application/octet-stream; name=\"a.exe\"\r\n\r\nMZ\r\n--YY--\r\n";
    let outer = message(&[("Content-Type: message/rfc822", inner)]);
    let contents = open_message(&outer, &MessageLimits::default()).unwrap();
    assert_eq!(contents.files.len(), 1);
    assert_eq!(contents.files[0].file_type, "email message");
    assert_eq!(contents.files[0].children[0].name, "a.exe");
    assert_eq!(contents.files[0].children[0].hazards, [Hazard::Executable("PE".into())]);
}

#[test]
fn winmail_dat_attachments_are_children() {
    let tnef = super::tnef::build(&[("secret.zip", &fixture("zipcrypto.zip")), ("a.txt", b"x")]);
    let report = inspect("winmail.dat", &tnef, &Limits::default());
    assert!(matches!(report.verdict(), Verdict::Encrypted(_)), "{report:#?}");
    let root = open_file("winmail.dat", &tnef, &Limits::default());
    assert_eq!(root.file_type, "TNEF attachment container (winmail.dat)");
    assert_eq!(root.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["secret.zip", "a.txt"]);
}

#[test]
fn binhex_uuencode_and_preamble_files_are_found_in_a_message() {
    let hqx = super::binhex::encode("setup.exe", &pe());
    let uu = b"begin 644 x.zip\r\n&4$L#!&AI\r\n`\r\nend\r\n";
    let mut raw = message(&[
        ("Content-Type: text/plain", &[&b"Here:\r\n"[..], &hqx, &uu[..]].concat()),
        ("Content-Type: text/html", b"<p>Password: <b>s3cret&amp;1</b></p>"),
    ]);
    // A base64 file after the close delimiter.
    raw.extend_from_slice(&base64(&fixture("zipcrypto.zip")));
    let contents = open_message(&raw, &MessageLimits::default()).unwrap();
    let names: Vec<&str> = contents.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["x.zip", "setup.exe", "epilogue-3"]);
    assert_eq!(contents.files[1].hazards[0], Hazard::Executable("PE".into()));
    assert!(encrypted(&contents.files[2]));
    assert!(contents.text.contains("Password: s3cret&1"), "{}", contents.text);
    assert!(contents.text.starts_with("Here:"));
}

#[test]
fn a_binhex_attachment_is_opened() {
    let hqx = super::binhex::encode("secret.zip", &fixture("zipcrypto.zip"));
    let report = inspect("secret.hqx", &hqx, &Limits::default());
    let Verdict::Encrypted(findings) = report.verdict() else { panic!("{report:#?}") };
    assert_eq!(findings[0].path, ["secret.hqx", "secret.zip", "hello.txt"]);
}

#[test]
fn message_text_is_bounded() {
    let long = "x".repeat(100_000);
    let raw = message(&[("Content-Type: text/plain", long.as_bytes())]);
    let contents = open_message(&raw, &MessageLimits::default()).unwrap();
    assert_eq!(contents.text.len(), super::MAX_TEXT);
    assert!(contents.files.is_empty());
}

const CONTENT_TYPES: &[u8] = b"<?xml version=\"1.0\"?><Types/>";

#[test]
fn ooxml_macros_are_named_and_the_document_typed() {
    let vba = cfb(&["/VBA"], &[("/PROJECT", b"ID=\"{}\""), ("/VBA/dir", b"\x01")]);
    let docm = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", b"<w:document/>"),
        ("word/vbaProject.bin", &vba),
    ]);
    let root = open_file("invoice.docm", &docm, &Limits::default());
    assert_eq!(root.file_type, "Word document with macros");
    assert_eq!(root.hazards, [Hazard::Macros("vbaProject.bin".into())]);
    assert_eq!(root.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["word/vbaProject.bin"]);
    let xlsx = zip(&[("[Content_Types].xml", CONTENT_TYPES), ("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>")]);
    let root = open_file("book.xlsx", &xlsx, &Limits::default());
    assert_eq!(
        (root.file_type.as_str(), root.hazards.as_slice()),
        ("Excel workbook with macros", &[Hazard::Macros("XLM macro sheet".into())][..])
    );
    let plain = zip(&[("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w:document/>")]);
    let root = open_file("letter.docx", &plain, &Limits::default());
    assert_eq!(root.file_type, "Word document");
    assert!(root.hazards.is_empty() && root.children.is_empty(), "{root:#?}");
    let renamed = open_file("letter.docm", &plain, &Limits::default());
    assert_eq!(renamed.hazards, [Hazard::Macros("macro-enabled format".into())]);
}

#[test]
fn legacy_office_macros_and_packaged_files() {
    let doc = cfb(&["/Macros/VBA"], &[("/WordDocument", &[0u8; 64]), ("/Macros/VBA/dir", b"\x01")]);
    let root = open_file("old.doc", &doc, &Limits::default());
    assert_eq!(root.file_type, "Word 97-2003 document with macros");
    assert_eq!(root.hazards, [Hazard::Macros("VBA storage".into())]);
    // An Excel 4.0 macro sheet: a BOUNDSHEET record of sheet type 1 in the workbook globals.
    let record = |kind: u16, data: &[u8]| [&kind.to_le_bytes()[..], &(data.len() as u16).to_le_bytes(), data].concat();
    let globals =
        [record(0x0809, &[0; 16]), record(0x0085, &[0, 0, 0, 0, 0, 1, 1, 0, b'M']), record(0x000A, &[])].concat();
    let xls = cfb(&[], &[("/Workbook", &globals)]);
    let root = open_file("old.xls", &xls, &Limits::default());
    assert_eq!(root.file_type, "Excel 97-2003 workbook with macros");
    assert_eq!(root.hazards, [Hazard::Macros("XLM macro sheet".into())]);
    let worksheet =
        [record(0x0809, &[0; 16]), record(0x0085, &[0, 0, 0, 0, 0, 0, 1, 0, b'S']), record(0x000A, &[])].concat();
    let root = open_file("old.xls", &cfb(&[], &[("/Workbook", &worksheet)]), &Limits::default());
    assert!(root.hazards.is_empty(), "{root:#?}");
    let package = super::ole_native::build("run.js", b"WScript.Echo(1)");
    let doc = cfb(&["/ObjectPool/_1"], &[("/WordDocument", &[0u8; 64]), ("/ObjectPool/_1/\u{1}Ole10Native", &package)]);
    let root = open_file("old.doc", &doc, &Limits::default());
    assert_eq!(root.file_type, "Word 97-2003 document");
    let js = find(&root, "run.js");
    assert_eq!(js.hazards, [Hazard::Script("js".into())]);
    assert_eq!(js.content.as_deref(), Some(&b"WScript.Echo(1)"[..]));
}

#[test]
fn an_installer_is_an_executable_whatever_its_name() {
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    let msi = "000c1084-0000-0000-c000-000000000046".parse().unwrap();
    cf.set_storage_clsid("/", msi).unwrap();
    cf.create_stream("/\u{4840}\u{3f3f}").unwrap().write_all(b"tables").unwrap();
    cf.flush().unwrap();
    let bytes = cf.into_inner().into_inner();
    let root = open_file("invoice.doc", &bytes, &Limits::default());
    assert_eq!(root.file_type, "Windows Installer package");
    assert_eq!(root.hazards, [Hazard::Executable("MSI".into())]);
}

#[test]
fn an_object_embedded_in_a_docx_is_a_child() {
    let package = super::ole_native::build("a.exe", &pe());
    let ole = cfb(&[], &[("/\u{1}Ole10Native", &package)]);
    let docx = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", b"<w:document/>"),
        ("word/embeddings/oleObject1.bin", &ole),
    ]);
    let root = open_file("report.docx", &docx, &Limits::default());
    let object = find(&root, "word/embeddings/oleObject1.bin");
    assert_eq!(object.children[0].name, "a.exe");
    assert_eq!(object.children[0].hazards, [Hazard::Executable("PE".into())]);
}

#[test]
fn a_pe_named_pdf_and_html_smuggling_inside_a_zip() {
    let payload = "UEsDBA".repeat(1000);
    let html = format!(
        "<html><script>const b = new Blob([Uint8Array.from(atob('{payload}'), c => c.charCodeAt(0))]);\
         const a = document.createElement('a'); a.href = URL.createObjectURL(b); a.download = 'x.zip'; \
         a.click();</script></html>"
    );
    let archive = zip(&[("invoice.pdf", &pe()), ("view.html", html.as_bytes()), ("readme.txt", b"hello")]);
    let root = open_file("docs.zip", &archive, &Limits::default());
    assert_eq!(
        find(&root, "invoice.pdf").hazards,
        [
            Hazard::Executable("PE".into()),
            Hazard::NameMismatch { claimed: "pdf".into(), actual: "Windows executable (PE)".into() }
        ]
    );
    assert_eq!(find(&root, "view.html").hazards, [Hazard::HtmlSmuggling]);
    assert_eq!(find(&root, "view.html").file_type, "HTML document");
    assert!(find(&root, "readme.txt").hazards.is_empty());
    assert!(root.hazards.is_empty(), "a container's own bytes are not its entries' hazards");
    let link = format!(
        "<html><a href=\"data:application/octet-stream;base64,{}\">open</a></html>",
        String::from_utf8(base64(&pe())).unwrap().replace("\r\n", "")
    );
    let root = open_file("page.html", link.as_bytes(), &Limits::default());
    assert_eq!(root.hazards, [Hazard::HtmlSmuggling]);
    assert_eq!(root.children.len(), 1, "the data: URI is a file");
    assert_eq!(root.children[0].hazards, [Hazard::Executable("PE".into())]);
    assert_eq!(root.children[0].content.as_deref(), Some(&pe()[..]));
}

#[test]
fn the_submission_view_keeps_no_bytes_and_the_tree_keeps_each_once() {
    let archive = zip(&[("a.txt", b"aaaa"), ("b.txt", b"bbbb")]);
    let root = open_file("x.zip", &archive, &Limits::default());
    assert_eq!(root.content.as_deref(), Some(&archive[..]));
    assert_eq!(root.children[0].content.as_deref(), Some(&b"aaaa"[..]));
    assert_eq!(root.children[0].size, 4);
}
