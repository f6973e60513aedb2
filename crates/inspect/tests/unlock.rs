//! Opening encrypted archives made by the real tools (tests/fixtures/unlock/make.sh, listed
//! in its README.md) with their password, refusing every wrong one, within the limits.

mod common;

use common::fixture;
use sekisho_inspect::encrypted::{Limits, Reason};
use sekisho_inspect::unlock::{Found, TryLimits, UnlockError, Unlocked, password_candidates, try_candidates, unlock};

const PASSWORD: &str = "Kx7#pQ2v";

fn archive(name: &str) -> Vec<u8> {
    fixture(&format!("unlock/{name}"))
}

fn invoice() -> Vec<u8> {
    "請求書 2026年12月分\nInvoice December 2026\n".as_bytes().to_vec()
}

fn data() -> Vec<u8> {
    (0..=255u8).chain(0..44).collect()
}

fn entry(path: &[&str], bytes: Vec<u8>) -> Unlocked {
    Unlocked { path: path.iter().map(|s| s.to_string()).collect(), bytes }
}

fn open(name: &str, password: &str) -> Result<Vec<Unlocked>, UnlockError> {
    unlock(name, &archive(name), password, &Limits::default())
}

#[test]
fn zipcrypto_from_info_zip_opens_with_its_password() {
    assert_eq!(
        open("zipcrypto.zip", PASSWORD).unwrap(),
        [entry(&["invoice.txt"], invoice()), entry(&["data.bin"], data()), entry(&["docs", "inner.txt"], invoice())]
    );
    assert_eq!(
        open("zipcrypto-stored.zip", PASSWORD).unwrap(),
        [entry(&["invoice.txt"], invoice()), entry(&["data.bin"], data())]
    );
}

#[test]
fn winzip_aes_of_each_key_size_from_7zip_opens_with_its_password() {
    // 7-Zip writes the entries sorted by extension.
    for name in ["aes128.zip", "aes192.zip", "aes256.zip"] {
        assert_eq!(
            open(name, PASSWORD).unwrap(),
            [entry(&["data.bin"], data()), entry(&["invoice.txt"], invoice())],
            "{name}"
        );
    }
}

#[test]
fn seven_zip_with_encrypted_content_or_headers_opens_with_its_password() {
    for name in ["content.7z", "headers.7z"] {
        let mut entries = open(name, PASSWORD).unwrap();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(entries, [entry(&["data.bin"], data()), entry(&["invoice.txt"], invoice())], "{name}");
    }
}

#[test]
fn a_wrong_password_is_wrong_for_each_format() {
    for name in [
        "zipcrypto.zip",
        "zipcrypto-stored.zip",
        "aes128.zip",
        "aes192.zip",
        "aes256.zip",
        "mixed.zip",
        "content.7z",
        "headers.7z",
    ] {
        for wrong in ["kx7#pQ2v", "Kx7#pQ2", "", "パスワード"] {
            assert_eq!(open(name, wrong), Err(UnlockError::WrongPassword), "{name} with {wrong:?}");
        }
    }
}

/// ZipCrypto's check byte lets about 1 wrong password in 256 through; the CRC must stop each.
#[test]
fn zipcrypto_never_takes_a_wrong_password() {
    for name in ["zipcrypto.zip", "zipcrypto-stored.zip"] {
        let bytes = archive(name);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
        let mut past_check_byte = 0;
        for i in 0..3000 {
            let wrong = format!("wrong-{i}");
            past_check_byte += usize::from((0..zip.len()).any(|e| zip.by_index_decrypt(e, wrong.as_bytes()).is_ok()));
            assert_eq!(
                unlock(name, &bytes, &wrong, &Limits::default()),
                Err(UnlockError::WrongPassword),
                "{name} with {wrong}"
            );
        }
        // The test did reach the CRC: some wrong passwords passed the check byte.
        assert!(past_check_byte > 0, "{name}: no wrong password passed the check byte");
    }
}

#[test]
fn a_mixed_zip_gives_its_plain_entries_too() {
    assert_eq!(
        open("mixed.zip", PASSWORD).unwrap(),
        [entry(&["readme.txt"], b"This part is not encrypted.\n".to_vec()), entry(&["invoice.txt"], invoice())]
    );
}

