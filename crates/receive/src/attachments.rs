//! Encrypted attachments at submission: the file sekisho replaces. Every part of a submitted
//! message is inspected (nested archives and attached messages too) before the 250; a
//! password-protected file, or one that cannot be inspected, is refused with a reply the sender
//! understands, per `[outbound] encrypted_attachments` and `uninspectable_attachments`.

use std::path::Path;

use sekisho_config::{EncryptedPolicy, OutboundConfig, UninspectablePolicy};
use sekisho_inspect::encrypted::Verdict;
use sekisho_inspect::mime::{MessageLimits, MimeError, PartReport, inspect_message};

use crate::inspector::{INSPECTIONS, INSPECTORS, Source};
use sekisho_inspect::mime::inspect_cut;
use sekisho_smtp::Reply;
use sekisho_store::spooled::{CUT_AT, Spooled, may_cut};
use sekisho_store::{FileFinding, FinishedBody, Found};

/// Longest reply text: with "550 5.7.1 " before it and CRLF after, a reply line stays within
/// RFC 5321's 512 bytes.
const MAX_REPLY_TEXT: usize = 512 - "550 5.7.1 ".len() - 2;
/// Longest file name, and longest reason, in a reply: the reason comes whole before the path
/// inside an archive, which is cut to what room is left.
const MAX_REPLY_NAME: usize = 60;
const MAX_REPLY_REASON: usize = 200;

/// Longest wait for a turn to inspect, and longest inspection.
const INSPECTION_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// What inspecting a submitted message found.
pub(crate) struct Inspected {
    /// The reply that refuses the message, if the policy does.
    pub refusal: Option<Reply>,
    /// What was found in each file (attachments, and files inside attached messages); None
    /// when the message was not (fully) inspected.
    pub findings: Option<Vec<FileFinding>>,
}

/// Inspects the received message `body`.
pub(crate) async fn check(policy: &OutboundConfig, body: &FinishedBody) -> Result<Inspected, std::io::Error> {
    let (path, size) = (body.path(), body.size());
    if policy.encrypted_attachments == EncryptedPolicy::Allow
        && policy.uninspectable_attachments == UninspectablePolicy::Allow
    {
        return Ok(Inspected { refusal: None, findings: None });
    }
    // Inspection uses a core (and holds what is not cut out in memory): a few at a time,
    // whatever the number of connections.
    let too_slow = || {
        (policy.uninspectable_attachments == UninspectablePolicy::Reject).then(|| {
            Reply::new(
                550,
                "5.7.1",
                "the message could not be inspected in time: send large archives unpacked or in parts",
            )
        })
    };
    let first = match may_cut(size, CUT_AT) {
        true => inspect_cut_in_turn(path).await?,
        // Too short to hold a long body: read whole on the inspection thread (or from memory),
        // without opening it on another thread first.
        false => Some(Inspection::Whole(Source::of(body))),
    };
    let inspection = match first {
        Some(Inspection::Done(result)) => Some(result),
        // A cut body that is no whole part body: the message is inspected whole, with the
        // share of a whole message.
        Some(Inspection::Whole(path)) => match inspect_in_turn(path, size).await? {
            Some(Inspection::Done(result)) => Some(result),
            _ => None,
        },
        None => None,
    };
    match inspection {
        Some(result) => {
            let findings = result.as_ref().ok().map(|parts| findings(parts));
            Ok(Inspected { refusal: decide(policy, &result), findings })
        }
        None => Ok(Inspected { refusal: too_slow(), findings: None }),
    }
}

/// Inspects the message at `path` with its long base64 bodies (the attachments of megabytes)
/// decoded to unnamed files in the spool a buffer at a time, only the rest of it held; when
/// none was cut, [`Inspection::Whole`].
async fn inspect_cut_in_turn(path: &Path) -> Result<Option<Inspection>, std::io::Error> {
    let spooled = {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Spooled::open(&path, CUT_AT)).await.map_err(std::io::Error::other)??
    };
    if !spooled.is_cut() {
        return Ok(Some(Inspection::Whole(Source::File(path.to_path_buf()))));
    }
    // Its share of the memory budget inbound inspections use too: what is held in memory (the
    // skeleton, and the archives whose entries the inspection expands) waits for room instead
    // of being held beside several others.
    let held = spooled.in_memory() + spooled.containers();
    inspect_in_turn(spooled, held).await
}

