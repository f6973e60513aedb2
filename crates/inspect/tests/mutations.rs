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
];

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
    for name in FIXTURES {
        let original = common::fixture(name);
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
            let report = inspect(name, &bytes, &limits);
            for obstacle in &report.obstacles {
                if let Reason::Corrupt { detail, .. } = &obstacle.reason {
                    assert!(!detail.contains("panicked"), "{name} round {round}: {detail}");
                }
            }
        }
    }
}
