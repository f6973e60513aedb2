//! The pre-scan: one pass over a message's lines before mail-parser builds anything, reading the
//! structure the way mail-parser will read it, so that a message built to have a million parts,
//! or parts nested 40,000 deep, is refused before the parser builds them. mail-parser builds
//! nested messages as nested values: a tree that deep overflows the stack when it is built,
//! walked or dropped, and a stack overflow cannot be caught.
//!
//! What it mirrors from mail-parser 0.11:
//! - a header name is every non-blank byte before the first colon, case-insensitive:
//!   `Content-Type :`, `Content-Type\t:` and ` Content-Type:` all name Content-Type; a line
//!   that starts with a space or tab continues the field before it (folding); a line without a
//!   colon is skipped; an empty line ends the header;
//! - the last Content-Type and Content-Transfer-Encoding fields of a part count;
//! - only the innermost declared boundary is looked for, `--boundary` anywhere in a line;
//! - an attached message (`message/rfc822`, `message/global`, or a part without Content-Type
//!   in a `multipart/digest`) nests a whole message; a base64 or quoted-printable one is decoded
//!   and parsed on its own, at most [`ENCODED_LEVELS`] deep: decoded and scanned in turn here.
//!
//! Where it could misread, a second bound holds: more Content-Type fields (read as mail-parser
//! reads names, on every line) than parts allowed is refused too, which bounds any nesting.

use super::{MessageLimits, MimeError, transfer};

/// How deep mail-parser parses transfer-encoded attached messages (its `MAX_NESTED_ENCODED`).
const ENCODED_LEVELS: u32 = 3;

/// Longest field name mail-parser recognises (its `MAX_HEADER_NAME_LEN`).
const MAX_NAME: usize = 34;

/// Refuses `raw` when its structure passes `limits`, before anything parses it.
pub(super) fn prescan(raw: &[u8], limits: &MessageLimits) -> Result<(), MimeError> {
    let mut parts = 0;
    scan(raw, limits, 0, ENCODED_LEVELS, &mut parts)?;
    count_types(raw, limits)
}

/// The second bound: Content-Type fields on any line, read as mail-parser reads field names.
/// Only a line with a colon can hold a field: the colons are found in one pass over `raw`, and
/// only their lines are read (a body of text or base64 has few or none).
fn count_types(raw: &[u8], limits: &MessageLimits) -> Result<(), MimeError> {
    let mut types = 0;
    // Where the line after the last one read starts.
    let mut next = 0;
    for colon in memchr::memchr_iter(b':', raw) {
        if colon < next {
            continue;
        }
        let start = memchr::memrchr(b'\n', &raw[..colon]).map_or(0, |at| at + 1);
        let end = memchr::memchr(b'\n', &raw[colon..]).map_or(raw.len(), |at| colon + at);
        if field_name(&raw[start..end]).is_some_and(|n| n == b"content-type") {
            types += 1;
        }
        next = end + 1;
    }
    if types > limits.max_parts {
        return Err(MimeError::TooManyParts(limits.max_parts));
    }
    Ok(())
}

/// The lines of `raw` split at each LF (as `split` would, the last one possibly empty), found
/// with memchr: the pre-scan reads every line of a message, most of them base64.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', raw);
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match ends.next() {
            Some(end) => {
                let line = &raw[start..end];
                start = end + 1;
                Some(line)
            }
            None => {
                done = true;
                Some(&raw[start..])
            }
        }
    })
}

/// A level of nesting open at some point of the message.
enum Frame {
    /// A multipart whose parts are separated by `--boundary`.
    Multipart { boundary: Vec<u8>, digest: bool },
    /// An attached message, not transfer-encoded: its header starts where the part's body does.
    Message,
}

/// What the lines being read are.
enum Mode {
    /// A header: the fields so far (name, unfolded value).
    Header(Vec<(Vec<u8>, Vec<u8>)>),
    /// A multipart's preamble, up to its first delimiter.
    Preamble,
    /// A body, up to the innermost delimiter.
    Body,
    /// A transfer-encoded attached message (its body so far, and whether base64).
    Encoded { body: Vec<u8>, base64: bool, depth: u32 },
}

