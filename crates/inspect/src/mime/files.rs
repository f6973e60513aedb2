//! The files of a message, as the rewrite stage takes them out: every attachment part decoded,
//! an attached message whole (as a `.eml` file), each with the span of bytes it occupies.
//! Images the HTML body shows through `cid:` references can be left in place.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::cut::{Cut, Cuts};
use super::loose;
use super::{MessageLimits, MimeError, decode, dismantle, entered, names, prescan, transfer_encoding};

/// One file carried by a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedFile {
    /// The file name (the first candidate the part gives), or "message.eml" / "attachment-N".
    pub name: String,
    /// "type/subtype" as declared.
    pub content_type: String,
    /// From the start of the part's header to the end of its body.
    pub span: (usize, usize),
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

/// A message's subject and files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFiles {
    /// The Subject field, decoded ("" when there is none).
    pub subject: String,
    /// The attachments, in message order.
    pub files: Vec<AttachedFile>,
}

/// Every attachment of `raw`: parts with a file name or `Content-Disposition: attachment`, and
/// attached messages whole. With `keep_cid_images`, a part the HTML body references by
/// `cid:` (and not marked as an attachment) stays: it belongs to the text.
pub fn attachments(raw: &[u8], limits: &MessageLimits, keep_cid_images: bool) -> Result<MessageFiles, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let cids = if keep_cid_images { referenced_cids(&message) } else { Vec::new() };
    let mut walk = FileWalk::new(limits, cids, None, Cuts::none());
    let walked = walk.part(&message, raw, 0, "1", 0);
    let subject = message.subject().unwrap_or_default().to_string();
    let message = walk.move_decoded(message);
    dismantle(message);
    walked.map(|()| MessageFiles { subject, files: walk.out })
}

/// The files of a cut message, and for each the index of the cut holding its bytes.
pub type CutFiles = (MessageFiles, Vec<Option<usize>>);

/// [`attachments`] of a message whose long base64 bodies were cut out (see
/// [`super::LongBodies`], [`super::inspect_cut`]): the files of `skeleton`, spans in its
/// offsets (the message without its attachments is the same made from either), and for each
/// file the index of the cut holding its bytes (its `bytes` then empty). `None` when a cut is
/// not exactly the body of a part taken out as a file: the message is then to be walked whole.
pub fn attachments_cut(
    skeleton: &[u8],
    cuts: &[Cut<'_>],
    limits: &MessageLimits,
    keep_cid_images: bool,
) -> Option<Result<CutFiles, MimeError>> {
    if let Err(e) = prescan(skeleton, limits) {
        return cuts.is_empty().then_some(Err(e));
    }
    let Some(message) = MessageParser::default().parse(skeleton) else {
        return cuts.is_empty().then_some(Err(MimeError::Unparseable));
    };
    let cids = if keep_cid_images { referenced_cids(&message) } else { Vec::new() };
    let mut walk = FileWalk::new(limits, cids, None, Cuts::new(cuts));
    let walked = walk.part(&message, skeleton, 0, "1", 0);
    let subject = message.subject().unwrap_or_default().to_string();
    let message = walk.move_decoded(message);
    dismantle(message);
    let mut cut = vec![None; walk.out.len()];
    for (n, i) in walk.cut_files.drain(..) {
        cut[n] = Some(i);
    }
    walk.cuts.all_fit().then(|| walked.map(|()| (MessageFiles { subject, files: walk.out }, cut)))
}

/// Everything a message carries for inspection: its [`attachments`], and also the files a mail
/// program may show that are not attachment parts (uuencoded or BinHex-encoded in a text
/// part, bytes in a multipart's preamble or epilogue), and the text of its own text parts
/// (HTML with tags removed), at most `max_text` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Carried {
    /// The files, in message order.
    pub files: Vec<AttachedFile>,
    /// The message's text.
    pub text: String,
}

