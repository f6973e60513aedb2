//! Mail for the link tests: messages with attachments, and reading what sekisho sent back —
//! the download notice and its link, a one-time code, the text of a mail sekisho wrote.

use base64::Engine as _;
use sekisho_store::{MessageDetail, RecipientState};

use crate::FakeMx;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// SHA-256, hex.
pub fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes: a file no compression shrinks.
pub fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

/// Base64 in lines of 76, as mail programs write it.
pub fn wrapped(bytes: &[u8]) -> String {
    B64.encode(bytes).as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n")
}

/// RFC 2231 `UTF-8''` percent-encoding: quotes, angle brackets, spaces and the like survive.
pub fn rfc2231(name: &str) -> String {
    let mut out = String::from("UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How attachment names are written.
#[derive(Debug, Clone, Copy)]
pub enum Names {
    /// `name="..."` as given.
    Quoted,
    /// `name*=UTF-8''...` (RFC 2231).
    Rfc2231,
}

/// A message from alice@example.jp to `to` with a text body and the attachments `files`.
pub fn message_with_files(to: &str, files: &[(&str, &[u8])], names: Names) -> String {
    let mut m = format!(
        "From: alice@example.jp\r\nTo: {to}\r\nSubject: =?UTF-8?B?{}?=\r\nDate: Wed, 2 Dec 2026 10:00:00 +0900\r\n\
         Message-ID: <quote-1@example.jp>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the quotation attached.\r\n",
        B64.encode("見積書の送付")
    );
    for (name, bytes) in files {
        let (n, f) = match names {
            Names::Quoted => (format!("name=\"{name}\""), format!("filename=\"{name}\"")),
            Names::Rfc2231 => (format!("name*={}", rfc2231(name)), format!("filename*={}", rfc2231(name))),
        };
        m.push_str(&format!(
            "--outer\r\nContent-Type: application/octet-stream; {n}\r\nContent-Disposition: attachment; {f}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            wrapped(bytes)
        ));
    }
    m.push_str("--outer--\r\n");
    m
}

/// Every recipient delivered or bounced.
pub fn done(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| matches!(r.state, RecipientState::Delivered | RecipientState::Bounced))
}

/// The decoded text/plain part of the download notice in `data`.
pub fn notice_text(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let start = text.find("boundary=\"=_sekisho_").expect("a download notice");
    let plain = &text[start..];
    let part_head = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let body = &plain[plain.find(part_head).expect("text part") + part_head.len()..];
    let body = &body[..body.find("\r\n--").unwrap()];
    let clean: String = body.split_whitespace().collect();
    String::from_utf8(B64.decode(clean).unwrap()).unwrap()
}

/// The link in a notice's text.
pub fn link_in(notice: &str) -> String {
    let at = notice.find("Download: ").expect("the link") + "Download: ".len();
    notice[at..].lines().next().unwrap().trim().to_string()
}

/// The decoded body of a text mail sekisho wrote (a code, a password, a sign-in link...).
pub fn own_mail_text(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let clean: String = text.split_once("\r\n\r\n")?.1.split_whitespace().collect();
    String::from_utf8(B64.decode(clean).ok()?).ok()
}

/// The one-time code in a code mail, if `data` is one.
pub fn code_in(data: &[u8]) -> Option<String> {
    let decoded = own_mail_text(data)?;
    let at = decoded.find("Your one-time download code: ")? + "Your one-time download code: ".len();
    let code = decoded.get(at..at + 6)?;
    code.bytes().all(|b| b.is_ascii_digit()).then(|| code.to_string())
}

/// Waits up to `secs` seconds for a code mail to `rcpt` at `mx`.
pub async fn code_from(mx: &FakeMx, rcpt: &str, secs: u64) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let found = mx.received().iter().filter(|m| m.rcpt_to == [rcpt.to_string()]).find_map(|m| code_in(&m.data));
        if let Some(code) = found {
            return code;
        }
        assert!(tokio::time::Instant::now() < deadline, "no code mail for {rcpt} within {secs} s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `zip -P password` of `entries` (name, bytes), made by Info-ZIP's zip (ZipCrypto, Debian
/// package zip): the password-protected archive attack mail carries.
pub fn encrypted_zip(password: &str, entries: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, bytes) in entries {
        std::fs::write(dir.path().join(name), bytes).expect("an entry written");
    }
    let out = std::process::Command::new("zip")
        .current_dir(dir.path())
        .args(["-q", "-X", "-P", password, "archive.zip"])
        .args(entries.iter().map(|(n, _)| *n))
        .output()
        .expect("zip (Debian package zip)");
    assert!(out.status.success(), "zip failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(dir.path().join("archive.zip")).expect("the archive")
}

/// `bytes` uuencoded as `name` (`begin 644 NAME` ... `end`), as a mail program puts a file in
/// the text of a message.
pub fn uuencoded(name: &str, bytes: &[u8]) -> String {
    let mut out = format!("begin 644 {name}\r\n");
    for chunk in bytes.chunks(45) {
        out.push((b' ' + chunk.len() as u8) as char);
        for three in chunk.chunks(3) {
            let b = [three[0], *three.get(1).unwrap_or(&0), *three.get(2).unwrap_or(&0)];
            for c in [b[0] >> 2, (b[0] & 3) << 4 | b[1] >> 4, (b[1] & 15) << 2 | b[2] >> 6, b[2] & 63] {
                out.push(if c == 0 { '`' } else { (b' ' + c) as char });
            }
        }
        out.push_str("\r\n");
    }
    out.push_str("`\r\nend\r\n");
    out
}
