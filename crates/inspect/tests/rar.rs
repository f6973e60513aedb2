//! RAR archives. No tool that writes RAR is packaged for Debian or PyPI (rar is non-free), so
//! these archives are built here, byte by byte, from the published format descriptions: the
//! "RAR 5.0 archive format" page of rarlab.com and the RAR 4.x TechNote.txt shipped with
//! WinRAR. While they were written, the same bytes were checked against two real readers:
//! libarchive's bsdtar 3.6.2 listed and extracted the plain ones and refused the ones with
//! encrypted headers; rarfile 4.5 (PyPI) parsed all of them and answered needs_password()
//! for exactly the encrypted ones.

mod common;

use common::{assert_clean, assert_findings, finding, fixture, path, run};
use sekisho_inspect::encrypted::{Format, Kind, Reason, ZipMethod};

const RAR5_SIGNATURE: &[u8] = b"Rar!\x1A\x07\x01\x00";
const RAR4_MARKER: &[u8] = b"Rar!\x1A\x07\x00";

fn vint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A RAR 5 block: CRC32, header size, then type, flags, extra and data sizes, fields, extra.
fn block5(kind: u64, flags: u64, fields: &[u8], extra: &[u8], data: &[u8]) -> Vec<u8> {
    let mut flags = flags;
    if !extra.is_empty() {
        flags |= 0x0001;
    }
    if !data.is_empty() {
        flags |= 0x0002;
    }
    let mut header = vint(kind);
    header.extend(vint(flags));
    if !extra.is_empty() {
        header.extend(vint(extra.len() as u64));
    }
    if !data.is_empty() {
        header.extend(vint(data.len() as u64));
    }
    header.extend_from_slice(fields);
    header.extend_from_slice(extra);
    let mut sized = vint(header.len() as u64);
    sized.extend(header);
    let mut out = crc32fast::hash(&sized).to_le_bytes().to_vec();
    out.extend(sized);
    out.extend_from_slice(data);
    out
}

fn main5() -> Vec<u8> {
    block5(1, 0, &vint(0), &[], &[])
}

fn end5() -> Vec<u8> {
    block5(5, 0, &vint(0), &[], &[])
}

/// A RAR 5 file header; `method` 0 is store.
fn file5(name: &str, content: &[u8], data: &[u8], method: u64, extra: &[u8]) -> Vec<u8> {
    let mut fields = vint(0x0004); // file flags: CRC32 present
    fields.extend(vint(content.len() as u64));
    fields.extend(vint(0x20)); // attributes
    fields.extend(crc32fast::hash(content).to_le_bytes());
    fields.extend(vint(method << 7));
    fields.extend(vint(0)); // host OS: Windows
    fields.extend(vint(name.len() as u64));
    fields.extend_from_slice(name.as_bytes());
    block5(2, 0, &fields, extra, data)
}

/// The file encryption extra record: version 0, password check present, KDF count, salt, IV,
/// check value.
fn encryption_record5() -> Vec<u8> {
    let mut record = vint(1); // type: file encryption
    record.extend(vint(0));
    record.extend(vint(0x0001));
    record.push(15);
    record.extend_from_slice(&[0x11; 16]);
    record.extend_from_slice(&[0x22; 16]);
    record.extend_from_slice(&[0x33; 12]);
    let mut out = vint(record.len() as u64);
    out.extend(record);
    out
}

fn rar5(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = RAR5_SIGNATURE.to_vec();
    for b in blocks {
        out.extend_from_slice(b);
    }
    out
}

/// A RAR 4 block header: HEAD_CRC (low 16 bits of the CRC32 of the rest), type, flags, size.
fn block4(kind: u8, flags: u16, fields: &[u8]) -> Vec<u8> {
    let mut rest = vec![kind];
    rest.extend(flags.to_le_bytes());
    rest.extend(((fields.len() + 7) as u16).to_le_bytes());
    rest.extend_from_slice(fields);
    let mut out = ((crc32fast::hash(&rest) & 0xFFFF) as u16).to_le_bytes().to_vec();
    out.extend(rest);
    out
}

fn main4(flags: u16) -> Vec<u8> {
    block4(0x73, flags, &[0; 6])
}

fn end4() -> Vec<u8> {
    block4(0x7B, 0x4000, &[])
}

/// A RAR 4 file header followed by its data; `password` sets LHD_PASSWORD and a salt.
fn file4(name: &str, content: &[u8], data: &[u8], method: u8, password: bool) -> Vec<u8> {
    let mut flags = 0x8000u16;
    let mut fields = Vec::new();
    fields.extend((data.len() as u32).to_le_bytes());
    fields.extend((content.len() as u32).to_le_bytes());
    fields.push(0); // host OS: MS-DOS
    fields.extend(crc32fast::hash(content).to_le_bytes());
    fields.extend(0x5821_0000u32.to_le_bytes()); // DOS time
    fields.push(29); // version needed: 2.9
    fields.push(method);
    fields.extend((name.len() as u16).to_le_bytes());
    fields.extend(0x20u32.to_le_bytes());
    fields.extend_from_slice(name.as_bytes());
    if password {
        flags |= 0x0004 | 0x0400;
        fields.extend_from_slice(&[0x44; 8]); // salt
    }
    let mut out = block4(0x74, flags, &fields);
    out.extend_from_slice(data);
    out
}

fn rar4(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = RAR4_MARKER.to_vec();
    for b in blocks {
        out.extend_from_slice(b);
    }
    out
}

const HELLO: &[u8] = b"hello sekisho\n";

