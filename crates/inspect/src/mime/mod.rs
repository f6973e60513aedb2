//! The MIME walk of a whole message: every leaf part, nested messages included, decoded from
//! its transfer encoding and inspected by its bytes (a file is what it is, whatever its
//! declared type or name). Each part's name candidates are all kept — `name=` and `filename=`,
//! RFC 2231 and encoded-word forms, from every Content-Type and Content-Disposition field — so
//! that a decision never rests on only the first one.

mod base64_avx2;
mod cut;
mod decoded_bodies;
mod files;
mod html_bodies;
mod loose;
mod prescan;
mod text_bodies;
pub(crate) mod transfer;
mod words;

pub use cut::{Cut, LongBodies, Span};
pub use files::{AttachedFile, Carried, CutFiles, MessageFiles, attachments, attachments_cut, carried};
pub use html_bodies::{HtmlBody, html_bodies};
pub use text_bodies::{TextBodies, TextBody, text_bodies};
pub use transfer::Base64;
pub use words::{Words, words};

use cut::Cuts;
use prescan::prescan;

use mail_parser::{HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};

use crate::encrypted::{self, Limits, Report};

/// Bounds on the structure of one message.
#[derive(Debug, Clone)]
pub struct MessageLimits {
    /// Most MIME parts, nested messages included.
    pub max_parts: usize,
    /// Deepest nesting of multiparts and attached messages.
    pub max_depth: u32,
    /// Bounds for each part's inspection.
    pub archive: Limits,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits { max_parts: 1000, max_depth: 20, archive: Limits::default() }
    }
}

/// Why a message's structure cannot be inspected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// Not a message at all (nothing to parse).
    #[error("the message cannot be parsed as MIME")]
    Unparseable,
    /// More parts than `max_parts`.
    #[error("the message has more than {0} MIME parts")]
    TooManyParts(usize),
    /// Nested deeper than `max_depth`.
    #[error("MIME parts are nested more than {0} deep")]
    TooDeep(u32),
    /// A part that mail programs could read in more than one way (duplicate fields, an
    /// unknown or undecodable transfer encoding): refused rather than guessed.
    #[error("MIME part {0} is ambiguous: {1}")]
    Ambiguous(String, String),
    /// A `message/partial` part: one fragment of a message split in several mails, which
    /// cannot be inspected alone (RFC 2046 5.2.2).
    #[error(
        "the message is a fragment (message/partial) of a larger message, which cannot be inspected alone: send it whole"
    )]
    Fragment,
}

/// One leaf part.
#[derive(Debug, Clone)]
pub struct PartReport {
    /// Where it is: "1", "2.1" (numbered like IMAP sections).
    pub section: String,
    /// Every file name the part's fields give, in order, duplicates removed.
    pub names: Vec<String>,
    /// "type/subtype" as declared ("text/plain" when none is).
    pub content_type: String,
    /// A file name, or `Content-Disposition: attachment`.
    pub is_attachment: bool,
    /// Inside an attached message (which travels as one file).
    pub in_attached_message: bool,
    /// Decoded size in bytes.
    pub size: usize,
    /// Where the part is in the message, from the start of its header to the end of its body
    /// (what the rewrite stage replaces); for a part inside an attached message, the span of
    /// that whole attached message.
    pub span: (usize, usize),
    /// What its bytes are, and whether anything in them is encrypted.
    pub report: Report,
}

impl PartReport {
    /// Part of a file the message carries: an attachment, or inside an attached message.
    pub fn is_file(&self) -> bool {
        self.is_attachment || self.in_attached_message
    }

    /// The name to show: the first candidate, else the section.
    pub fn display_name(&self) -> String {
        self.names.first().cloned().unwrap_or_else(|| format!("part {}", self.section))
    }
}

/// Walks `raw` (a whole message) and inspects every leaf part.
pub fn inspect_message(raw: &[u8], limits: &MessageLimits) -> Result<Vec<PartReport>, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let mut walk = Walk { limits, parts: 0, out: Vec::new(), cuts: Cuts::none(), decoded_inner: 0 };
    let walked = walk.part(&message, raw, 0, "", 0, None);
    dismantle(message);
    walked.map(|()| walk.out)
}

