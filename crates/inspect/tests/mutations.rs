//! Hostile bytes: every fixture, truncated and with bytes flipped (a fixed pseudo-random
//! sequence, so failures reproduce), must give a report; never a panic, not even a caught one.

mod common;

use sekisho_inspect::encrypted::{Limits, Reason, inspect};

const FIXTURES: &[&str] = &[
    "zipcrypto.zip",
    "aes256.zip",
    "plain.zip",
    "content-encrypted.7z",
    "headers-encrypted.7z",
    "plain.7z",
    "pdf-in-7z.7z",
    "encrypted.pdf",
    "encrypted-xref-stream.pdf",
    "decoy.pdf",
    "encrypted.doc",
    "plain.xls",
    "encrypted.docx",
    "plain.odt",
    "docx-in-zip.zip",
    "zipcrypto.zip.gz",
    "zipcrypto.zip.bz2",
    "zipcrypto.zip.xz",
    "wrapped.tar",
    "wrapped.tgz",
    "plain.tar.bz2",
];

/// Debian's clamav-testfiles in formats the content walk opens (TNEF, BinHex, mail, PDF with an
/// embedded file, an OLE package).
const CLAMAV: &[&str] = &["clam.tnef", "clam.exe.binhex", "clam.mail", "clam.pdf", "clam.ole.doc", "clam.exe.html"];

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
fn mutated_fixtures_never_panic() {
    let limits = Limits { max_total_uncompressed: 32 << 20, ..Limits::default() };
    let mut rng = XorShift(0x5EC1_5110);
    let clamav = CLAMAV.iter().map(|n| (*n, std::fs::read(format!("/usr/share/clamav-testfiles/{n}")).unwrap()));
    let all = FIXTURES.iter().map(|n| (*n, common::fixture(n))).chain(clamav);
    for (name, original) in all {
        for round in 0..150 {
            let mut bytes = original.clone();
            if round % 5 == 0 {
                bytes.truncate((rng.next() as usize) % bytes.len());
            }
            for _ in 0..1 + rng.next() % 8 {
                if bytes.is_empty() {
                    break;
                }
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.next() as u8;
            }
            // The content tree too: types, hazards and the documents' embedded files.
            let _ = sekisho_inspect::content::open_file(name, &bytes, &limits);
            let report = inspect(name, &bytes, &limits);
            for obstacle in &report.obstacles {
                if let Reason::Corrupt { detail, .. } = &obstacle.reason {
                    assert!(!detail.contains("panicked"), "{name} round {round}: {detail}");
                }
            }
        }
    }
}
