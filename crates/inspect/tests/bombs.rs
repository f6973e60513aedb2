//! Every known decompression-bomb construction, built here, ends as a node that is
//! `State::Unreadable` with the limit that stopped it; nothing is decompressed beyond the
//! limits. Time and memory are measured by `examples/content_bench.rs` (BENCHMARKS.md), not here.

mod common;

use std::io::Write;

use common::{RawEntry, deflated_zip, finish_zip, raw_zip};
use sekisho_inspect::content::{Node, State, open_file};
use sekisho_inspect::encrypted::Limits;

/// The first unreadable node's reason, depth first.
fn unreadable(root: &Node) -> Option<String> {
    root.walk().into_iter().find_map(|n| match &n.state {
        State::Unreadable { why } => Some(why.clone()),
        _ => None,
    })
}

fn assert_stopped(root: &Node, words: &[&str]) {
    let why = unreadable(root).unwrap_or_else(|| panic!("nothing unreadable in {}", root.name));
    assert!(words.iter().any(|w| why.contains(w)), "{}: {why}", root.name);
    let kept: u64 = root.walk().iter().filter_map(|n| n.content.as_ref()).map(|c| c.len() as u64).sum();
    assert!(kept < 64 << 20, "{}: {kept} bytes kept", root.name);
}

const MIB: usize = 1 << 20;

/// 42.zip: 16 copies of a zip of 16 copies ... five levels, a megabyte of zeros at the bottom
/// (a terabyte in all).
#[test]
fn nested_copies_like_42_zip() {
    let mut level = deflated_zip(&[("0.dat", &vec![0u8; MIB])]);
    for depth in 1..=5 {
        let names: Vec<String> = (0..16).map(|i| format!("lib{depth}_{i:x}.zip")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &level[..])).collect();
        level = deflated_zip(&entries);
    }
    let root = open_file("42.zip", &level, &Limits::default());
    assert_stopped(&root, &["nested deeper", "expands more than", "archive entries"]);
}

/// David Fifield's "better zip bomb": many central directory entries whose data overlap one
/// kernel of compressed zeros.
#[test]
fn overlapping_entries_like_fifield() {
    let kernel = deflated_zip(&[("k", &vec![0u8; 4 * MIB])]);
    let end = kernel.len() - 22;
    let cd_offset = u32::from_le_bytes(kernel[end + 16..end + 20].try_into().unwrap()) as usize;
    let one = &kernel[cd_offset..end];
    let mut central = Vec::new();
    for i in 0..250u8 {
        let mut entry = one.to_vec();
        entry[46] = i;
        central.extend_from_slice(&entry);
    }
    let bomb = finish_zip(kernel[..cd_offset].to_vec(), &central, 250);
    let root = open_file("zbsm.zip", &bomb, &Limits::default());
    assert_eq!(root.state, State::Unreadable { why: "entries overlap (a zip bomb shape)".into() });
}

fn zeros_through(mut w: impl Write, n: usize) {
    let chunk = vec![0u8; MIB];
    for _ in 0..n / MIB {
        w.write_all(&chunk).unwrap();
    }
}

#[test]
fn gzip_bzip2_and_xz_bombs() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    zeros_through(&mut gz, 16 * MIB);
    let gz = gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    zeros_through(&mut bz, 16 * MIB);
    let bz = bz.finish().unwrap();
    let mut xz = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
    zeros_through(&mut xz, 16 * MIB);
    let xz = xz.finish().unwrap();
    for (name, bomb) in [("zeros.gz", gz), ("zeros.bz2", bz), ("zeros.xz", xz)] {
        assert!(bomb.len() < MIB, "{name}: {} bytes", bomb.len());
        let root = open_file(name, &bomb, &Limits::default());
        assert_eq!(root.children.len(), 1, "{name}");
        assert_eq!(
            root.children[0].state,
            State::Unreadable { why: "expands more than 100 times its size (a decompression bomb shape)".into() },
            "{name}"
        );
        assert_eq!(root.children[0].content, None);
    }
}

/// A tar of twenty thousand empty files: every header counts as an entry.
#[test]
fn a_tar_of_many_entries() {
    let mut tar = Vec::new();
    for i in 0..20_000 {
        let mut header = [0u8; 512];
        let name = format!("f{i}");
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..108].copy_from_slice(b"0000644\0");
        header[124..136].copy_from_slice(b"00000000000\0");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&header);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let root = open_file("many.tar", &tar, &Limits::default());
    assert_eq!(root.file_type, "tar archive");
    assert_eq!(root.state, State::Unreadable { why: "more than 10000 archive entries".into() });
}

/// A zip holding itself over and over (what a zip quine does without end): stopped by depth.
#[test]
fn a_zip_that_contains_itself_again_and_again() {
    let mut level = raw_zip(&[RawEntry::new("r.txt", b"r")]);
    for _ in 0..200 {
        level = raw_zip(&[RawEntry::new("r.zip", &level)]);
    }
    let root = open_file("r.zip", &level, &Limits::default());
    assert_stopped(&root, &["nested deeper than 4 levels"]);
    assert_eq!(root.walk().len(), 6, "the attachment and four levels, then the one too deep");
}