/// What an inspection thread made of a message.
enum Inspection {
    Done(Result<Vec<PartReport>, MimeError>),
    /// To be inspected whole.
    Whole(Source),
}

/// What can be inspected on an inspection thread.
trait Inspectable: Send + 'static {
    fn inspect(self) -> std::io::Result<Inspection>;
}

impl Inspectable for Spooled {
    fn inspect(self) -> std::io::Result<Inspection> {
        Ok(match inspect_cut(self.skeleton(), &self.cuts(), &MessageLimits::default()) {
            Some(result) => Inspection::Done(result),
            None => Inspection::Whole(Source::File(self.path().to_path_buf())),
        })
    }
}

impl Inspectable for Source {
    fn inspect(self) -> std::io::Result<Inspection> {
        // Read on the inspection thread itself: one hop between threads instead of two.
        self.with(|raw| Inspection::Done(inspect_message(raw, &MessageLimits::default())))
    }
}

/// Inspects `what` (holding `held` bytes in memory) on an inspection thread once its share of
/// the memory budget and a turn are free; `None` when that took too long.
async fn inspect_in_turn(what: impl Inspectable, held: u64) -> Result<Option<Inspection>, std::io::Error> {
    let memory = crate::inbound::MEMORY.acquire_many(crate::inbound::units(held));
    let Ok(memory) = tokio::time::timeout(INSPECTION_TIME, memory).await else {
        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no room to inspect the message"));
    };
    let _memory = memory.map_err(std::io::Error::other)?;
    let Ok(turn) = tokio::time::timeout(INSPECTION_TIME, INSPECTIONS.acquire()).await else {
        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no turn to inspect the message"));
    };
    let _turn = turn.map_err(std::io::Error::other)?;
    let inspection = INSPECTORS.run(move || what.inspect())?;
    match tokio::time::timeout(INSPECTION_TIME, inspection).await {
        Ok(result) => {
            let result =
                result.map_err(|_| std::io::Error::other("the inspection thread ended without an answer"))??;
            Ok(Some(result))
        }
        Err(_) => {
            // That thread is still at it: another takes its place.
            if let Err(e) = INSPECTORS.add_thread() {
                tracing::error!(error = %e, "cannot start an inspection thread");
            }
            Ok(None)
        }
    }
}

/// The decision, from the policy and what inspection found: a pure function. A refusal says
/// why first (the reason whole), then where inside the file, then what to do.
pub(crate) fn decide(policy: &OutboundConfig, result: &Result<Vec<PartReport>, MimeError>) -> Option<Reply> {
    let reject_encrypted = policy.encrypted_attachments == EncryptedPolicy::Reject;
    let reject_uninspectable = policy.uninspectable_attachments == UninspectablePolicy::Reject;
    let parts = match result {
        Ok(parts) => parts,
        Err(e) if reject_uninspectable => {
            let text = format!("{}; sekisho inspects every part of the mail it sends", ascii(&e.to_string(), 400));
            return Some(Reply::new(550, "5.6.0", text));
        }
        Err(_) => return None,
    };
    for part in parts {
        let name = quoted(&part.display_name());
        let text = match part.report.verdict() {
            Verdict::Encrypted(findings) if reject_encrypted => {
                let Some(finding) = findings.first() else { continue };
                let kind = finding.kind.to_string();
                let kind = kind.strip_prefix("password-protected ").unwrap_or(&kind);
                let advice = "send the file unencrypted, and no password mail; sekisho protects it on the way (as is \
                              over verified TLS, else as a download link)";
                let head = format!("{name} is password-protected ({}", ascii(kind, MAX_REPLY_REASON));
                let tail = format!("): {advice}");
                format!("{head}{}{tail}", inside(&finding.path, MAX_REPLY_TEXT.saturating_sub(head.len() + tail.len())))
            }
            Verdict::Uninspectable(obstacles) if reject_uninspectable => {
                let Some(obstacle) = obstacles.first() else { continue };
                let head =
                    format!("{name} cannot be inspected: {}", ascii(&obstacle.reason.to_string(), MAX_REPLY_REASON));
                let tail = format!(": {}", obstacle.reason.advice());
                format!(
                    "{head}{}{tail}",
                    inside(&obstacle.path, MAX_REPLY_TEXT.saturating_sub(head.len() + tail.len()))
                )
            }
            _ => continue,
        };
        return Some(Reply::new(550, "5.7.1", text));
    }
    None
}

