//! Compound files built here with the `cfb` crate, for what no available tool writes: an
//! encrypted PowerPoint 97-2003 file (LibreOffice ignores the password for .ppt) marked as
//! [MS-PPT] says, its plain twin, and a mail (.msg-like) whose stream holds an encrypted ZIP.

mod common;

use std::io::{Cursor, Write};

use common::{assert_clean, assert_findings, finding, fixture, run};
use sekisho_inspect::encrypted::{Kind, LegacyFormat, ZipMethod};

fn compound(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (name, data) in streams {
        if let Some((dir, _)) = name.rsplit_once('/') {
            cf.create_storage_all(dir).unwrap();
        }
        cf.create_stream(name).unwrap().write_all(data).unwrap();
    }
    cf.flush().unwrap();
    cf.into_inner().into_inner()
}

/// [MS-PPT] 2.3.2 CurrentUserAtom: record header (type 0x0FF6), size 0x14, headerToken.
fn current_user(token: u32) -> Vec<u8> {
    let mut cu = vec![0x00, 0x00, 0xF6, 0x0F];
    cu.extend(20u32.to_le_bytes());
    cu.extend(20u32.to_le_bytes());
    cu.extend(token.to_le_bytes());
    cu.extend([0u8; 12]);
    cu
}

#[test]
fn ppt_encrypted_by_its_current_user_token() {
    let ppt = compound(&[("PowerPoint Document", &[0; 64]), ("Current User", &current_user(0xF3D1_C4DF))]);
    let kind = Kind::OfficeLegacy { format: LegacyFormat::Ppt };
    assert_findings(&run("deck.ppt", &ppt), &[finding(&["deck.ppt"], kind)]);
}

#[test]
fn ppt_encrypted_by_its_encrypted_summary_stream() {
    let ppt = compound(&[
        ("PowerPoint Document", &[0; 64]),
        ("Current User", &current_user(0xE391_C05F)),
        ("EncryptedSummary", &[0; 32]),
    ]);
    let kind = Kind::OfficeLegacy { format: LegacyFormat::Ppt };
    assert_findings(&run("deck.ppt", &ppt), &[finding(&["deck.ppt"], kind)]);
}

#[test]
fn ppt_plain_token_is_clean() {
    let ppt = compound(&[("PowerPoint Document", &[0; 64]), ("Current User", &current_user(0xE391_C05F))]);
    assert_clean(&run("deck.ppt", &ppt));
}

#[test]
fn encrypted_zip_inside_a_compound_file_stream() {
    let attachment = "__attach_version1.0_#00000000/__substg1.0_37010102";
    let msg = compound(&[("__substg1.0_0037001F", b"s\0u\0b\0j\0"), (attachment, &fixture("zipcrypto.zip"))]);
    let kind = Kind::Zip(ZipMethod::ZipCrypto);
    assert_findings(&run("mail.msg", &msg), &[finding(&["mail.msg", attachment, "hello.txt"], kind)]);
}