/// Walks `raw` once and returns what it [`Carried`].
///
/// The base64 bodies of its files (runs of at least [`CUT_AT`] bytes, see [`super::LongBodies`])
/// are first cut out and decoded by sekisho's own decoder, and mail-parser reads only what is
/// left (it would otherwise decode them a byte at a time while it looks for the boundary); the
/// walk takes each such file's bytes from its decoded body. When a cut is not exactly the body
/// of a part taken as a file, the message is walked whole instead: the result is the same.
pub fn carried(raw: &[u8], limits: &MessageLimits, max_text: usize) -> Result<Carried, MimeError> {
    if let Some(carried) = carried_cut(raw, limits, max_text) {
        return Ok(carried);
    }
    carried_whole(raw, limits, max_text)
}

/// Shortest base64 body [`carried`] cuts out of a message before parsing it.
pub const CUT_AT: usize = 4096;

/// [`carried`] with the message's long base64 file bodies cut out; `None` when there are none,
/// when a cut is not a file's body, or when the message is refused (then it is to be walked
/// whole).
fn carried_cut(raw: &[u8], limits: &MessageLimits, max_text: usize) -> Option<Carried> {
    // Only a part declared base64 takes a cut: a message that never names it has none to look
    // for (a name spelled in mixed case only costs the whole walk).
    let names_base64 = |spelled: &[u8]| memchr::memmem::find(raw, spelled).is_some();
    if raw.len() < CUT_AT || !(names_base64(b"ase64") || names_base64(b"ASE64")) {
        return None;
    }
    let runs = super::decoded_bodies::decoded_long_bodies(raw, CUT_AT, file_body);
    if runs.is_empty() {
        return None;
    }
    let cut_len: usize = runs.iter().map(|(run, _)| run.len()).sum();
    let mut skeleton = Vec::with_capacity(raw.len() - cut_len);
    let mut bodies = Vec::with_capacity(runs.len());
    let mut pos = 0;
    for (run, decoded) in runs {
        skeleton.extend_from_slice(&raw[pos..run.start]);
        bodies.push((skeleton.len(), run.len(), decoded));
        pos = run.end;
    }
    skeleton.extend_from_slice(&raw[pos..]);
    let cuts: Vec<Cut<'_>> = bodies.iter().map(|(at, len, decoded)| Cut { at: *at, len: *len, decoded }).collect();
    if prescan(&skeleton, limits).is_err() {
        return None;
    }
    let message = MessageParser::default().parse(&skeleton)?;
    let mut walk = FileWalk::new(limits, Vec::new(), Some(Text::new(max_text)), Cuts::new(&cuts));
    let walked = walk.part(&message, &skeleton, 0, "1", 0);
    let message = walk.move_decoded(message);
    dismantle(message);
    // A refusal is left to the walk of the whole message, which words it.
    if !walk.cuts.all_fit() || walked.is_err() {
        return None;
    }
    // Spans in the whole message's offsets, as a walk of the whole message gives them.
    for file in &mut walk.out {
        file.span = (walk.cuts.start(file.span.0), walk.cuts.end(file.span.1));
    }
    let cut_files = std::mem::take(&mut walk.cut_files);
    let (mut files, text) = (walk.out, walk.text.map(|t| t.text).unwrap_or_default());
    for (n, i) in cut_files {
        files[n].bytes = std::mem::take(&mut bodies[i].2);
    }
    Some(Carried { files, text })
}

/// Whether the base64 body that starts at the end of `before` is likely a file's (worth cutting
/// out): its part's header (after the last boundary line, at most 16 KiB back) does not
/// declare a text part without a name or an attached message, whose bodies the walk reads from
/// the parsed message. Only a guess: a wrong one costs a second walk, never a different result.
fn file_body(before: &[u8]) -> bool {
    let window = &before[before.len().saturating_sub(16 * 1024)..];
    let header = memchr::memmem::rfind(window, b"\n--").map_or(window, |at| &window[at + 3..]);
    let lower = header.to_ascii_lowercase();
    let Some(at) = memchr::memmem::find(&lower, b"content-type:") else { return true };
    let value = lower[at + 13..].trim_ascii_start();
    if value.starts_with(b"message/") {
        return false;
    }
    let named =
        memchr::memmem::find(&lower, b"name").is_some() || memchr::memmem::find(&lower, b"attachment").is_some();
    !value.starts_with(b"text/") || named
}