/// [`inspect_message`] for a message whose long base64 bodies were cut out (see
/// [`LongBodies`]): `skeleton` is the message without them, `cuts` says where they were and
/// holds their decoded bytes. The reports are those of the whole message (spans in its
/// offsets). `None` when a cut is not exactly one part's body: the message is then to be
/// inspected whole.
pub fn inspect_cut(
    skeleton: &[u8],
    cuts: &[Cut<'_>],
    limits: &MessageLimits,
) -> Option<Result<Vec<PartReport>, MimeError>> {
    if let Err(e) = prescan(skeleton, limits) {
        return cuts.is_empty().then_some(Err(e));
    }
    let Some(message) = MessageParser::default().parse(skeleton) else {
        return cuts.is_empty().then_some(Err(MimeError::Unparseable));
    };
    let mut walk = Walk { limits, parts: 0, out: Vec::new(), cuts: Cuts::new(cuts), decoded_inner: 0 };
    let walked = walk.part(&message, skeleton, 0, "", 0, None);
    dismantle(message);
    walk.cuts.all_fit().then(|| walked.map(|()| walk.out))
}

/// Drops a parsed message level by level: mail-parser nests attached messages as values, and
/// dropping them the ordinary way recurses once per level.
fn dismantle(message: mail_parser::Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in &mut message.parts {
            if let PartType::Message(_) = part.body
                && let PartType::Message(inner) = std::mem::take(&mut part.body)
            {
                pending.push(inner);
            }
        }
    }
}

/// Transfer encodings RFC 2045 defines.
const ENCODINGS: [&str; 5] = ["7bit", "8bit", "binary", "base64", "quoted-printable"];

/// Refuses a part whose MIME fields can be read in more than one way.
fn unambiguous(part: &mail_parser::MessagePart<'_>, section: &str) -> Result<(), MimeError> {
    let bad = |why: String| Err(MimeError::Ambiguous(section.to_string(), why));
    for (name, label) in [
        (HeaderName::ContentType, "Content-Type"),
        (HeaderName::ContentTransferEncoding, "Content-Transfer-Encoding"),
        (HeaderName::ContentDisposition, "Content-Disposition"),
    ] {
        if part.headers.iter().filter(|h| h.name == name).count() > 1 {
            return bad(format!("more than one {label} field"));
        }
    }
    if let Some(ct) = part.content_type() {
        let boundaries = ct.attributes().unwrap_or_default().iter().filter(|a| a.name.eq_ignore_ascii_case("boundary"));
        if boundaries.count() > 1 {
            return bad("more than one boundary parameter".into());
        }
    }
    if let Some(cte) = transfer_encoding(part)
        && !ENCODINGS.contains(&cte.as_str())
    {
        return bad(format!("unknown Content-Transfer-Encoding `{cte}`"));
    }
    if part.is_encoding_problem {
        return bad("its content cannot be decoded as declared".into());
    }
    Ok(())
}