/// Scans one message at `depth` (that of its first part), with `encoded_left` levels of
/// transfer-encoded messages still parsed, counting parts into `parts`.
fn scan(raw: &[u8], limits: &MessageLimits, depth: u32, encoded_left: u32, parts: &mut usize) -> Result<(), MimeError> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut mode = Mode::Header(Vec::new());
    for line in lines(raw) {
        // A body outside any multipart runs to the end: no delimiter can follow, so nothing
        // after it opens or counts a part.
        if matches!(mode, Mode::Body) && !frames.iter().any(|f| matches!(f, Frame::Multipart { .. })) {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        mode = match mode {
            Mode::Header(mut fields) => match header_line(&mut fields, line) {
                Some(header) => header,
                None => end_of_header(&fields, &mut frames, limits, depth, parts)?,
            },
            Mode::Preamble => match delimiter(&frames, line) {
                // The part's header starts right after the first delimiter.
                Some(rest) => start_header(rest),
                None => Mode::Preamble,
            },
            Mode::Body => match delimiter(&frames, line) {
                Some(rest) => after_delimiter(&mut frames, rest),
                None => Mode::Body,
            },
            Mode::Encoded { mut body, base64, depth: at } => match delimiter(&frames, line) {
                Some(rest) => {
                    encoded_message(&body, base64, limits, at, encoded_left, parts)?;
                    after_delimiter(&mut frames, rest)
                }
                None => {
                    body.extend_from_slice(line);
                    body.extend_from_slice(b"\r\n");
                    Mode::Encoded { body, base64, depth: at }
                }
            },
        };
    }
    if let Mode::Encoded { body, base64, depth: at } = mode {
        encoded_message(&body, base64, limits, at, encoded_left, parts)?;
    }
    Ok(())
}

/// Adds `line` to the header being read; `None` when the line is blank and no fold.
fn header_line(fields: &mut Vec<(Vec<u8>, Vec<u8>)>, line: &[u8]) -> Option<Mode> {
    let folded = line.first().is_some_and(|&c| c == b' ' || c == b'\t');
    if folded && let Some((_, value)) = fields.last_mut() {
        value.push(b' ');
        value.extend_from_slice(line.trim_ascii());
        return Some(Mode::Header(std::mem::take(fields)));
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if let Some((name, value)) = field(line) {
        fields.push((name, value.trim_ascii().to_vec()));
    }
    Some(Mode::Header(std::mem::take(fields)))
}

/// A header that starts with what follows a delimiter on its line (usually nothing).
fn start_header(rest: &[u8]) -> Mode {
    let mut fields = Vec::new();
    if !rest.iter().all(u8::is_ascii_whitespace) {
        header_line(&mut fields, rest.trim_ascii_start());
    }
    Mode::Header(fields)
}

/// The field name mail-parser reads in `line`, lower case.
fn field_name(line: &[u8]) -> Option<Vec<u8>> {
    field(line).map(|(name, _)| name)
}

/// The field mail-parser reads in `line`: its name (every non-blank byte before the first colon
/// that follows one, leading colons skipped, lower case) and its value; `None` without a colon.
fn field(line: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    // Most lines of a message are body lines without a colon: answered by one memchr scan,
    // without building a name.
    memchr::memchr(b':', line)?;
    let mut name = Vec::new();
    for (i, &b) in line.iter().enumerate() {
        match b {
            b':' if !name.is_empty() => return Some((name, &line[i + 1..])),
            b':' => {}
            b if b.is_ascii_whitespace() => {}
            // mail-parser matches at most 34 bytes of a name against the names it knows.
            _ if name.len() > MAX_NAME => {}
            b => name.push(b.to_ascii_lowercase()),
        }
    }
    None
}

/// A header has ended: counts the part, and opens what it opens.
fn end_of_header(
    fields: &[(Vec<u8>, Vec<u8>)],
    frames: &mut Vec<Frame>,
    limits: &MessageLimits,
    depth: u32,
    parts: &mut usize,
) -> Result<Mode, MimeError> {
    *parts += 1;
    if *parts > limits.max_parts {
        return Err(MimeError::TooManyParts(limits.max_parts));
    }
    let at = depth + frames.len() as u32;
    if at > limits.max_depth {
        return Err(MimeError::TooDeep(limits.max_depth));
    }
    let last = |name: &[u8]| fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_slice());
    let content_type = last(b"content-type").map(ContentType::parse);
    let encoding = last(b"content-transfer-encoding").map(|v| v.trim_ascii().to_ascii_lowercase());
    let in_digest = matches!(frames.last(), Some(Frame::Multipart { digest: true, .. }));
    let (is_multipart, is_message, digest, boundary) = match &content_type {
        Some(ct) => (ct.kind == b"multipart", ct.is_message(), ct.subtype == b"digest", ct.boundary.clone()),
        None => (false, in_digest, false, None),
    };
    if is_multipart && let Some(boundary) = boundary.filter(|b| !b.is_empty()) {
        frames.push(Frame::Multipart { boundary, digest });
        return Ok(Mode::Preamble);
    }
    if is_message {
        return Ok(match encoding.as_deref() {
            Some(b"base64") => Mode::Encoded { body: Vec::new(), base64: true, depth: at + 1 },
            Some(b"quoted-printable") => Mode::Encoded { body: Vec::new(), base64: false, depth: at + 1 },
            _ => {
                frames.push(Frame::Message);
                Mode::Header(Vec::new())
            }
        });
    }
    Ok(Mode::Body)
}