/// [`carried`] of the message as it is, every body parsed by mail-parser.
fn carried_whole(raw: &[u8], limits: &MessageLimits, max_text: usize) -> Result<Carried, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let mut walk = FileWalk::new(limits, Vec::new(), Some(Text::new(max_text)), Cuts::none());
    let walked = walk.part(&message, raw, 0, "1", 0);
    let message = walk.move_decoded(message);
    dismantle(message);
    walked.map(|()| Carried { files: walk.out, text: walk.text.map(|t| t.text).unwrap_or_default() })
}

/// The text gathered so far, bounded.
struct Text {
    text: String,
    max: usize,
}

impl Text {
    fn new(max: usize) -> Self {
        Text { text: String::new(), max }
    }

    fn push(&mut self, more: &str) {
        let room = self.max.saturating_sub(self.text.len());
        if room == 0 || more.trim().is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let mut end = more.len().min(room);
        while !more.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&more[..end]);
    }
}

struct FileWalk<'l, 'c, 'a> {
    limits: &'l MessageLimits,
    parts: usize,
    /// Content-IDs referenced from HTML parts, without angle brackets, lower case.
    cids: Vec<String>,
    out: Vec<AttachedFile>,
    /// Files whose bytes are mail-parser's own decoding of part `.1`: moved into `out[.0]`
    /// after the walk (`move_decoded`) instead of copied, so a large file is held once.
    decoded: Vec<(usize, u32)>,
    /// Gather text and the files outside attachment parts too (for [`carried`]).
    text: Option<Text>,
    /// Bodies cut out of the message walked (none for a whole message).
    cuts: Cuts<'c, 'a>,
    /// Files whose bytes are cut `.1`: file `.0`.
    cut_files: Vec<(usize, usize)>,
}

impl<'l, 'c, 'a> FileWalk<'l, 'c, 'a> {
    fn new(limits: &'l MessageLimits, cids: Vec<String>, text: Option<Text>, cuts: Cuts<'c, 'a>) -> Self {
        FileWalk { limits, parts: 0, cids, out: Vec::new(), decoded: Vec::new(), text, cuts, cut_files: Vec::new() }
    }
}