/// A leaf part's bytes, decoded from its transfer encoding (`body` is its raw body). A binary
/// part in plain base64 is taken as mail-parser already decoded it (both decoders read plain
/// base64 alike), borrowed rather than copied (a large file is held once, not twice); any
/// other base64 is decoded here, leniently, as mail programs do.
fn decode<'p>(part: &'p mail_parser::MessagePart<'_>, body: &'p [u8]) -> std::borrow::Cow<'p, [u8]> {
    use std::borrow::Cow;
    match transfer_encoding(part).as_deref() {
        Some("base64") => match &part.body {
            PartType::Binary(decoded) | PartType::InlineBinary(decoded) if transfer::is_plain_base64(body) => {
                Cow::Borrowed(decoded.as_ref())
            }
            _ => Cow::Owned(transfer::base64(body)),
        },
        Some("quoted-printable") => Cow::Owned(transfer::quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

/// The part's Content-Transfer-Encoding as written (lower case, trimmed).
fn transfer_encoding(part: &mail_parser::MessagePart<'_>) -> Option<String> {
    part.headers.iter().find(|h| h.name == HeaderName::ContentTransferEncoding).map(|h| match &h.value {
        HeaderValue::Text(t) => t.trim().to_ascii_lowercase(),
        HeaderValue::ContentType(ct) => ct.ctype().trim().to_ascii_lowercase(),
        _ => String::new(),
    })
}

/// Part `id` of `message`, entered at `depth`: counted against the limits and refused when
/// its MIME fields can be read in more than one way; `None` when the message has no such part.
fn entered<'m, 'x>(
    limits: &MessageLimits,
    parts: &mut usize,
    (message, id): (&'m mail_parser::Message<'x>, u32),
    section: &str,
    depth: u32,
) -> Result<Option<&'m mail_parser::MessagePart<'x>>, MimeError> {
    enter(limits, parts, depth)?;
    let Some(part) = message.parts.get(id as usize) else { return Ok(None) };
    unambiguous(part, section)?;
    Ok(Some(part))
}

/// Counts one more part at `depth`, refusing what passes the limits.
fn enter(limits: &MessageLimits, parts: &mut usize, depth: u32) -> Result<(), MimeError> {
    if depth > limits.max_depth {
        return Err(MimeError::TooDeep(limits.max_depth));
    }
    *parts += 1;
    if *parts > limits.max_parts {
        return Err(MimeError::TooManyParts(limits.max_parts));
    }
    Ok(())
}

struct Walk<'l, 'c, 'a> {
    limits: &'l MessageLimits,
    parts: usize,
    out: Vec<PartReport>,
    /// Bodies cut out of the message walked (none for a whole message).
    cuts: Cuts<'c, 'a>,
    /// How many transfer-encoded attached messages the walk is in (their offsets are not the
    /// skeleton's).
    decoded_inner: u32,
}

impl Walk<'_, '_, '_> {
    /// Part `id` of `message`, whose offsets point into `raw`.
    fn part(
        &mut self,
        message: &mail_parser::Message<'_>,
        raw: &[u8],
        id: u32,
        section: &str,
        depth: u32,
        outer_span: Option<(usize, usize)>,
    ) -> Result<(), MimeError> {
        let section_name = if section.is_empty() { "1" } else { section };
        let Some(part) = entered(self.limits, &mut self.parts, (message, id), section_name, depth)? else {
            return Ok(());
        };
        match &part.body {
            PartType::Multipart(children) => {
                for (i, child) in children.iter().enumerate() {
                    let s = if section.is_empty() { format!("{}", i + 1) } else { format!("{section}.{}", i + 1) };
                    self.part(message, raw, *child, &s, depth + 1, outer_span)?;
                }
                Ok(())
            }
            PartType::Message(inner) => {
                let s = if section.is_empty() { "1".to_string() } else { section.to_string() };
                // A message attached as is keeps offsets into the outer message; one that was
                // transfer-encoded was decoded and parsed on its own.
                let encoded = part.encoding != mail_parser::Encoding::None;
                let inner_raw = if encoded { inner.raw_message() } else { raw };
                let own = self.span(part.offset_header as usize, part.offset_end as usize);
                // A part of an attached message is replaced with the whole attached message.
                let span = outer_span.or(Some(own));
                if encoded && self.decoded_inner == 0 {
                    self.cuts.forbid(part.offset_body as usize, part.offset_end as usize);
                }
                self.decoded_inner += u32::from(encoded);
                let walked = self.part(inner, inner_raw, 0, &s, depth + 1, span);
                self.decoded_inner -= u32::from(encoded);
                walked
            }
            _ => {
                let section = if section.is_empty() { "1".to_string() } else { section.to_string() };
                let (start, end) = (part.offset_body as usize, (part.offset_end as usize).min(raw.len()));
                let body = raw.get(start..end.max(start)).unwrap_or_default();
                let cut = match self.decoded_inner {
                    0 => self.cuts.at(start, body, transfer_encoding(part).as_deref() == Some("base64")),
                    _ => None,
                };
                let bytes = cut.map_or_else(|| decode(part, body), |(_, decoded)| std::borrow::Cow::Borrowed(decoded));
                let names = names(part);
                let content_type = part.content_type().map_or("text/plain".to_string(), |ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase()
                });
                match content_type.as_str() {
                    // An attached message the parser did not open (nested too deep for it).
                    "message/rfc822" | "message/global" => return Err(MimeError::TooDeep(depth)),
                    "message/partial" => return Err(MimeError::Fragment),
                    // Reports (delivery-status, disposition-notification, feedback-report),
                    // external-body and the rest are text: inspected as such, like any leaf.
                    _ => {}
                }
                let is_attachment = !names.is_empty()
                    || part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
                let label = names.first().cloned().unwrap_or_else(|| format!("part {section}"));
                let report = encrypted::inspect(&label, &bytes, &self.limits.archive);
                let size = bytes.len();
                let span = outer_span.unwrap_or_else(|| self.span(part.offset_header as usize, end.max(start)));
                // Files uuencoded in a text are attachments to the mail programs that show them.
                if content_type.starts_with("text/") && (bytes.starts_with(b"begin ") || contains(&bytes, b"\nbegin "))
                {
                    for (i, (name, file)) in transfer::uuencoded(&bytes).into_iter().enumerate() {
                        let label =
                            if name.is_empty() { format!("part {section} uuencoded {}", i + 1) } else { name.clone() };
                        self.out.push(PartReport {
                            section: format!("{section} uuencoded {}", i + 1),
                            names: if name.is_empty() { vec![] } else { vec![name] },
                            content_type: "application/octet-stream".into(),
                            is_attachment: true,
                            in_attached_message: outer_span.is_some(),
                            size: file.len(),
                            span,
                            report: encrypted::inspect(&label, &file, &self.limits.archive),
                        });
                    }
                }
                let in_attached_message = outer_span.is_some();
                self.out.push(PartReport {
                    section,
                    names,
                    content_type,
                    is_attachment,
                    in_attached_message,
                    size,
                    span,
                    report,
                });
                Ok(())
            }
        }
    }
}