/// After a delimiter of the innermost multipart: an attached message the part was in ends; a
/// closing delimiter (`--` follows) ends the multipart, else the next part's header starts.
fn after_delimiter(frames: &mut Vec<Frame>, rest: &[u8]) -> Mode {
    if matches!(frames.last(), Some(Frame::Message)) {
        frames.pop();
    }
    if rest.starts_with(b"--") {
        frames.pop();
        return Mode::Body;
    }
    start_header(rest)
}

/// What follows the innermost multipart's delimiter in `line`, if `line` has one.
fn delimiter<'a>(frames: &[Frame], line: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = frames.iter().rev().find_map(|f| match f {
        Frame::Multipart { boundary, .. } => Some(boundary),
        Frame::Message => None,
    })?;
    // Lines are short: a byte search for '-' beats building a substring searcher per line.
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'-', &line[from..]) {
        let start = from + at + 2;
        if line.get(from + at + 1) == Some(&b'-') && line[start..].starts_with(boundary) {
            return Some(&line[start + boundary.len()..]);
        }
        from += at + 1;
    }
    None
}

/// Decodes a transfer-encoded attached message and scans it in turn, as mail-parser parses it.
fn encoded_message(
    body: &[u8],
    base64: bool,
    limits: &MessageLimits,
    depth: u32,
    encoded_left: u32,
    parts: &mut usize,
) -> Result<(), MimeError> {
    if encoded_left == 0 {
        // mail-parser leaves it undecoded: the walk refuses it.
        return Ok(());
    }
    let decoded = if base64 { transfer::base64(body) } else { transfer::quoted_printable(body) };
    if decoded.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    scan(&decoded, limits, depth, encoded_left - 1, parts)?;
    count_types(&decoded, limits)
}

/// What the pre-scan reads of a Content-Type value.
struct ContentType {
    kind: Vec<u8>,
    subtype: Vec<u8>,
    boundary: Option<Vec<u8>>,
}

impl ContentType {
    /// `type/subtype; boundary=...`, leniently; the first boundary parameter counts.
    fn parse(value: &[u8]) -> ContentType {
        let mut params = split_params(value).into_iter();
        let media = params.next().unwrap_or_default();
        let media = media.trim_ascii().to_ascii_lowercase();
        let (kind, subtype) = match media.iter().position(|&b| b == b'/') {
            Some(p) => (media[..p].trim_ascii().to_vec(), media[p + 1..].trim_ascii().to_vec()),
            None => (media.clone(), Vec::new()),
        };
        let boundary = params.find_map(|p| {
            let eq = p.iter().position(|&b| b == b'=')?;
            let name = p[..eq].trim_ascii().to_ascii_lowercase();
            // RFC 2231 forms (`boundary*`, `boundary*0`) name the boundary too.
            let base = name.split(|&b| b == b'*').next().unwrap_or_default();
            (base == b"boundary").then(|| unquote(p[eq + 1..].trim_ascii()))
        });
        ContentType { kind, subtype, boundary }
    }

    /// An attached message mail-parser opens.
    fn is_message(&self) -> bool {
        self.kind == b"message" && (self.subtype == b"rfc822" || self.subtype == b"global")
    }
}

/// Splits a field value at `;` outside quotes.
fn split_params(value: &[u8]) -> Vec<Vec<u8>> {
    let (mut out, mut current, mut quoted) = (Vec::new(), Vec::new(), false);
    for &b in value {
        match b {
            b'"' => {
                quoted = !quoted;
                current.push(b);
            }
            b';' if !quoted => out.push(std::mem::take(&mut current)),
            b => current.push(b),
        }
    }
    out.push(current);
    out
}

