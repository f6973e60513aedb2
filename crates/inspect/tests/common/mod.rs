//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sekisho_inspect::encrypted::{Finding, Kind, Limits, Report, inspect};

/// A committed fixture (made by tests/fixtures/make.sh with the real tools).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn run(name: &str, bytes: &[u8]) -> Report {
    inspect(name, bytes, &Limits::default())
}

pub fn finding(path: &[&str], kind: Kind) -> Finding {
    Finding { path: path.iter().map(|s| s.to_string()).collect(), kind }
}

pub fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Asserts a report with exactly these findings and nothing it could not open.
pub fn assert_findings(report: &Report, expected: &[Finding]) {
    assert_eq!(report.findings, expected, "findings of {report:#?}");
    assert!(report.obstacles.is_empty(), "obstacles in {report:#?}");
}

/// Asserts a clean report: no findings, no obstacles, no notes.
pub fn assert_clean(report: &Report) {
    assert!(
        report.findings.is_empty() && report.obstacles.is_empty() && report.notes.is_empty(),
        "not clean: {report:#?}"
    );
}

/// A hand-made ZIP entry: stored (no compression), with the flags to write in the local
/// header and in the central directory separately.
pub struct RawEntry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub local_flags: u16,
    pub central_flags: u16,
    /// Leave this entry out of the central directory.
    pub hidden: bool,
}

impl<'a> RawEntry<'a> {
    pub fn new(name: &'a str, data: &'a [u8]) -> Self {
        RawEntry { name, data, local_flags: 0, central_flags: 0, hidden: false }
    }
}

/// Builds a stored ZIP by hand (APPNOTE.TXT 4.3), so that tests control every field.
pub fn raw_zip(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let mut count = 0u16;
    for e in entries {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(e.data);
        let size = e.data.len() as u32;
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&e.local_flags.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // method stored, time, date
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(e.data);
        if e.hidden {
            continue;
        }
        count += 1;
        central.extend_from_slice(&central_entry(e.name, e.central_flags, crc, size, size, offset));
    }
    finish_zip(out, &central, count)
}

/// One central directory record for a stored entry.
pub fn central_entry(name: &str, flags: u16, crc: u32, compressed: u32, size: u32, offset: u32) -> Vec<u8> {
    let mut c = Vec::new();
    c.extend_from_slice(b"PK\x01\x02");
    c.extend_from_slice(&[20, 0, 20, 0]);
    c.extend_from_slice(&flags.to_le_bytes());
    c.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    c.extend_from_slice(&crc.to_le_bytes());
    c.extend_from_slice(&compressed.to_le_bytes());
    c.extend_from_slice(&size.to_le_bytes());
    c.extend_from_slice(&(name.len() as u16).to_le_bytes());
    c.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
    c.extend_from_slice(&offset.to_le_bytes());
    c.extend_from_slice(name.as_bytes());
    c
}

/// Appends a central directory and its end record.
pub fn finish_zip(mut out: Vec<u8>, central: &[u8], count: u16) -> Vec<u8> {
    let cd_offset = out.len() as u32;
    out.extend_from_slice(central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A ZIP written by the `zip` crate with deflate.
pub fn deflated_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}
