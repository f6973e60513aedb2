//! Zip bombs and deep nesting, generated here: every limit stops the inspection with a clear
//! reason, and memory stays bounded whatever the archive declares.

mod common;

use common::{RawEntry, assert_findings, central_entry, deflated_zip, finding, finish_zip, fixture, path, raw_zip};
use sekisho_inspect::encrypted::{Format, Kind, Limits, Obstacle, Reason, Verdict, ZipMethod, inspect};

const MIB: u64 = 1 << 20;

fn obstacles(report: &sekisho_inspect::encrypted::Report) -> Vec<(Vec<String>, Reason)> {
    report.obstacles.iter().map(|Obstacle { path, reason }| (path.clone(), reason.clone())).collect()
}

#[test]
fn a_highly_compressible_entry_over_the_entry_limit() {
    let zeros = vec![0u8; 2 * MIB as usize];
    let bomb = deflated_zip(&[("zeros.bin", &zeros)]);
    assert!(bomb.len() < 10_000, "compresses to {} bytes", bomb.len());
    let limits = Limits { max_entry_size: MIB, ..Limits::default() };
    let report = inspect("bomb.zip", &bomb, &limits);
    assert!(report.findings.is_empty());
    assert_eq!(obstacles(&report), [(path(&["bomb.zip", "zeros.bin"]), Reason::EntryTooLarge { max: MIB })]);
    assert!(matches!(report.verdict(), Verdict::Uninspectable(_)));
}

/// The declared size is a lie (says 100 bytes): the `zip` crate stops at the declared size and
/// fails, so the entry is reported corrupt instead of being decompressed in full.
#[test]
fn an_entry_lying_about_its_size() {
    let zeros = vec![0u8; 2 * MIB as usize];
    let mut bomb = deflated_zip(&[("zeros.bin", &zeros)]);
    let size = (2 * MIB as u32).to_le_bytes();
    let mut patched = 0;
    for i in 0..bomb.len() - 4 {
        if bomb[i..i + 4] == size {
            bomb[i..i + 4].copy_from_slice(&100u32.to_le_bytes());
            patched += 1;
        }
    }
    assert_eq!(patched, 2, "local header and central directory");
    let limits = Limits { max_entry_size: MIB, ..Limits::default() };
    let report = inspect("liar.zip", &bomb, &limits);
    let found = obstacles(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, path(&["liar.zip", "zeros.bin"]));
    assert!(
        matches!(&found[0].1, Reason::Corrupt { format: Format::Zip, detail } if detail.contains("declared")),
        "{found:?}"
    );
}

#[test]
fn entries_over_the_total_limit() {
    let chunk = vec![7u8; 400 * 1024];
    let bomb = deflated_zip(&[("a.bin", &chunk), ("b.bin", &chunk), ("c.bin", &chunk)]);
    let limits = Limits { max_total_uncompressed: MIB, ..Limits::default() };
    let report = inspect("x.zip", &bomb, &limits);
    assert_eq!(obstacles(&report), [(path(&["x.zip", "c.bin"]), Reason::TotalTooLarge { max: MIB })]);
}

#[test]
fn too_many_entries() {
    let names: Vec<String> = (0..20).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let zip = deflated_zip(&entries);
    let limits = Limits { max_entries: 10, ..Limits::default() };
    let report = inspect("many.zip", &zip, &limits);
    assert_eq!(obstacles(&report), [(path(&["many.zip"]), Reason::TooManyEntries { max: 10 })]);
    assert!(inspect("many.zip", &zip, &Limits::default()).obstacles.is_empty());
}

/// zipcrypto.zip inside five more levels of plain ZIPs.
fn nested(levels: usize) -> Vec<u8> {
    let mut inner = fixture("zipcrypto.zip");
    for level in (1..=levels).rev() {
        inner = deflated_zip(&[(&format!("level{level}.zip"), &inner)]);
    }
    inner
}

#[test]
fn nesting_beyond_max_depth() {
    let deep = nested(5);
    let report = inspect("top.zip", &deep, &Limits::default());
    assert!(report.findings.is_empty());
    let too_deep = path(&["top.zip", "level1.zip", "level2.zip", "level3.zip", "level4.zip", "level5.zip"]);
    assert_eq!(obstacles(&report), [(too_deep, Reason::TooDeep { max_depth: 4 })]);

    let limits = Limits { max_depth: 5, ..Limits::default() };
    let report = inspect("top.zip", &deep, &limits);
    let found = ["top.zip", "level1.zip", "level2.zip", "level3.zip", "level4.zip", "level5.zip", "hello.txt"];
    assert_findings(&report, &[finding(&found, Kind::Zip(ZipMethod::ZipCrypto))]);
}

/// Several central directory entries sharing one local file (the overlap of Fifield's
/// non-recursive zip bombs): each would decompress the same data again.
#[test]
fn overlapping_entries_sharing_one_file() {
    let zeros = vec![0u8; 64 * 1024];
    let kernel = deflated_zip(&[("k", &zeros)]);
    let end = kernel.len() - 22;
    let cd_offset = u32::from_le_bytes(kernel[end + 16..end + 20].try_into().unwrap()) as usize;
    let locals = kernel[..cd_offset].to_vec();
    let one = &kernel[cd_offset..end];
    let mut central = Vec::new();
    for i in 0..3u8 {
        let mut entry = one.to_vec();
        let name_at = 46;
        entry[name_at] = b'a' + i; // distinct names, same local header offset
        central.extend_from_slice(&entry);
    }
    let bomb = finish_zip(locals, &central, 3);
    let report = inspect("overlap.zip", &bomb, &Limits::default());
    assert_eq!(obstacles(&report), [(path(&["overlap.zip"]), Reason::OverlappingEntries)]);
}

/// An entry whose data claims to run over the next entry's local header ("quoted" overlap).
#[test]
fn overlapping_entries_quoting_the_next_header() {
    let zip = raw_zip(&[RawEntry::new("a.txt", b"aaaa"), RawEntry::new("b.txt", b"bbbb")]);
    let second = zip.windows(4).rposition(|w| w == b"PK\x03\x04").unwrap() as u32;
    let mut central = central_entry("a.txt", 0, crc32fast::hash(b"aaaa"), 4 + 30 + 5 + 4, 4, 0);
    central.extend(central_entry("b.txt", 0, crc32fast::hash(b"bbbb"), 4, 4, second));
    let cd_offset = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let bomb = finish_zip(zip[..cd_offset].to_vec(), &central, 2);
    let report = inspect("quoted.zip", &bomb, &Limits::default());
    assert_eq!(obstacles(&report), [(path(&["quoted.zip"]), Reason::OverlappingEntries)]);
}