#[test]
fn rar5_plain_stored_is_clean() {
    let archive = rar5(&[main5(), file5("hello.txt", HELLO, HELLO, 0, &[]), end5()]);
    assert_clean(&run("plain.rar", &archive));
}

#[test]
fn rar5_encrypted_file() {
    let sealed = [0x5A; 16];
    let archive = rar5(&[main5(), file5("hello.txt", HELLO, &sealed, 0, &encryption_record5()), end5()]);
    let kind = Kind::Rar { version: 5, headers_encrypted: false };
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar", "hello.txt"], kind)]);
}

#[test]
fn rar5_encrypted_headers() {
    let mut fields = vint(0); // version
    fields.extend(vint(0x0001)); // password check present
    fields.push(15);
    fields.extend_from_slice(&[0x11; 16]);
    fields.extend_from_slice(&[0x33; 12]);
    // What follows an archive encryption header is encrypted: random-looking bytes.
    let archive = rar5(&[main5(), block5(4, 0, &fields, &[], &[]), vec![0xA7; 64]]);
    let kind = Kind::Rar { version: 5, headers_encrypted: true };
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar"], kind)]);
}

#[test]
fn rar5_stored_zip_inside_is_opened() {
    let inner = fixture("zipcrypto.zip");
    let archive = rar5(&[main5(), file5("zipcrypto.zip", &inner, &inner, 0, &[]), end5()]);
    let kind = Kind::Zip(ZipMethod::ZipCrypto);
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar", "zipcrypto.zip", "hello.txt"], kind)]);
}

#[test]
fn rar5_compressed_entry_is_noted_not_opened() {
    let archive = rar5(&[main5(), file5("hello.txt", HELLO, &[0x3C; 12], 3, &[]), end5()]);
    let report = run("x.rar", &archive);
    assert!(report.findings.is_empty() && report.obstacles.is_empty(), "{report:#?}");
    assert_eq!(report.notes.len(), 1);
    assert_eq!(report.notes[0].path, ["x.rar"]);
    assert_eq!(report.notes[0].text, "1 compressed RAR entries not opened (no RAR decoder)");
}

#[test]
fn rar4_plain_stored_is_clean() {
    let archive = rar4(&[main4(0), file4("hello.txt", HELLO, HELLO, 0x30, false), end4()]);
    assert_clean(&run("plain.rar", &archive));
}

#[test]
fn rar4_encrypted_file() {
    let archive = rar4(&[main4(0), file4("hello.txt", HELLO, &[0x5A; 16], 0x30, true), end4()]);
    let kind = Kind::Rar { version: 4, headers_encrypted: false };
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar", "hello.txt"], kind)]);
}

#[test]
fn rar4_encrypted_headers() {
    // MHD_PASSWORD: every later header is salt + ciphertext.
    let archive = rar4(&[main4(0x0080), vec![0xA7; 64]]);
    let kind = Kind::Rar { version: 4, headers_encrypted: true };
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar"], kind)]);
}

#[test]
fn rar4_stored_zip_inside_is_opened() {
    let inner = fixture("zipcrypto.zip");
    let archive = rar4(&[main4(0), file4("inner.zip", &inner, &inner, 0x30, false), end4()]);
    let kind = Kind::Zip(ZipMethod::ZipCrypto);
    assert_findings(&run("x.rar", &archive), &[finding(&["x.rar", "inner.zip", "hello.txt"], kind)]);
}

#[test]
fn truncated_rar_keeps_what_it_saw() {
    let mut archive = rar4(&[main4(0), file4("hello.txt", HELLO, &[0x5A; 16], 0x30, true), end4()]);
    archive.truncate(archive.len() - 7 - 10); // cut into the file data
    let report = run("x.rar", &archive);
    let kind = Kind::Rar { version: 4, headers_encrypted: false };
    assert_eq!(report.findings, [finding(&["x.rar", "hello.txt"], kind)]);
    let obstacles: Vec<_> = report.obstacles.iter().map(|o| (o.path.clone(), o.reason.clone())).collect();
    let truncated = Reason::Corrupt { format: Format::Rar4, detail: format!("truncated at byte {}", archive.len()) };
    assert_eq!(obstacles, [(path(&["x.rar"]), truncated)]);
}

/// The content tree lists every RAR entry with its size: a stored one opened, a compressed one
/// listed as not read (no RAR decoder), an encrypted one as encrypted.
#[test]
fn the_content_tree_lists_rar_entries_with_their_sizes() {
    use sekisho_inspect::content::{State, open_file};
    use sekisho_inspect::encrypted::Limits;
    let archive = rar5(&[
        main5(),
        file5("stored.txt", HELLO, HELLO, 0, &[]),
        file5("packed.txt", &[b'x'; 5000], &[0x3C; 12], 3, &[]),
        file5("sealed.txt", HELLO, &[0x5A; 16], 0, &encryption_record5()),
        end5(),
    ]);
    let root = open_file("x.rar", &archive, &Limits::default());
    assert_eq!(root.file_type, "RAR archive");
    let entries: Vec<(&str, u64)> = root.children.iter().map(|c| (c.name.as_str(), c.size)).collect();
    assert_eq!(entries, [("stored.txt", 14), ("packed.txt", 5000), ("sealed.txt", 14)]);
    assert_eq!(root.children[0].content.as_deref(), Some(HELLO));
    assert!(matches!(&root.children[1].state, State::Unreadable { why } if why.contains("no RAR decoder")));
    assert_eq!(root.children[1].content, None);
    assert!(matches!(root.children[2].state, State::Encrypted { .. }));
}