#[test]
fn a_bomb_behind_a_password_stops_at_the_limits() {
    // 4 MiB of zeros in each: over 1 MiB per entry, or 1 MiB in total.
    let per_entry = Limits { max_entry_size: 1 << 20, ..Limits::default() };
    let total = Limits { max_total_uncompressed: 1 << 20, ..Limits::default() };
    for name in ["bomb-zipcrypto.zip", "bomb-aes.zip", "bomb.7z"] {
        let bytes = archive(name);
        assert_eq!(
            unlock(name, &bytes, PASSWORD, &per_entry),
            Err(UnlockError::Limit(Reason::EntryTooLarge { max: 1 << 20 })),
            "{name}"
        );
        assert_eq!(
            unlock(name, &bytes, PASSWORD, &total),
            Err(UnlockError::Limit(Reason::TotalTooLarge { max: 1 << 20 })),
            "{name}"
        );
        // Within the limits, the same archive opens.
        let entries = unlock(name, &bytes, PASSWORD, &Limits::default()).unwrap();
        assert_eq!(entries, [entry(&["zeros.bin"], vec![0; 4 << 20])], "{name}");
    }
    let few = Limits { max_entries: 2, ..Limits::default() };
    assert_eq!(
        unlock("zipcrypto.zip", &archive("zipcrypto.zip"), PASSWORD, &few),
        Err(UnlockError::Limit(Reason::TooManyEntries { max: 2 }))
    );
}

/// A bomb that declares a small size: the bytes themselves are bounded, and nothing is
/// returned.
#[test]
fn a_bomb_lying_about_its_size_returns_nothing() {
    let mut bytes = archive("bomb-zipcrypto.zip");
    // The central directory's uncompressed size (offset 24 of the central header).
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 24..central + 28].copy_from_slice(&1000u32.to_le_bytes());
    let local_has_size = u32::from_le_bytes(bytes[22..26].try_into().unwrap()) != 0;
    if local_has_size {
        bytes[22..26].copy_from_slice(&1000u32.to_le_bytes());
    }
    let limits = Limits { max_entry_size: 1 << 20, ..Limits::default() };
    let result = unlock("bomb.zip", &bytes, PASSWORD, &limits);
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn other_encrypted_files_are_refused_in_words() {
    let why = |name: &str| match unlock(name, &fixture(name), "secret", &Limits::default()) {
        Err(UnlockError::Unsupported { why, .. }) => why,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(why("encrypted.docx"), "password-protected Office documents cannot be opened by sekisho");
    assert_eq!(why("encrypted.xls"), "password-protected Office documents cannot be opened by sekisho");
    assert_eq!(why("encrypted.pdf"), "password-protected PDF files cannot be opened by sekisho");
    assert_eq!(why("encrypted.odt"), "password-protected OpenDocument files cannot be opened by sekisho");
    let rar = b"Rar!\x1A\x07\x01\x00\x33\x92\xB5\xE5\x0A\x01\x05\x06\x00\x05\x01\x01\x80\x80\x00";
    assert_eq!(
        unlock("invoice.rar", rar, "secret", &Limits::default()).unwrap_err().to_string(),
        "RAR archives cannot be opened by sekisho"
    );
}

#[test]
fn an_archive_without_encryption_has_nothing_to_unlock() {
    for name in ["plain.zip", "plain.7z", "plain-7zip.zip"] {
        assert_eq!(
            unlock(name, &fixture(name), "secret", &Limits::default()),
            Err(UnlockError::NotEncrypted),
            "{name}"
        );
    }
}

/// Every truncation and many byte flips of the archives: an error or entries, never a panic,
/// and never the entries of a wrong password.
#[test]
fn damaged_archives_never_panic() {
    for name in ["zipcrypto.zip", "aes256.zip", "mixed.zip", "content.7z", "headers.7z"] {
        let bytes = archive(name);
        // Every byte where a try is cheap; 7z's key derivation and AES's PBKDF2 are not.
        let step = match name {
            "content.7z" | "headers.7z" => 29,
            "aes256.zip" => 11,
            _ => 1,
        };
        for len in (0..bytes.len()).step_by(step) {
            let _ = unlock(name, &bytes[..len], PASSWORD, &Limits::default());
        }
        for at in (0..bytes.len()).step_by(step) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5A;
            if let Ok(entries) = unlock(name, &flipped, PASSWORD, &Limits::default()) {
                // A flip that leaves the content alone (a date, an unused field).
                for e in &entries {
                    let known = [invoice(), data(), b"This part is not encrypted.\n".to_vec()];
                    assert!(known.contains(&e.bytes), "{name} at {at}: {e:?}");
                }
            }
        }
    }
}