impl Walk<'_, '_, '_> {
    /// `start..end` of the walked message as a span of the whole message (the same when
    /// nothing was cut out, or inside a transfer-encoded attached message).
    fn span(&self, start: usize, end: usize) -> (usize, usize) {
        match self.decoded_inner {
            0 => (self.cuts.start(start), self.cuts.end(end)),
            _ => (start, end),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Every file name in the part's Content-Type (`name`) and Content-Disposition (`filename`)
/// fields, every occurrence of each.
fn names(part: &mail_parser::MessagePart<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for header in &part.headers {
        let wanted = match header.name {
            HeaderName::ContentType => "name",
            HeaderName::ContentDisposition => "filename",
            _ => continue,
        };
        if let HeaderValue::ContentType(ct) = &header.value {
            for a in ct.attributes().unwrap_or_default() {
                if a.name.eq_ignore_ascii_case(wanted) && !a.value.is_empty() && !names.iter().any(|n| *n == a.value) {
                    names.push(a.value.to_string());
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(parts: &[(&str, &[u8])]) -> Vec<u8> {
        use std::fmt::Write;
        let mut m = String::from("From: a@example.jp\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n");
        m.push_str("Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n");
        for (headers, body) in parts {
            let _ = write!(m, "--XX\r\n{headers}\r\n\r\n");
            m.push_str(&String::from_utf8_lossy(body));
            m.push_str("\r\n");
        }
        m.push_str("--XX--\r\n");
        m.into_bytes()
    }

    #[test]
    fn every_name_candidate_is_kept() {
        let raw = message(&[(
            "Content-Type: application/octet-stream; name=\"a.txt\"\r\nContent-Disposition: attachment; \
             filename=\"b.zip\"; filename*=UTF-8''c%E2%80%AEgpj.exe",
            b"x",
        )]);
        let parts = inspect_message(&raw, &MessageLimits::default()).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].names, ["a.txt", "b.zip", "c\u{202e}gpj.exe"]);
        assert!(parts[0].is_attachment);
    }

    #[test]
    fn parts_are_decoded_before_inspection_and_sections_numbered() {
        let raw = message(&[
            ("Content-Type: text/plain", b"hello"),
            ("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64", b"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="),
        ]);
        let parts = inspect_message(&raw, &MessageLimits::default()).unwrap();
        assert_eq!(parts.iter().map(|p| p.section.as_str()).collect::<Vec<_>>(), ["1", "2"]);
        assert!(!parts[0].is_attachment);
        assert_eq!(parts[1].size, 22, "an empty ZIP, decoded from base64");
        assert_eq!(parts[1].report.format, encrypted::Format::Zip);
    }

    #[test]
    fn attached_messages_are_walked_whether_encoded_or_not() {
        let inner = message(&[(
            "Content-Type: application/zip; name=\"in.zip\"\r\nContent-Transfer-Encoding: base64",
            b"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
        )]);
        let plain = message(&[("Content-Type: message/rfc822", &inner)]);
        let parts = inspect_message(&plain, &MessageLimits::default()).unwrap();
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_eq!((parts[0].names[0].as_str(), parts[0].size), ("in.zip", 22));
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&inner);
        let wrapped =
            message(&[("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64", encoded.as_bytes())]);
        let parts = inspect_message(&wrapped, &MessageLimits::default()).unwrap();
        assert_eq!((parts[0].names[0].as_str(), parts[0].size), ("in.zip", 22), "{parts:?}");
    }

    #[test]
    fn a_file_in_a_text_part_is_still_judged_by_its_bytes() {
        use base64::Engine as _;
        let zip = base64::engine::general_purpose::STANDARD.encode(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
        let long_letter = "Dear colleague,\r\n".repeat(2000);
        let raw = message(&[
            ("Content-Type: text/plain", long_letter.as_bytes()),
            ("Content-Type: text/plain\r\nContent-Transfer-Encoding: base64", zip.as_bytes()),
        ]);
        let parts = inspect_message(&raw, &MessageLimits::default()).unwrap();
        assert_eq!(parts[0].report.format, encrypted::Format::Other);
        assert_eq!(parts[0].size, long_letter.len(), "the whole letter is counted");
        assert_eq!(parts[1].report.format, encrypted::Format::Zip, "a ZIP labelled text/plain is a ZIP");
    }

    #[test]
    fn mail_parser_decodes_plain_base64_as_we_do() {
        use base64::Engine as _;
        let mut seed = 7u32;
        for len in [0usize, 1, 2, 3, 4, 57, 58, 59, 1000, 4097] {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let text = base64::engine::general_purpose::STANDARD.encode(&data);
            let lines: Vec<&[u8]> = text.as_bytes().chunks(76).collect();
            let body = lines.join(&b"\r\n"[..]);
            let raw = message(&[(
                "Content-Type: application/octet-stream; name=\"x.bin\"\r\nContent-Transfer-Encoding: base64",
                &body,
            )]);
            assert!(transfer::is_plain_base64(&body), "{len}");
            let parsed = MessageParser::default().parse(&raw).unwrap();
            let part = parsed.parts.iter().find(|p| matches!(p.body, PartType::Binary(_))).unwrap();
            assert_eq!(part.contents(), transfer::base64(&body).as_slice(), "{len}");
            assert_eq!(part.contents(), data.as_slice(), "{len}");
        }
    }

    #[test]
    fn ambiguous_parts_are_refused_not_guessed() {
        let cases: [(&str, &str); 4] = [
            ("Content-Type: application/zip\r\nContent-Type: text/plain", "more than one Content-Type"),
            (
                "Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit",
                "more than one Content-Transfer-Encoding",
            ),
            ("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64 (really)", "unknown"),
            ("Content-Type: application/zip\r\nContent-Transfer-Encoding: x-uuencode", "unknown"),
        ];
        for (headers, why) in cases {
            let raw = message(&[(headers, b"UEsDBA==")]);
            match inspect_message(&raw, &MessageLimits::default()) {
                Err(MimeError::Ambiguous(section, detail)) => {
                    assert_eq!(section, "1");
                    assert!(detail.contains(why), "{headers}: {detail}");
                }
                other => panic!("{headers}: {other:?}"),
            }
        }
        let two_boundaries = b"Content-Type: multipart/mixed; boundary=A; boundary=B\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n";
        assert!(matches!(
            inspect_message(two_boundaries, &MessageLimits::default()),
            Err(MimeError::Ambiguous(_, d)) if d.contains("boundary")
        ));
    }

    #[test]
    fn a_million_parts_are_refused_before_parsing() {
        let raw = "Content-Type: message/rfc822\r\n\r\n".repeat(5000);
        assert_eq!(
            inspect_message(raw.as_bytes(), &MessageLimits::default()).unwrap_err(),
            MimeError::TooDeep(20),
            "5000 messages each in the one before are nested 5000 deep"
        );
        let raw = format!("Subject: quoted\r\n\r\n{}", "Content-Type: text/plain\r\n".repeat(5000));
        assert_eq!(
            inspect_message(raw.as_bytes(), &MessageLimits::default()).unwrap_err(),
            MimeError::TooManyParts(1000),
            "Content-Type fields anywhere bound the parts mail-parser could build"
        );
        let raw = format!("Content-Type: multipart/mixed; boundary=B\r\n\r\n{}", "--B\r\n\r\n".repeat(5000));
        assert_eq!(
            inspect_message(raw.as_bytes(), &MessageLimits::default()).unwrap_err(),
            MimeError::TooManyParts(1000)
        );
    }

    #[test]
    fn structure_limits() {
        let raw = message(&[("Content-Type: text/plain", b"a"), ("Content-Type: text/plain", b"b")]);
        let tight = MessageLimits { max_parts: 2, ..Default::default() };
        assert_eq!(inspect_message(&raw, &tight).unwrap_err(), MimeError::TooManyParts(2));
        let shallow = MessageLimits { max_depth: 0, ..Default::default() };
        assert_eq!(inspect_message(&raw, &shallow).unwrap_err(), MimeError::TooDeep(0));
        assert_eq!(inspect_message(b"", &MessageLimits::default()).unwrap_err(), MimeError::Unparseable);
    }
}
