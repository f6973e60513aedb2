//! Encrypted attachments at submission: the file sekisho replaces. Every part of a submitted
//! message is inspected (nested archives and attached messages too) before the 250; a
//! password-protected file, or one that cannot be inspected, is refused with a reply the sender
//! understands, per `[outbound] encrypted_attachments` and `uninspectable_attachments`.

use std::path::Path;

use sekisho_config::{EncryptedPolicy, OutboundConfig, UninspectablePolicy};
use sekisho_inspect::encrypted::Verdict;
use sekisho_inspect::mime::{MessageLimits, MimeError, PartReport, inspect_message};
use sekisho_smtp::Reply;

/// Messages inspected at once in this process: one per core (at least two).
static INSPECTIONS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get().max(2)))
});

/// Longest file name and finding in a reply (a reply line stays within 512 bytes).
const MAX_REPLY_NAME: usize = 60;
const MAX_REPLY_DETAIL: usize = 80;

/// Longest wait for a turn to inspect, and longest inspection.
const INSPECTION_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// What inspecting a submitted message found.
pub(crate) struct Inspected {
    /// The reply that refuses the message, if the policy does.
    pub refusal: Option<Reply>,
    /// Parts that are files (attachments, or inside attached messages); None when the message
    /// was not (fully) inspected.
    pub files: Option<u32>,
}

/// Inspects the spooled message at `path`.
pub(crate) async fn check(policy: &OutboundConfig, path: &Path) -> Result<Inspected, std::io::Error> {
    if policy.encrypted_attachments == EncryptedPolicy::Allow
        && policy.uninspectable_attachments == UninspectablePolicy::Allow
    {
        return Ok(Inspected { refusal: None, files: None });
    }
    // Inspection holds a message and its decoded parts in memory and uses a core: a few at a
    // time, whatever the number of connections.
    let too_slow = || {
        (policy.uninspectable_attachments == UninspectablePolicy::Reject).then(|| {
            Reply::new(
                550,
                "5.7.1",
                "the message could not be inspected in time: send large archives unpacked or in parts",
            )
        })
    };
    let Ok(turn) = tokio::time::timeout(INSPECTION_TIME, INSPECTIONS.acquire()).await else {
        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no turn to inspect the message"));
    };
    let _turn = turn.map_err(std::io::Error::other)?;
    let raw = tokio::fs::read(path).await?;
    let inspection = tokio::task::spawn_blocking(move || inspect_message(&raw, &MessageLimits::default()));
    match tokio::time::timeout(INSPECTION_TIME, inspection).await {
        Ok(result) => {
            let result = result.map_err(std::io::Error::other)?;
            let files = result.as_ref().ok().map(|parts| parts.iter().filter(|p| p.is_file()).count() as u32);
            Ok(Inspected { refusal: decide(policy, &result), files })
        }
        Err(_) => Ok(Inspected { refusal: too_slow(), files: None }),
    }
}

/// The decision, from the policy and what inspection found: a pure function.
pub(crate) fn decide(policy: &OutboundConfig, result: &Result<Vec<PartReport>, MimeError>) -> Option<Reply> {
    let reject_encrypted = policy.encrypted_attachments == EncryptedPolicy::Reject;
    let reject_uninspectable = policy.uninspectable_attachments == UninspectablePolicy::Reject;
    let parts = match result {
        Ok(parts) => parts,
        Err(e) if reject_uninspectable => {
            return Some(Reply::new(550, "5.6.0", format!("{e}; sekisho inspects every part of the mail it sends")));
        }
        Err(_) => return None,
    };
    for part in parts {
        let (what, advice) = match part.report.verdict() {
            Verdict::Encrypted(findings) if reject_encrypted => (
                findings.first().map(|f| f.to_string()),
                "is password-protected ({}): send the file unencrypted, and no password mail; sekisho protects \
                 it on the way (as is over verified TLS, else as a download link)",
            ),
            Verdict::Uninspectable(obstacles) if reject_uninspectable => (
                obstacles.first().map(|o| o.to_string()),
                "cannot be inspected ({}): send it in a form that can be opened",
            ),
            _ => continue,
        };
        let detail = ascii(&what.unwrap_or_default(), MAX_REPLY_DETAIL);
        let text = format!("{} {}", quoted(&part.display_name()), advice.replacen("{}", &detail, 1));
        return Some(Reply::new(550, "5.7.1", text));
    }
    None
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", ascii(name, MAX_REPLY_NAME).replace('"', "'"))
}