const JAPANESE_BODY: &str = "\
株式会社サンプル
経理部 山田様

いつもお世話になっております。
12月分の請求書を送付いたします。
添付ファイルをご確認ください。

添付ファイル名：請求書_20261204.zip
解凍パスワード：Kx7#pQ2v

よろしくお願いいたします。
-- 
鈴木 一郎 (TEL: 03-1234-5678)
";

/// A reply in a hijacked thread, as Emotet sends them: the password above the quoted mail.
const ENGLISH_BODY: &str = "\
Hi Mark,

Please review the attached statement before Friday.
Archive pass: Kx7#pQ2v

Thanks,
Anna

On Tue, Dec 1, 2026 at 9:12 AM Mark Lee <mark@example.com> wrote:
> Could you send me the Q4 figures (ref. Q4-2026r2)?
";

#[test]
fn the_candidates_of_a_mail_open_its_archive() {
    for body in [JAPANESE_BODY, ENGLISH_BODY] {
        let candidates = password_candidates(body);
        assert_eq!(candidates[0], PASSWORD);
        for name in ["zipcrypto.zip", "aes256.zip", "mixed.zip", "content.7z", "headers.7z"] {
            let found = try_candidates(name, &archive(name), &candidates, &Limits::default(), &TryLimits::default());
            assert!(matches!(&found, Ok(Some(Found { password, .. })) if password == PASSWORD), "{name}: {found:?}");
        }
    }
}

/// The password on the line below its label, after decoys that look like passwords.
#[test]
fn a_password_further_down_the_list_is_still_found() {
    let body = "Order ref AB12CD34, customer no. X9Y8Z7\n\nPassword for the attachment:\nKx7#pQ2v\n";
    let candidates = password_candidates(body);
    let found = try_candidates("a.zip", &archive("aes128.zip"), &candidates, &Limits::default(), &TryLimits::default());
    assert_eq!(found.unwrap().unwrap().password, PASSWORD);
}

#[test]
fn a_mail_without_the_password_opens_nothing() {
    let body = "\
お世話になっております。
パスワードは別途お送りします。
注文番号 AB12CD34 / 管理番号 X9Y8Z7W6 / ref 2026Q4r1
Password: hunter2
PW：ｔｅｓｔ１２３
";
    let candidates = password_candidates(body);
    assert!(candidates.len() >= 5, "{candidates:?}");
    for name in
        ["zipcrypto.zip", "zipcrypto-stored.zip", "aes128.zip", "aes256.zip", "mixed.zip", "content.7z", "headers.7z"]
    {
        let found = try_candidates(name, &archive(name), &candidates, &Limits::default(), &TryLimits::default());
        assert_eq!(found, Ok(None), "{name}");
    }
}

#[test]
fn trying_stops_for_what_no_password_opens() {
    let candidates = vec![PASSWORD.to_string()];
    let small = Limits { max_entry_size: 1 << 20, ..Limits::default() };
    let found = try_candidates("b.zip", &archive("bomb-aes.zip"), &candidates, &small, &TryLimits::default());
    assert_eq!(found, Err(UnlockError::Limit(Reason::EntryTooLarge { max: 1 << 20 })));
    let found = try_candidates("p.zip", &fixture("plain.zip"), &candidates, &small, &TryLimits::default());
    assert_eq!(found, Err(UnlockError::NotEncrypted));
}

#[test]
fn seven_zip_tries_are_bounded_by_their_work() {
    let mut candidates: Vec<String> = (0..10).map(|i| format!("wrong{i}")).collect();
    candidates.push(PASSWORD.to_string());
    let tries = TryLimits { max_tries: 20, max_sevenz_work: 4 };
    // The password is the 11th candidate: within 20 ZIP tries, beyond 4 units of 7z work.
    let zip = try_candidates("a.zip", &archive("aes256.zip"), &candidates, &Limits::default(), &tries);
    assert_eq!(zip.unwrap().unwrap().password, PASSWORD);
    let sevenz = try_candidates("c.7z", &archive("content.7z"), &candidates, &Limits::default(), &tries);
    assert_eq!(sevenz, Ok(None));
}

