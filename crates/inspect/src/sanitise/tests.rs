use std::collections::HashSet;
use std::io::{Read, Write};

use super::*;
use crate::content::tests::zip;
use crate::content::{Hazard, open_file};
use crate::encrypted::Limits;

/// A VBA project as Office stores it: a compound file with a VBA storage.
fn vba_project() -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    cf.create_storage_all("/VBA").unwrap();
    cf.create_stream("/PROJECT").unwrap().write_all(b"ID=\"{00000000-0000-0000-0000-000000000000}\"").unwrap();
    cf.create_stream("/VBA/dir").unwrap().write_all(b"\x01Attribute VB_Name").unwrap();
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

const SHEET: &[u8] =
    b"<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData/></worksheet>";

/// A minimal macro-enabled workbook: content types, package and workbook relationships, one
/// sheet and a VBA project.
fn xlsm() -> Vec<u8> {
    let types = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    let workbook = br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let workbook_rels = br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>"#;
    zip(&[
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/worksheets/sheet1.xml", SHEET),
        ("xl/vbaProject.bin", &vba_project()),
    ])
}

/// A minimal macro-enabled Word document whose VBA project has data and a relationship part of
/// its own, and a hyperlink relationship that must stay.
fn docm() -> Vec<u8> {
    let types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/><Override PartName="/word/vbaProject.bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/word/vbaData.xml" ContentType="application/vnd.ms-word.vbaData+xml"/></Types>"#;
    let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/document.xml"/></Relationships>"#;
    let doc_rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://example.jp/vbaProject.bin" TargetMode="External"/></Relationships>"#;
    let vba_rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/wordVbaData" Target="vbaData.xml"/></Relationships>"#;
    zip(&[
        ("[Content_Types].xml", types),
        ("_rels/.rels", rels),
        (
            "word/document.xml",
            b"<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"/>",
        ),
        ("word/_rels/document.xml.rels", doc_rels),
        ("word/vbaProject.bin", &vba_project()),
        ("word/_rels/vbaProject.bin.rels", vba_rels),
        ("word/vbaData.xml", b"<wne:vbaSuppData/>"),
    ])
}

/// Every part of `bytes`, decompressed.
fn parts(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = ::zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut e = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (e.name().unwrap().to_string(), data)
        })
        .collect()
}

/// The copy's package is consistent: every content type override names a part, and every
/// internal relationship points at one.
fn assert_consistent(bytes: &[u8]) {
    let parts = parts(bytes);
    let names: HashSet<String> = parts.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    for (name, data) in &parts {
        let text = String::from_utf8_lossy(data);
        assert!(!text.contains("vbaProject\"") && !text.to_ascii_lowercase().contains("vbaproject+"), "{name}: {text}");
        if name == "[Content_Types].xml" {
            for part in text.split("PartName=\"").skip(1).map(|p| p.split('"').next().unwrap()) {
                assert!(
                    names.contains(&part.trim_start_matches('/').to_ascii_lowercase()),
                    "{part} is listed but absent"
                );
            }
            assert!(!text.contains("macroEnabled"), "{text}");
            assert!(!text.contains("vbaProject") && !text.contains("vbaData"), "{text}");
        }
        if name.ends_with(".rels") {
            let base = name.rsplit_once("_rels/").map_or("", |(d, _)| d);
            for rel in text.split("<Relationship ").skip(1) {
                if rel.contains("TargetMode=\"External\"") {
                    continue;
                }
                let target = rel.split("Target=\"").nth(1).unwrap().split('"').next().unwrap();
                let part = super::ooxml::resolve(base, target).to_ascii_lowercase();
                assert!(names.contains(&part), "{name} points at {part}, which is absent");
            }
        }
    }
}