/// What the message carries, file by file, as the queue records it: a pure function.
pub(crate) fn findings(parts: &[PartReport]) -> Vec<FileFinding> {
    parts
        .iter()
        .filter(|p| p.is_file())
        .map(|p| FileFinding {
            section: p.section.clone(),
            name: p.display_name(),
            content_type: p.content_type.clone(),
            size: p.size as u64,
            found: match p.report.verdict() {
                Verdict::Clean => Found::Clean,
                Verdict::Encrypted(f) => Found::Encrypted {
                    what: f.first().map(|f| f.kind.to_string()).unwrap_or_default(),
                    inside: f.first().map(|f| f.path.iter().skip(1).cloned().collect()).unwrap_or_default(),
                },
                Verdict::Uninspectable(o) => Found::Uninspectable {
                    why: o.first().map(|o| o.reason.to_string()).unwrap_or_default(),
                    inside: o.first().map(|o| o.path.iter().skip(1).cloned().collect()).unwrap_or_default(),
                },
            },
        })
        .collect()
}

/// ", in a.zip > b/c.docx" (where inside the attachment), at most `room` characters; nothing
/// when the attachment itself is meant.
fn inside(path: &[String], room: usize) -> String {
    if path.len() < 2 {
        return String::new();
    }
    let path: Vec<String> = path.iter().map(|p| ascii(p, MAX_REPLY_NAME)).collect();
    let text = format!(", in {}", path.join(" > "));
    if text.len() <= room {
        text
    } else if room > ", in ...".len() {
        format!("{}...", &text[..room - 3])
    } else {
        String::new()
    }
}

pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", ascii(name, MAX_REPLY_NAME).replace('"', "'"))
}