/// Printable ASCII only (a reply is ASCII), at most `max` characters.
fn ascii(text: &str, max: usize) -> String {
    let mut out: String =
        text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(max).collect();
    if text.chars().count() > max {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(encrypted: &str, uninspectable: &str) -> OutboundConfig {
        OutboundConfig {
            encrypted_attachments: EncryptedPolicy::parse(encrypted).expect("a policy keyword"),
            uninspectable_attachments: UninspectablePolicy::parse(uninspectable).expect("a policy keyword"),
            ..Default::default()
        }
    }

    fn zip_with_flag(flag: u16) -> Vec<u8> {
        // One stored entry "a.txt" ("hi"), local header and central directory.
        let name = b"a.txt";
        let mut z = Vec::new();
        z.extend_from_slice(b"PK\x03\x04\x14\x00");
        z.extend_from_slice(&flag.to_le_bytes());
        z.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&0xd893_2aacu32.to_le_bytes()); // CRC-32 of "hi"
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name);
        z.extend_from_slice(b"hi");
        let cd = z.len() as u32;
        z.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        z.extend_from_slice(&flag.to_le_bytes());
        z.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&0xd893_2aacu32.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&2u32.to_le_bytes());
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 12]);
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(name);
        let cd_size = z.len() as u32 - cd;
        z.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&cd.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z
    }

    fn mail_with(attachment: &[u8], name: &str) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(attachment);
        format!(
            "From: a@example.jp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
             Content-Type: text/plain\r\n\r\nsee attached\r\n--B\r\nContent-Type: application/zip; name=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
        )
        .into_bytes()
    }

    fn run(policy: &OutboundConfig, raw: &[u8]) -> Option<Reply> {
        decide(policy, &inspect_message(raw, &MessageLimits::default()))
    }

    #[test]
    fn a_password_zip_is_refused_with_a_sentence() {
        let r = run(&policy("reject", "reject"), &mail_with(&zip_with_flag(1), "見積書.zip")).expect("refused");
        assert_eq!((r.code, r.status), (550, Some("5.7.1")));
        let text = &r.lines[0];
        assert!(text.starts_with("\"???.zip\" is password-protected ("), "{text}");
        assert!(text.contains("ZipCrypto") && text.contains("send the file unencrypted"), "{text}");
        assert!(text.is_ascii());
        let long = run(&policy("reject", "reject"), &mail_with(&zip_with_flag(1), &"n".repeat(600))).unwrap();
        assert!(long.to_wire().len() <= 512, "a reply line stays within RFC 5321's 512 bytes");
    }

    #[test]
    fn a_plain_zip_passes_and_allow_lets_everything_through() {
        assert!(run(&policy("reject", "reject"), &mail_with(&zip_with_flag(0), "plain.zip")).is_none());
        assert!(run(&policy("allow", "reject"), &mail_with(&zip_with_flag(1), "secret.zip")).is_none());
    }

    #[test]
    fn structure_problems_follow_the_uninspectable_policy() {
        let err: Result<Vec<PartReport>, MimeError> = Err(MimeError::TooManyParts(1000));
        let r = decide(&policy("reject", "reject"), &err).expect("refused");
        assert_eq!((r.code, r.status), (550, Some("5.6.0")));
        assert!(r.lines[0].contains("more than 1000 MIME parts"));
        assert!(decide(&policy("reject", "allow"), &err).is_none());
        let ambiguous: Result<Vec<PartReport>, MimeError> =
            Err(MimeError::Ambiguous("2".into(), "more than one Content-Type field".into()));
        assert!(decide(&policy("reject", "reject"), &ambiguous).unwrap().lines[0].contains("ambiguous"));
    }
}