impl FileWalk<'_, '_, '_> {
    /// Moves mail-parser's decoded bytes of the parts noted in `decoded` into their files.
    fn move_decoded<'x>(&mut self, mut message: mail_parser::Message<'x>) -> mail_parser::Message<'x> {
        for (n, id) in self.decoded.drain(..) {
            let (Some(part), Some(file)) = (message.parts.get_mut(id as usize), self.out.get_mut(n)) else { continue };
            if let PartType::Binary(bytes) | PartType::InlineBinary(bytes) = std::mem::take(&mut part.body) {
                file.bytes = bytes.into_owned();
            }
        }
        message
    }

    fn part(
        &mut self,
        message: &mail_parser::Message<'_>,
        raw: &[u8],
        id: u32,
        section: &str,
        depth: u32,
    ) -> Result<(), MimeError> {
        let Some(part) = entered(self.limits, &mut self.parts, (message, id), section, depth)? else {
            return Ok(());
        };
        let end = (part.offset_end as usize).min(raw.len());
        let span = (part.offset_header as usize, end);
        match &part.body {
            PartType::Multipart(children) => {
                let boundary = part.content_type().and_then(|ct| ct.attribute("boundary")).unwrap_or_default();
                let first = children.first().and_then(|c| message.parts.get(*c as usize));
                if self.text.is_some()
                    && let Some(first) = first
                {
                    let preamble = raw.get(part.offset_body as usize..first.offset_header as usize).unwrap_or_default();
                    self.loose(loose::preamble(preamble, boundary), span, "preamble");
                }
                for (i, child) in children.iter().enumerate() {
                    let s = if id == 0 { format!("{}", i + 1) } else { format!("{section}.{}", i + 1) };
                    self.part(message, raw, *child, &s, depth + 1)?;
                }
                let last = children.last().and_then(|c| message.parts.get(*c as usize));
                if self.text.is_some()
                    && let Some(last) = last
                {
                    let epilogue = raw.get(last.offset_end as usize..end).unwrap_or_default();
                    self.loose(loose::epilogue(epilogue, boundary), span, "epilogue");
                }
                Ok(())
            }
            PartType::Message(inner) if id != 0 => {
                let bytes = if part.encoding == mail_parser::Encoding::None {
                    raw.get(part.offset_body as usize..end).unwrap_or_default().to_vec()
                } else {
                    inner.raw_message().to_vec()
                };
                let name = names(part).into_iter().next().unwrap_or_else(|| "message.eml".to_string());
                self.out.push(AttachedFile { name, content_type: "message/rfc822".into(), span, bytes });
                Ok(())
            }
            PartType::Message(_) => Ok(()),
            _ => {
                let names = names(part);
                let disposition_attachment =
                    part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
                if names.is_empty() && !disposition_attachment {
                    // For inspection, a nameless binary part is a file too (mail programs
                    // offer it for saving); text parts are the message's text.
                    if self.text.is_none() {
                        return Ok(());
                    }
                    if matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
                        self.text_part(part, span);
                        return Ok(());
                    }
                }
                let cid = part.content_id().map(|c| c.trim_matches(['<', '>', ' ']).to_ascii_lowercase());
                if !disposition_attachment && cid.is_some_and(|c| self.cids.contains(&c)) {
                    return Ok(());
                }
                let body = raw.get(part.offset_body as usize..end).unwrap_or_default();
                let base64 = transfer_encoding(part).as_deref() == Some("base64");
                let cut = self.cuts.at(part.offset_body as usize, body, base64);
                let bytes = if let Some((i, _)) = cut {
                    // The bytes stay in the cut body's file.
                    self.cut_files.push((self.out.len(), i));
                    Vec::new()
                } else {
                    match decode(part, body) {
                        std::borrow::Cow::Owned(bytes) => bytes,
                        // The raw body itself (no transfer encoding to undo).
                        std::borrow::Cow::Borrowed(b) if std::ptr::eq(b, body) => b.to_vec(),
                        // mail-parser's decoding: moved in after the walk.
                        std::borrow::Cow::Borrowed(_) => {
                            self.decoded.push((self.out.len(), id));
                            Vec::new()
                        }
                    }
                };
                let content_type = part.content_type().map_or("application/octet-stream".to_string(), |ct| {
                    format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")).to_ascii_lowercase()
                });
                let n = self.out.len() + 1;
                let name = names.into_iter().next().unwrap_or_else(|| format!("attachment-{n}"));
                self.out.push(AttachedFile { name, content_type, span, bytes });
                Ok(())
            }
        }
    }
}

impl FileWalk<'_, '_, '_> {
    /// A text part that is not an attachment: its text, and the files encoded in it.
    fn text_part(&mut self, part: &mail_parser::MessagePart<'_>, span: (usize, usize)) {
        let found = match &part.body {
            PartType::Text(text) => {
                if let Some(t) = self.text.as_mut() {
                    t.push(text);
                }
                loose::in_text(text.as_bytes())
            }
            PartType::Html(html) => {
                if let Some(t) = self.text.as_mut().filter(|t| t.text.len() < t.max) {
                    t.push(&crate::content::html_text(html));
                }
                loose::in_text(html.as_bytes())
            }
            _ => return,
        };
        self.loose(found, span, "text");
    }

    /// Files found outside attachment parts, named by what they say or by where they were.
    fn loose(&mut self, found: Vec<(String, Vec<u8>)>, span: (usize, usize), place: &str) {
        for (name, bytes) in found {
            let n = self.out.len() + 1;
            let name = if name.is_empty() { format!("{place}-{n}") } else { name };
            self.out.push(AttachedFile { name, content_type: "application/octet-stream".into(), span, bytes });
        }
    }
}