/// Printable ASCII only (a reply is ASCII), at most `max` characters.
pub(crate) fn ascii(text: &str, max: usize) -> String {
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
    use sekisho_inspect::mime::{MessageLimits, inspect_message};

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
    fn the_findings_name_each_file_and_what_was_found_in_it() {
        let raw = mail_with(&zip_with_flag(1), "secret.zip");
        let plain = mail_with(&zip_with_flag(0), "plain.zip");
        let parts = inspect_message(&raw, &MessageLimits::default()).unwrap();
        let found = findings(&parts);
        assert_eq!(found.len(), 1, "the text body is no file: {found:?}");
        assert_eq!((found[0].name.as_str(), found[0].section.as_str()), ("secret.zip", "2"));
        assert_eq!(found[0].content_type, "application/zip");
        assert!(
            matches!(&found[0].found, Found::Encrypted { what, inside } if what.contains("ZipCrypto") && inside == &["a.txt"]),
            "{found:?}"
        );
        let clean = findings(&inspect_message(&plain, &MessageLimits::default()).unwrap());
        assert_eq!(clean[0].found, Found::Clean);
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

    fn part_with(report: sekisho_inspect::encrypted::Report) -> Result<Vec<PartReport>, MimeError> {
        Ok(vec![PartReport {
            section: "2".into(),
            names: vec!["outer.zip".into()],
            content_type: "application/zip".into(),
            is_attachment: true,
            in_attached_message: false,
            size: 1,
            span: (0, 1),
            report,
        }])
    }

    fn deep_path() -> Vec<String> {
        let mut path = vec!["outer.zip".to_string()];
        path.extend((0..12).map(|i| format!("folder-{i}/archive-with-a-long-name-{i}.zip")));
        path
    }

    #[test]
    fn the_reason_comes_first_whole_then_where_then_what_to_do() {
        use sekisho_inspect::encrypted::{Format, Obstacle, Reason, Report};
        let report = Report {
            format: Format::Zip,
            findings: vec![],
            obstacles: vec![Obstacle { path: deep_path(), reason: Reason::UnsupportedMethod { method: 6 } }],
            notes: vec![],
        };
        let r = decide(&policy("reject", "reject"), &part_with(report)).expect("refused");
        let text = &r.lines[0];
        assert!(
            text.starts_with(
                "\"outer.zip\" cannot be inspected: compressed with a method sekisho cannot open (Implode, method 6), \
                 in outer.zip > folder-0/"
            ),
            "{text}"
        );
        assert!(text.ends_with(": send it as a standard ZIP (Deflate), or the files unpacked"), "{text}");
        assert!(text.contains("...:"), "the path is what is cut: {text}");
        assert!(r.to_wire().len() <= 512, "{}", r.to_wire().len());
    }

    #[test]
    fn a_deep_encrypted_entry_still_says_what_to_do() {
        use sekisho_inspect::encrypted::{Finding, Format, Kind, Report, ZipMethod};
        let report = Report {
            format: Format::Zip,
            findings: vec![Finding { path: deep_path(), kind: Kind::Zip(ZipMethod::ZipCrypto) }],
            obstacles: vec![],
            notes: vec![],
        };
        let r = decide(&policy("reject", "reject"), &part_with(report)).expect("refused");
        let text = &r.lines[0];
        assert!(
            text.starts_with("\"outer.zip\" is password-protected (ZIP entry (ZipCrypto), in outer.zip > "),
            "{text}"
        );
        assert!(text.contains("send the file unencrypted"), "{text}");
        assert!(r.to_wire().len() <= 512);
    }

    #[test]
    fn a_long_structure_reason_stays_within_a_reply_line() {
        let err =
            Err(MimeError::Ambiguous("1".into(), format!("unknown Content-Transfer-Encoding `{}`", "x".repeat(900))));
        let r = decide(&policy("reject", "reject"), &err).expect("refused");
        assert!(r.to_wire().len() <= 512);
        let fragment = decide(&policy("reject", "reject"), &Err(MimeError::Fragment)).expect("refused");
        assert!(fragment.lines[0].starts_with("the message is a fragment (message/partial)"), "{:?}", fragment.lines);
    }

    #[tokio::test]
    async fn forty_thousand_nested_messages_are_refused_not_a_crash() {
        // From the spooled file (4.6 MB: too large to be kept in memory), and from memory
        // (1.3 MB, and a body that fit one write).
        for levels in [140_000, 40_000, 1_500] {
            let raw = format!("From: a@example.jp\r\n{}", "Content-Type : message/rfc822\r\n\r\n".repeat(levels));
            let dir = tempfile::tempdir().unwrap();
            let spool = sekisho_store::Spool::open(dir.path()).unwrap();
            let mut body = spool.create(&sekisho_store::QueueId::generate()).await.unwrap();
            body.write(raw.as_bytes()).await.unwrap();
            let body = body.finish().await.unwrap();
            assert_eq!(body.kept().is_some(), levels != 140_000);
            let inspected = check(&policy("reject", "reject"), &body).await;
            let refusal = inspected.unwrap().refusal.expect("refused");
            assert_eq!((refusal.code, refusal.status), (550, Some("5.6.0")));
            assert!(refusal.lines[0].starts_with("MIME parts are nested more than 20 deep"), "{:?}", refusal.lines);
        }
    }
}
