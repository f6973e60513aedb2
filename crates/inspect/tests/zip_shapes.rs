//! Hostile ZIP shapes: the central directory and local headers disagree, entries hidden from
//! the directory, prefixes, truncation, odd names. Every candidate is decided on.

mod common;

use common::{RawEntry, assert_clean, assert_findings, finding, fixture, path, raw_zip, run};
use sekisho_inspect::encrypted::{Format, Kind, Reason, ZipMethod};

const ZIPCRYPTO: Kind = Kind::Zip(ZipMethod::ZipCrypto);

#[test]
fn encrypted_only_in_the_local_header() {
    let zip = raw_zip(&[RawEntry { local_flags: 1, ..RawEntry::new("secret.txt", b"data") }]);
    assert_findings(&run("x.zip", &zip), &[finding(&["x.zip", "secret.txt"], ZIPCRYPTO)]);
}

#[test]
fn encrypted_only_in_the_central_directory() {
    let zip = raw_zip(&[RawEntry { central_flags: 1, ..RawEntry::new("secret.txt", b"data") }]);
    assert_findings(&run("x.zip", &zip), &[finding(&["x.zip", "secret.txt"], ZIPCRYPTO)]);
}

#[test]
fn real_zipcrypto_with_the_directory_flag_cleared() {
    let mut zip = fixture("zipcrypto.zip");
    let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    assert_eq!(zip[cd + 8] & 1, 1);
    zip[cd + 8] &= !1;
    assert_findings(&run("x.zip", &zip), &[finding(&["x.zip", "hello.txt"], ZIPCRYPTO)]);
}

#[test]
fn a_local_entry_hidden_from_the_directory() {
    let zip = raw_zip(&[
        RawEntry::new("shown.txt", b"data"),
        RawEntry { local_flags: 1, hidden: true, ..RawEntry::new("hidden.txt", b"sealed") },
    ]);
    let report = run("x.zip", &zip);
    assert_eq!(report.findings, [finding(&["x.zip", "hidden.txt"], ZIPCRYPTO)]);
    let obstacles: Vec<_> = report.obstacles.iter().map(|o| (o.path.clone(), o.reason.clone())).collect();
    assert_eq!(obstacles, [(path(&["x.zip"]), Reason::HiddenLocalEntry { offset: 30 + 9 + 4 })]);
}

#[test]
fn plain_hand_made_zip_is_clean() {
    let zip = raw_zip(&[RawEntry::new("a.txt", b"one"), RawEntry::new("dir/b.txt", b"two")]);
    assert_clean(&run("x.zip", &zip));
}

#[test]
fn zip_slip_and_symlink_names_are_only_names() {
    let zip = raw_zip(&[
        RawEntry { central_flags: 1, local_flags: 1, ..RawEntry::new("../../etc/passwd", b"x") },
        RawEntry { central_flags: 1, local_flags: 1, ..RawEntry::new("/abs/path", b"y") },
        RawEntry::new("link", b"/etc/shadow"),
    ]);
    let report = run("slip.zip", &zip);
    assert_findings(
        &report,
        &[finding(&["slip.zip", "../../etc/passwd"], ZIPCRYPTO), finding(&["slip.zip", "/abs/path"], ZIPCRYPTO)],
    );
}

#[test]
fn empty_zip_is_clean() {
    let mut empty = b"PK\x05\x06".to_vec();
    empty.extend_from_slice(&[0; 18]);
    let report = run("empty.zip", &empty);
    assert_eq!(report.format, Format::Zip);
    assert_clean(&report);
}

#[test]
fn single_segment_spanned_marker() {
    let mut spanned = b"PK00".to_vec();
    spanned.extend_from_slice(&fixture("zipcrypto.zip"));
    assert_findings(&run("x.zip", &spanned), &[finding(&["x.zip", "hello.txt"], ZIPCRYPTO)]);
}

#[test]
fn truncated_encrypted_zip_still_found_by_its_local_header() {
    let zip = fixture("zipcrypto.zip");
    let report = run("cut.zip", &zip[..60]);
    assert_eq!(report.findings, [finding(&["cut.zip", "hello.txt"], ZIPCRYPTO)]);
    let reasons: Vec<_> = report.obstacles.iter().map(|o| o.reason.clone()).collect();
    let corrupt = Reason::Corrupt { format: Format::Zip, detail: "no end of central directory record".into() };
    assert_eq!(reasons, [corrupt]);
}

#[test]
fn duplicate_names_are_not_opened() {
    let zip = raw_zip(&[RawEntry::new("same.txt", b"one"), RawEntry::new("same.txt", b"two")]);
    let report = run("dup.zip", &zip);
    let obstacles: Vec<_> = report.obstacles.iter().map(|o| (o.path.clone(), o.reason.clone())).collect();
    assert_eq!(obstacles, [(path(&["dup.zip"]), Reason::DuplicateNames)]);
}

/// An entry compressed with Implode (method 6, PKZIP 1.x) is not corrupt: sekisho has no
/// decoder for it, and says so by name.
#[test]
fn an_imploded_entry_is_an_unsupported_method_not_corrupt() {
    let mut zip = raw_zip(&[RawEntry::new("old.txt", b"imploded bytes")]);
    zip[8] = 6; // the local header's method
    let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    zip[central + 10] = 6; // the central directory's
    let report = run("old.zip", &zip);
    let reasons: Vec<(Vec<String>, Reason)> =
        report.obstacles.iter().map(|o| (o.path.clone(), o.reason.clone())).collect();
    assert_eq!(reasons, [(path(&["old.zip", "old.txt"]), Reason::UnsupportedMethod { method: 6 })]);
    assert_eq!(reasons[0].1.to_string(), "compressed with a method sekisho cannot open (Implode, method 6)");
}