#[test]
fn an_xlsm_loses_its_vba_project_and_becomes_an_xlsx_that_sekisho_finds_harmless() {
    let original = xlsm();
    let before = open_file("見積書.xlsm", &original, &Limits::default());
    assert_eq!(before.hazards, [Hazard::Macros("vbaProject.bin".into())]);
    let copy = remove_macros("見積書.xlsm", &original, &SanitiseLimits::default()).unwrap();
    assert_eq!(copy.name, "見積書.xlsx");
    assert_eq!(copy.content_type, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert_eq!(copy.removed, ["xl/vbaProject.bin"]);
    assert_eq!(copy.done, "VBA project removed");
    let names: Vec<String> = parts(&copy.bytes).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            "xl/worksheets/sheet1.xml"
        ]
    );
    assert_consistent(&copy.bytes);
    let types = String::from_utf8(parts(&copy.bytes).remove(0).1).unwrap();
    assert!(types.contains("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"), "{types}");
    assert!(!types.contains("Extension=\"bin\""), "{types}");
    assert_eq!(parts(&copy.bytes)[4].1, SHEET, "the sheet is the same");
    let after = open_file(&copy.name, &copy.bytes, &Limits::default());
    assert_eq!(after.file_type, "Excel workbook");
    assert!(after.walk().iter().all(|n| n.hazards.is_empty()), "{after:#?}");
    assert_eq!(
        remove_macros("見積書.xlsm", &original, &SanitiseLimits::default()).unwrap(),
        copy,
        "the same copy each time"
    );
}

#[test]
fn a_docm_loses_its_project_data_and_their_relationships_but_keeps_its_links() {
    let copy = remove_macros("Invoice.DOCM", &docm(), &SanitiseLimits::default()).unwrap();
    assert_eq!(copy.name, "Invoice.docx");
    assert_eq!(copy.removed, ["word/vbaProject.bin", "word/_rels/vbaProject.bin.rels", "word/vbaData.xml"]);
    assert_consistent(&copy.bytes);
    let rels = parts(&copy.bytes).into_iter().find(|(n, _)| n == "word/_rels/document.xml.rels").unwrap().1;
    let rels = String::from_utf8(rels).unwrap();
    assert!(rels.contains("https://example.jp/vbaProject.bin"), "an external link stays: {rels}");
    assert!(!rels.contains("rId1"), "{rels}");
    let after = open_file(&copy.name, &copy.bytes, &Limits::default());
    assert_eq!(after.file_type, "Word document");
    assert!(after.walk().iter().all(|n| n.hazards.is_empty()), "{after:#?}");
}

#[test]
fn a_project_under_another_name_is_found_by_its_relationship_and_content_type() {
    let types = br#"<Types><Override PartName="/xl/workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/><Override PartName="/xl/typed.bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>"#;
    let rels = br#"<Relationships><Relationship Id="r1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="../xl/./payload.bin"/><Relationship Id="r2" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="/[Content_Types].xml"/></Relationships>"#;
    let book = zip(&[
        ("[Content_Types].xml", types),
        ("xl/workbook.xml", b"<workbook/>"),
        ("xl/_rels/workbook.xml.rels", rels),
        ("xl/payload.bin", &vba_project()),
        ("xl/typed.bin", &vba_project()),
        ("xl/word+vbaProject.bin", &vba_project()),
    ]);
    let copy = remove_macros("b.xlsm", &book, &SanitiseLimits::default()).unwrap();
    assert_eq!(copy.removed, ["xl/payload.bin", "xl/typed.bin", "xl/word+vbaProject.bin"]);
    let names: Vec<String> = parts(&copy.bytes).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"], "the package stays");
}