fn unquote(value: &[u8]) -> Vec<u8> {
    match value.strip_prefix(b"\"") {
        Some(rest) => rest.iter().take_while(|&&b| b != b'"').copied().collect(),
        None => value.split(|b| b.is_ascii_whitespace()).next().unwrap_or_default().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_default(raw: &[u8]) -> Result<(), MimeError> {
        prescan(raw, &MessageLimits::default())
    }

    #[test]
    fn lines_split_as_split_does() {
        for raw in [&b""[..], b"a", b"a\n", b"a\nb", b"\n\n", b"a\r\nb\r\n"] {
            let ours: Vec<&[u8]> = lines(raw).collect();
            let split: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
            assert_eq!(ours, split, "{raw:?}");
        }
    }

    #[test]
    fn header_names_are_read_as_mail_parser_reads_them() {
        for line in ["Content-Type: x", "content-type : x", "Content-Type\t: x", " Content-Type: x", ":Content-Type: x"]
        {
            assert_eq!(field_name(line.as_bytes()).as_deref(), Some(&b"content-type"[..]), "{line:?}");
        }
        assert_eq!(field_name(b"no colon here"), None);
    }

    #[test]
    fn nested_messages_are_refused_whatever_the_spelling_of_the_field() {
        for field in ["Content-Type: ", "Content-Type : ", "Content-Type\t: ", "CONTENT-TYPE:"] {
            let raw = format!("{field}message/rfc822\r\n\r\n").repeat(30);
            assert_eq!(scan_default(raw.as_bytes()), Err(MimeError::TooDeep(20)), "{field:?}");
        }
        let folded = "Content-Type:\r\n message/rfc822\r\n\r\n".repeat(30);
        assert_eq!(scan_default(folded.as_bytes()), Err(MimeError::TooDeep(20)));
    }

    #[test]
    fn twenty_levels_pass_twenty_one_do_not() {
        let chain =
            |n: usize| format!("{}Subject: last\r\n\r\nhi\r\n", "Content-Type: message/rfc822\r\n\r\n".repeat(n));
        assert_eq!(scan_default(chain(20).as_bytes()), Ok(()));
        assert_eq!(scan_default(chain(21).as_bytes()), Err(MimeError::TooDeep(20)));
    }

    #[test]
    fn multiparts_nest_and_close() {
        let mut raw = String::new();
        for i in 0..25 {
            raw.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
        }
        assert_eq!(scan_default(raw.as_bytes()), Err(MimeError::TooDeep(20)));
        // Siblings, each closed, are not nesting.
        let sibling = "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nx\r\n--i--\r\n";
        let raw = format!("Content-Type: multipart/mixed; boundary=o\r\n\r\n{}--o--\r\n", sibling.repeat(100));
        assert_eq!(scan_default(raw.as_bytes()), Ok(()));
    }

    #[test]
    fn a_digest_part_without_content_type_is_a_message() {
        let mut raw = String::new();
        for i in 0..15 {
            raw.push_str(&format!("Content-Type: multipart/digest; boundary=d{i}\r\n\r\n--d{i}\r\n\r\n"));
        }
        assert_eq!(scan_default(raw.as_bytes()), Err(MimeError::TooDeep(20)));
    }

    #[test]
    fn encoded_attached_messages_are_decoded_and_scanned() {
        use base64::Engine as _;
        let deep = "Content-Type : message/rfc822\r\n\r\n".repeat(30);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&deep);
        let raw = format!("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n");
        assert_eq!(scan_default(raw.as_bytes()), Err(MimeError::TooDeep(20)));
    }

    #[test]
    fn content_type_lines_count_wherever_they_are_and_only_lines_with_a_colon_are_read() {
        let limits = MessageLimits { max_parts: 3, ..MessageLimits::default() };
        // Fields in a body count as mail-parser may read them (the second bound), however the
        // line is spelled and whatever other colons it holds; ends of lines CRLF or LF.
        for (body, count) in [
            ("Content-Type: a\r\n content-type : b\nno colon\r\nX-Other: c\r\n", 2),
            ("Content-Type: a:b:c\r\nContent-Type:d\r\n:Content-Type: e\r\n", 3),
            ("text: with colons: here\r\nContent-Type: last line without its end", 1),
        ] {
            let raw = format!("Subject: s\r\n\r\n{body}");
            let expected = if count > limits.max_parts { Err(MimeError::TooManyParts(3)) } else { Ok(()) };
            assert_eq!(count_types(raw.as_bytes(), &limits), expected, "{body:?}");
            let over = format!("{raw}\r\nContent-Type: x\r\n{}", "Content-Type: y\n".repeat(3 - count));
            assert_eq!(count_types(over.as_bytes(), &limits), Err(MimeError::TooManyParts(3)), "{body:?}");
        }
    }

    #[test]
    fn a_single_part_body_is_read_no_further_yet_its_fields_still_count() {
        // After a body outside any multipart nothing opens a part: a delimiter-looking line in
        // it is text. The second bound still reads every line.
        let text = "--b\r\nContent-Type: message/rfc822\r\n\r\n".repeat(10);
        let raw = format!("Subject: s\r\n\r\n{text}");
        assert_eq!(scan_default(raw.as_bytes()), Ok(()));
        let limits = MessageLimits { max_parts: 5, ..MessageLimits::default() };
        assert_eq!(prescan(raw.as_bytes(), &limits), Err(MimeError::TooManyParts(5)));
    }

    #[test]
    fn dashes_in_text_are_not_parts() {
        let dump = "-- a comment in an SQL dump\r\n".repeat(5000);
        assert_eq!(scan_default(format!("Subject: dump\r\n\r\n{dump}").as_bytes()), Ok(()));
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n{dump}--B--\r\n"
        );
        assert_eq!(scan_default(raw.as_bytes()), Ok(()));
    }
}
