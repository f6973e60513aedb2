//! Files made by the real tools (tests/fixtures/make.sh): each encrypted one caught with the
//! exact finding, each unencrypted twin clean.

mod common;

use common::{assert_clean, assert_findings, finding, fixture, run};
use sekisho_inspect::encrypted::{Format, Kind, LegacyFormat, OoxmlScheme, Verdict, ZipMethod};

fn check(name: &str, expected: &[(&[&str], Kind)]) {
    let report = run(name, &fixture(name));
    let expected: Vec<_> = expected.iter().map(|(path, kind)| finding(path, *kind)).collect();
    assert_findings(&report, &expected);
    assert!(matches!(report.verdict(), Verdict::Encrypted(f) if f == expected));
}

fn clean(name: &str, format: Format) {
    let report = run(name, &fixture(name));
    assert_clean(&report);
    assert_eq!(report.format, format, "{name}");
    assert_eq!(report.verdict(), Verdict::Clean);
}

#[test]
fn zip_with_zipcrypto_from_info_zip() {
    check("zipcrypto.zip", &[(&["zipcrypto.zip", "hello.txt"], Kind::Zip(ZipMethod::ZipCrypto))]);
    clean("plain.zip", Format::Zip);
}

#[test]
fn zip_with_aes_from_7zip() {
    check("aes256.zip", &[(&["aes256.zip", "hello.txt"], Kind::Zip(ZipMethod::Aes { bits: Some(256) }))]);
    clean("plain-7zip.zip", Format::Zip);
}

#[test]
fn seven_zip_content_and_headers() {
    check(
        "content-encrypted.7z",
        &[(&["content-encrypted.7z", "hello.txt"], Kind::SevenZip { headers_encrypted: false })],
    );
    check("headers-encrypted.7z", &[(&["headers-encrypted.7z"], Kind::SevenZip { headers_encrypted: true })]);
    clean("plain.7z", Format::SevenZip);
}

#[test]
fn pdf_from_qpdf() {
    check("encrypted.pdf", &[(&["encrypted.pdf"], Kind::Pdf)]);
    check("encrypted-xref-stream.pdf", &[(&["encrypted-xref-stream.pdf"], Kind::Pdf)]);
    check("owner-only.pdf", &[(&["owner-only.pdf"], Kind::Pdf)]);
    clean("plain.pdf", Format::Pdf);
    clean("plain-xref-stream.pdf", Format::Pdf);
}

#[test]
fn pdf_decoy_words_are_not_encryption() {
    let decoy = fixture("decoy.pdf");
    // The decoy does hold the words, in text, a string and a page dictionary.
    assert_eq!(decoy.windows(14).filter(|w| w == b"/Encrypt 9 0 R").count(), 3);
    clean("decoy.pdf", Format::Pdf);
}

#[test]
fn pdf_after_leading_junk() {
    let mut bytes = vec![b'#'; 1000];
    bytes.extend_from_slice(&fixture("encrypted.pdf"));
    assert_findings(&run("junk.pdf", &bytes), &[finding(&["junk.pdf"], Kind::Pdf)]);
}

#[test]
fn office_ooxml_from_msoffcrypto_tool() {
    let agile = Kind::OfficeOoxml { scheme: OoxmlScheme::Agile };
    check("encrypted.docx", &[(&["encrypted.docx"], agile)]);
    check("encrypted.xlsx", &[(&["encrypted.xlsx"], agile)]);
    clean("plain.docx", Format::Ooxml);
    clean("plain.xlsx", Format::Ooxml);
}

#[test]
fn office_legacy_from_libreoffice() {
    check("encrypted.doc", &[(&["encrypted.doc"], Kind::OfficeLegacy { format: LegacyFormat::Doc })]);
    check("encrypted.xls", &[(&["encrypted.xls"], Kind::OfficeLegacy { format: LegacyFormat::Xls })]);
    clean("plain.doc", Format::Cfb);
    clean("plain.xls", Format::Cfb);
}

#[test]
fn opendocument_from_libreoffice() {
    check("encrypted.odt", &[(&["encrypted.odt"], Kind::OpenDocument)]);
    clean("plain.odt", Format::OpenDocument);
}

#[test]
fn nested() {
    check(
        "zip-in-zip.zip",
        &[(&["zip-in-zip.zip", "inner/zipcrypto.zip", "hello.txt"], Kind::Zip(ZipMethod::ZipCrypto))],
    );
    check(
        "docx-in-zip.zip",
        &[(&["docx-in-zip.zip", "inner/secret.docx"], Kind::OfficeOoxml { scheme: OoxmlScheme::Agile })],
    );
    check("pdf-in-7z.7z", &[(&["pdf-in-7z.7z", "encrypted.pdf"], Kind::Pdf)]);
    clean("plain-in-zip.zip", Format::Zip);
}

#[test]
fn type_comes_from_content_not_name() {
    let report = run("invoice.pdf", &fixture("zipcrypto.zip"));
    assert_eq!(report.format, Format::Zip);
    assert_findings(&report, &[finding(&["invoice.pdf", "hello.txt"], Kind::Zip(ZipMethod::ZipCrypto))]);
    assert_clean(&run("secret.zip", b"just text"));
}

#[test]
fn zip_appended_to_other_data() {
    let mut bytes = b"GIF89a\x01\x00\x01\x00".to_vec();
    bytes.extend_from_slice(&[0x55; 300]);
    bytes.extend_from_slice(&fixture("zipcrypto.zip"));
    let report = run("picture.gif", &bytes);
    assert_findings(&report, &[finding(&["picture.gif", "hello.txt"], Kind::Zip(ZipMethod::ZipCrypto))]);
}