#[test]
fn what_cannot_be_sanitised_says_why() {
    let limits = SanitiseLimits::default();
    let original = xlsm();
    let cut = &original[..original.len() - 30];
    assert!(matches!(remove_macros("a.xlsm", cut, &limits), Err(SanitiseError::Damaged(_))));
    let mut legacy = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    legacy.resize(512, 0);
    assert_eq!(remove_macros("old.doc", &legacy, &limits), Err(SanitiseError::Legacy));
    assert_eq!(remove_macros("a.txt", b"hello", &limits), Err(SanitiseError::NotOoxml));
    let plain = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>")]);
    assert_eq!(remove_macros("a.docx", &plain, &limits), Err(SanitiseError::NoMacros));
    let xlm = zip(&[("[Content_Types].xml", b"<Types/>"), ("xl/macrosheets/sheet1.xml", b"<xm:macrosheet/>")]);
    assert_eq!(remove_macros("a.xlsx", &xlm, &limits), Err(SanitiseError::Unremovable("an Excel 4.0 macro sheet")));
    let small = SanitiseLimits { max_size: 100, ..limits };
    assert_eq!(remove_macros("a.xlsm", &original, &small), Err(SanitiseError::TooLarge { max: 100 }));
    let little_xml = SanitiseLimits { max_xml_total: 1000, ..limits };
    assert_eq!(remove_macros("a.xlsm", &original, &little_xml), Err(SanitiseError::XmlTooLarge { max: 1000 }));
    let tiny_parts = SanitiseLimits { max_part: 10, ..limits };
    assert!(matches!(remove_macros("a.xlsm", &original, &tiny_parts), Err(SanitiseError::PartTooLarge { .. })));
    let broken_types = zip(&[("[Content_Types].xml", b"<Types><Override PartName=\"x"), ("xl/vbaProject.bin", b"x")]);
    assert!(matches!(remove_macros("a.xlsm", &broken_types, &limits), Err(SanitiseError::Damaged(_))));
}

#[test]
fn html_becomes_text_with_every_link_shown() {
    let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
                <p>Dear&nbsp;customer,</p><p>Please <a href=\"https://evil.example/login?a=1&amp;b=2\">sign in to your bank</a>.</p>\
                <script>document.write('<p>x</p>')</script><!-- <p>hidden</p> -->\
                <ul><li>one</li><li>two &lt;3&gt;</li></ul><img src=\"cid:x\" alt=\"logo\">\
                <a href=\"https://example.jp/\">https://example.jp/</a> <a href=\"mailto:a@example.jp\">a@example.jp</a></body></html>";
    assert_eq!(
        html_to_text(html),
        "Dear customer,\n\nPlease sign in to your bank <https://evil.example/login?a=1&b=2>.\n\n- one\n- two <3>\n[logo] https://example.jp/ a@example.jp\n"
    );
}

/// A fixed pseudo-random sequence, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_documents_and_html_never_panic_and_a_copy_never_keeps_its_project() {
    let mut rng = XorShift(0x5eed_5a71);
    for original in [xlsm(), docm()] {
        for round in 0..400 {
            let mut bytes = original.clone();
            if round % 10 == 0 {
                bytes.truncate(rng.next() as usize % bytes.len());
            }
            for _ in 0..1 + round % 4 {
                let at = rng.next() as usize % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << (rng.next() % 8);
                }
            }
            if let Ok(copy) = remove_macros("m.docm", &bytes, &SanitiseLimits::default()) {
                let names: Vec<String> = parts_lenient(&copy.bytes);
                assert!(!names.iter().any(|n| n.to_ascii_lowercase().ends_with("vbaproject.bin")), "{names:?}");
            }
        }
    }
    let html = "<p>テスト &amp; <a href='https://x.example/?a=&lt;'>リンク</a><script>x</script>&#x1F600;</p>";
    for round in 0..2000 {
        let mut bytes = html.as_bytes().to_vec();
        for _ in 0..1 + round % 5 {
            let at = rng.next() as usize % bytes.len();
            bytes[at] = b"<>&;\"'=/ a#x"[rng.next() as usize % 12];
        }
        bytes.truncate(bytes.len() - rng.next() as usize % 8);
        let _ = html_to_text(&String::from_utf8_lossy(&bytes));
    }
}

/// The names of a ZIP's entries, or none when it cannot be read.
fn parts_lenient(bytes: &[u8]) -> Vec<String> {
    let Ok(mut archive) = ::zip::ZipArchive::new(std::io::Cursor::new(bytes)) else { return Vec::new() };
    (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|e| e.name().unwrap_or_default().to_string()))
        .collect()
}
