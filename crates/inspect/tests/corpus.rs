//! Real files through the content walk without a panic: Debian's clamav-testfiles (ClamAV's
//! test files: packed executables, every archive and mail format ClamAV opens) and
//! mail-parser's test messages (legacy, malformed, RFC and third-party mail), each through
//! `open_file`, and the messages through `open_message`.

use std::path::{Path, PathBuf};

use sekisho_inspect::content::{Hazard, open_file, open_message};
use sekisho_inspect::encrypted::Limits;
use sekisho_inspect::mime::MessageLimits;

const CLAMAV: &str = "/usr/share/clamav-testfiles";

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() { pending.push(path) } else { out.push(path) }
        }
    }
    out.sort();
    out
}

#[test]
fn clamav_test_files_open_without_a_panic() {
    let all = files(Path::new(CLAMAV));
    assert!(all.len() >= 40, "clamav-testfiles is installed (scripts/test)");
    let mut with_executable = Vec::new();
    for path in &all {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let root = open_file(&name, &std::fs::read(path).unwrap(), &Limits::default());
        if root.walk().iter().any(|n| n.hazards.iter().any(|h| matches!(h, Hazard::Executable(_)))) {
            with_executable.push(name.clone());
        }
        if name == "clam.exe.html" {
            assert_eq!(root.hazards, [Hazard::HtmlSmuggling], "a data: link carrying clam.exe");
        }
    }
    // The archives, encodings and documents that carry clam.exe: the walk reaches it.
    for carrier in [
        "clam.7z",
        "clam.bz2.zip",
        "clam.d64.zip",
        "clam.exe.binhex",
        "clam.exe.bz2",
        "clam.exe.mbox.base64",
        "clam.mail",
        "clam.ole.doc",
        "clam.pdf",
        "clam.tar.gz",
        "clam.tnef",
        "clam.zip",
    ] {
        assert!(with_executable.iter().any(|n| n == carrier), "{carrier}: {with_executable:?}");
    }
    assert!(with_executable.iter().filter(|n| n.ends_with(".exe")).count() >= 17);
}

#[test]
fn mail_parser_messages_open_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/mail-parser");
    let all = files(&dir);
    let messages: Vec<_> = all.iter().filter(|p| p.extension().is_some_and(|e| e == "eml")).collect();
    assert_eq!(messages.len(), 107);
    let mut opened = 0;
    for path in messages {
        let raw = std::fs::read(path).unwrap();
        let _ = open_file("message.eml", &raw, &Limits::default());
        if open_message(&raw, &MessageLimits::default()).is_ok() {
            opened += 1;
        }
    }
    assert!(opened >= 80, "{opened} of 107 opened (the rest are refused as ambiguous)");
}