/// 7z has no password check value: without a CRC, any password would decode to something.
/// An archive whose encrypted entries carry none is refused, whatever the password.
#[test]
fn a_seven_zip_without_checksums_is_refused_for_any_password() {
    let bytes = archive("raw-header.7z");
    assert_eq!(unlock("r.7z", &bytes, PASSWORD, &Limits::default()).unwrap(), [entry(&["invoice.txt"], invoice())]);
    // Remove the SubStreamsInfo's CRC of invoice.txt (kCRC, all defined, 0x735A97A0) from the
    // uncompressed header, then set the header's size and both CRCs again.
    let crc: &[u8] = &[0x08, 0x0A, 0x01, 0xA0, 0x97, 0x5A, 0x73];
    let at = bytes.windows(crc.len()).position(|w| w == crc).expect("the CRC record");
    let mut edited = bytes[..at + 1].to_vec();
    edited.extend_from_slice(&bytes[at + crc.len()..]);
    let header_start = 32 + u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let header_size = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) - 6;
    edited[20..28].copy_from_slice(&header_size.to_le_bytes());
    let header_crc = crc32fast::hash(&edited[header_start..header_start + header_size as usize]);
    edited[28..32].copy_from_slice(&header_crc.to_le_bytes());
    let start_crc = crc32fast::hash(&edited[12..32]);
    edited[8..12].copy_from_slice(&start_crc.to_le_bytes());
    for password in ["wrong", "another", PASSWORD] {
        match unlock("r.7z", &edited, password, &Limits::default()) {
            Err(UnlockError::Unsupported { why, .. }) => {
                assert_eq!(
                    why,
                    "this 7z archive carries no checksums, so sekisho cannot tell whether a password is right"
                )
            }
            other => panic!("{password}: {other:?}"),
        }
    }
}

/// Each WinZip AES entry costs its own PBKDF2 derivation: an archive of thousands of tiny AES
/// entries is refused before any is derived.
#[test]
fn too_many_encrypted_entries_are_refused_before_any_key_is_derived() {
    let source = archive("aes256.zip");
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(&source[..])).unwrap();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..1001 {
        writer.raw_copy_file_rename(source.by_index_raw(1).unwrap(), format!("invoice-{i}.txt")).unwrap();
    }
    let many = writer.finish().unwrap().into_inner();
    let start = std::time::Instant::now();
    assert_eq!(
        unlock("many.zip", &many, PASSWORD, &Limits::default()),
        Err(UnlockError::Limit(Reason::TooManyEntries { max: 1000 }))
    );
    assert!(start.elapsed() < std::time::Duration::from_millis(500), "{:?}", start.elapsed());
    // Fewer open, each verified by its HMAC.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..3 {
        writer.raw_copy_file_rename(source.by_index_raw(1).unwrap(), format!("invoice-{i}.txt")).unwrap();
    }
    let few = writer.finish().unwrap().into_inner();
    let entries = unlock("few.zip", &few, PASSWORD, &Limits::default()).unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e.bytes == invoice()));
}

/// A Japanese password from the mail opens the archive; its half-width form is another
/// password.
#[test]
fn a_japanese_password_opens_zip_and_seven_zip() {
    let body = "お世話になっております。\nパスワード：パス１２３abc\n";
    let candidates = password_candidates(body);
    assert_eq!(candidates[..2], ["パス１２３abc", "パス123abc"]);
    for name in ["jp-zipcrypto.zip", "jp.7z"] {
        assert_eq!(open(name, "パス１２３abc").unwrap(), [entry(&["invoice.txt"], invoice())], "{name}");
        assert_eq!(open(name, "パス123abc"), Err(UnlockError::WrongPassword), "{name}");
        let found = try_candidates(name, &archive(name), &candidates, &Limits::default(), &TryLimits::default());
        assert_eq!(found.unwrap().unwrap().password, "パス１２３abc", "{name}");
    }
}