/// The Content-IDs that HTML parts reference as `cid:...`, lower case.
fn referenced_cids(message: &mail_parser::Message<'_>) -> Vec<String> {
    let mut cids = Vec::new();
    for part in &message.parts {
        if let PartType::Html(html) = &part.body {
            let lower = html.to_ascii_lowercase();
            for (at, _) in lower.match_indices("cid:") {
                let rest = &lower[at + 4..];
                let end = rest.find(['"', '\'', ')', ' ', '>', '\r', '\n']).unwrap_or(rest.len());
                if end > 0 {
                    cids.push(rest[..end].to_string());
                }
            }
        }
    }
    cids
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "From: a@example.jp\r\nTo: b@example.com\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
        --XX\r\nContent-Type: multipart/related; boundary=\"YY\"\r\n\r\n\
        --YY\r\nContent-Type: text/html\r\n\r\n<p>Logo: <img src=\"cid:Logo@x\"></p>\r\n\
        --YY\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@x>\r\n\
        Content-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--YY--\r\n\
        --XX\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
        --XX\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.jp\r\nSubject: fwd\r\n\r\nhello\r\n\
        --XX--\r\n";

    #[test]
    fn attachments_and_attached_messages_are_files_cid_images_stay() {
        let MessageFiles { subject, files } = attachments(MESSAGE.as_bytes(), &MessageLimits::default(), true).unwrap();
        assert_eq!(subject, "t");
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "message.eml"]);
        assert_eq!(files[0].bytes, b"%PDF-1.4\n");
        assert_eq!(files[0].content_type, "application/pdf");
        let (start, end) = files[0].span;
        assert!(MESSAGE[start..end].starts_with("Content-Type: application/pdf"));
        assert!(MESSAGE[start..end].ends_with("JVBERi0xLjQK"), "{:?}", &MESSAGE[start..end]);
        assert!(String::from_utf8_lossy(&files[1].bytes).starts_with("From: c@example.jp\r\nSubject: fwd"));
        let all = attachments(MESSAGE.as_bytes(), &MessageLimits::default(), false).unwrap().files;
        assert_eq!(all.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["logo.png", "a.pdf", "message.eml"]);
        assert_eq!(all[0].bytes, [0x89, b'P', b'N', b'G']);
    }

    fn b64(bytes: &[u8], eol: &str) -> String {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join(eol)
    }

    fn mixed(eol: &str, parts: &[(String, String)]) -> String {
        let mut m = format!("From: a@example.jp{eol}Content-Type: multipart/mixed; boundary=\"B\"{eol}{eol}");
        for (headers, body) in parts {
            m.push_str(&format!("--B{eol}{}{eol}{eol}{body}{eol}", headers.replace('\n', eol)));
        }
        m.push_str(&format!("--B--{eol}"));
        m
    }

    #[test]
    fn cutting_long_bodies_out_first_changes_nothing_carried() {
        let file: Vec<u8> = (0..9000u32).map(|i| (i.wrapping_mul(7919) % 251) as u8).collect();
        let pdf = [b"%PDF-1.4\n".as_slice(), &file].concat();
        let uuencoded = format!("see below\nbegin 644 a.bin\n{}\nend\n", "M".repeat(61)).repeat(80);
        let zip = std::fs::read(format!("{}/tests/fixtures/zipcrypto.zip", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let limits = MessageLimits::default();
        for eol in ["\r\n", "\n"] {
            let base64 = |ct: &str, bytes: &[u8]| (format!("{ct}\nContent-Transfer-Encoding: base64"), b64(bytes, eol));
            let inner =
                mixed(eol, &[base64("Content-Type: application/zip; name=\"in.zip\"", &[&zip[..], &file].concat())]);
            let text = ("Content-Type: text/plain".to_string(), "hello".to_string());
            let cases = [
                (
                    "a file",
                    mixed(eol, &[text.clone(), base64("Content-Type: application/pdf; name=\"a.pdf\"", &pdf)]),
                    true,
                ),
                (
                    "a nameless binary part",
                    mixed(eol, &[base64("Content-Type: application/octet-stream", &file)]),
                    true,
                ),
                (
                    "a named text part",
                    mixed(eol, &[base64("Content-Type: text/plain; name=\"u.txt\"", uuencoded.as_bytes())]),
                    true,
                ),
                (
                    "a text part",
                    mixed(eol, &[text.clone(), base64("Content-Type: text/plain", uuencoded.as_bytes())]),
                    false,
                ),
                (
                    "an encoded attached message",
                    mixed(eol, &[base64("Content-Type: message/rfc822", inner.as_bytes())]),
                    false,
                ),
                ("an attached message", mixed(eol, &[("Content-Type: message/rfc822".into(), inner.clone())]), false),
                (
                    "a preamble",
                    format!(
                        "Content-Type: multipart/mixed; boundary=B{eol}{eol}{}{eol}--B{eol}{eol}x{eol}--B--{eol}",
                        b64(&file, eol)
                    ),
                    false,
                ),
                (
                    "two encodings",
                    mixed(eol, &[base64("Content-Type: application/zip\nContent-Transfer-Encoding: base64", &file)]),
                    false,
                ),
                (
                    "a single part",
                    format!(
                        "Subject: x{eol}Content-Type: application/zip{eol}Content-Transfer-Encoding: base64{eol}{eol}{}{eol}",
                        b64(&file, eol)
                    ),
                    true,
                ),
            ];
            for (what, raw, cut) in cases {
                let whole = carried_whole(raw.as_bytes(), &limits, 1000);
                assert_eq!(carried(raw.as_bytes(), &limits, 1000), whole, "{what} {eol:?}");
                assert_eq!(carried_cut(raw.as_bytes(), &limits, 1000).is_some(), cut, "{what} {eol:?}");
                if cut {
                    assert!(whole.unwrap().files.iter().any(|f| f.bytes.len() > 4000), "{what}");
                }
            }
        }
    }

    #[test]
    fn odd_spellings_and_endings_carry_the_same_files_cut_or_whole() {
        let file: Vec<u8> = (0..9000u32).map(|i| (i.wrapping_mul(7919) % 251) as u8).collect();
        let pdf = [b"%PDF-1.4\n".as_slice(), &file].concat();
        let limits = MessageLimits::default();
        for eol in ["\r\n", "\n"] {
            let pdf_part = |cte: &str, body: String| {
                (format!("Content-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: {cte}"), body)
            };
            let inner = mixed(eol, &[pdf_part("base64", b64(&pdf, eol))]);
            let cases = [
                (
                    "a space before the colon of an attached message's type",
                    mixed(
                        eol,
                        &[(
                            "Content-Type :message/rfc822\nContent-Transfer-Encoding: base64".into(),
                            b64(inner.as_bytes(), eol),
                        )],
                    ),
                ),
                (
                    "a body that ends the message without a newline",
                    format!(
                        "Subject: x{eol}Content-Type: application/pdf{eol}Content-Transfer-Encoding: base64{eol}{eol}{}",
                        b64(&pdf, eol)
                    ),
                ),
                ("a last line ending in a space", mixed(eol, &[pdf_part("base64", format!("{} ", b64(&pdf, eol)))])),
                ("a last line ending in a tab", mixed(eol, &[pdf_part("base64", format!("{}\t", b64(&pdf, eol)))])),
                (
                    "a last line ending in blanks before the closing boundary",
                    mixed(eol, &[pdf_part("base64", format!("{} \t ", b64(&pdf, eol)))]),
                ),
                ("an encoding spelled in mixed case", mixed(eol, &[pdf_part("bAsE64", b64(&pdf, eol))])),
            ];
            for (what, raw) in cases {
                let whole = carried_whole(raw.as_bytes(), &limits, 1000);
                assert!(
                    whole.as_ref().unwrap().files.iter().any(|f| f.bytes.len() > 4000),
                    "{what} {eol:?}: {:?}",
                    whole.as_ref().map(|c| c.files.iter().map(|f| (&f.name, f.bytes.len())).collect::<Vec<_>>())
                );
                assert_eq!(carried(raw.as_bytes(), &limits, 1000), whole, "{what} {eol:?}");
                if let Some(cut) = carried_cut(raw.as_bytes(), &limits, 1000) {
                    assert_eq!(Ok(cut), whole, "{what} {eol:?}");
                }
            }
        }
    }

    #[test]
    fn a_text_message_has_none_and_limits_hold() {
        let plain = b"From: a@example.jp\r\nSubject: t\r\n\r\nhello\r\n";
        assert!(attachments(plain, &MessageLimits::default(), true).unwrap().files.is_empty());
        let tight = MessageLimits { max_parts: 3, ..Default::default() };
        assert_eq!(attachments(MESSAGE.as_bytes(), &tight, true).unwrap_err(), MimeError::TooManyParts(3));
    }
}
