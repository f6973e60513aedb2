//! A file as a MIME part, written as it arrives: the part's header (its name as RFC 2047 and
//! RFC 2231 ask, folded so no line grows long) and its bytes in base64, 76 symbols a line.

use base64::Engine as _;

/// Bytes one base64 line of 76 symbols holds.
const LINE_BYTES: usize = 57;
/// UTF-8 bytes one encoded word holds: "=?UTF-8?B?" + 56 symbols + "?=" is 68 characters.
const WORD_BYTES: usize = 42;
/// Percent-encoded characters one `filename*N*` section holds at most.
const SECTION_CHARS: usize = 54;

/// True when `name` can stand as a quoted string as it is.
fn plain(name: &str) -> bool {
    name.len() <= 60 && name.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ')
}

/// `name` as RFC 2047 encoded words of at most 75 characters, whole characters in each, joined
/// by a folding line break.
pub fn encoded_words(name: &str) -> String {
    let mut words = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for (i, c) in name.char_indices() {
        if i + c.len_utf8() - start > WORD_BYTES && end > start {
            words.push(&name[start..end]);
            start = end;
        }
        end = i + c.len_utf8();
    }
    if end > start {
        words.push(&name[start..end]);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    words.iter().map(|w| format!("=?UTF-8?B?{}?=", b64.encode(w))).collect::<Vec<_>>().join("\r\n ")
}

/// `name` percent-encoded (RFC 2231 section 7), in sections of at most `SECTION_CHARS`
/// characters that never split a character (readers decode each section alone).
fn percent_sections(name: &str) -> Vec<String> {
    let mut sections = vec![String::new()];
    let mut utf8 = [0u8; 4];
    for c in name.chars() {
        let piece: String = c
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        if sections.last().is_some_and(|s| s.len() + piece.len() > SECTION_CHARS) {
            sections.push(String::new());
        }
        sections.last_mut().expect("one section at least").push_str(&piece);
    }
    sections
}

/// The header of an attachment part named `name` (any text) of type `content_type`, its body
/// in base64; ends with the empty line.
pub fn attachment_header(name: &str, content_type: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).collect();
    let (type_name, disposition) = if plain(&name) {
        (format!("name=\"{name}\""), format!("filename=\"{name}\""))
    } else {
        let sections = percent_sections(&name);
        let filename = if sections.len() == 1 {
            format!("filename*=UTF-8''{}", sections[0])
        } else {
            sections
                .iter()
                .enumerate()
                .map(|(i, s)| if i == 0 { format!("filename*0*=UTF-8''{s}") } else { format!("filename*{i}*={s}") })
                .collect::<Vec<_>>()
                .join(";\r\n ")
        };
        (format!("name=\"{}\"", encoded_words(&name)), filename)
    };
    format!(
        "Content-Type: {content_type};\r\n {type_name}\r\nContent-Disposition: attachment;\r\n {disposition}\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
}

/// Base64 in lines of 76 symbols joined by CRLF (no line break after the last), made from
/// bytes as they arrive: at most one line's bytes are held.
#[derive(Debug, Default)]
pub struct Base64Lines {
    pending: Vec<u8>,
    lines: u64,
}

impl Base64Lines {
    /// An encoder that has seen nothing.
    pub fn new() -> Base64Lines {
        Base64Lines::default()
    }

    fn line(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.lines > 0 {
            out.extend_from_slice(b"\r\n");
        }
        self.lines += 1;
        let mut symbols = [0u8; 76];
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(bytes, &mut symbols)
            .expect("57 bytes make 76 symbols");
        out.extend_from_slice(&symbols[..n]);
    }

    /// Appends to `out` every line that `bytes` completes.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let take = (LINE_BYTES - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < LINE_BYTES {
                return;
            }
            let line = std::mem::take(&mut self.pending);
            self.line(&line, out);
        }
        let mut chunks = bytes.chunks_exact(LINE_BYTES);
        for chunk in &mut chunks {
            self.line(chunk, out);
        }
        self.pending.extend_from_slice(chunks.remainder());
    }

    /// Appends the last, shorter line, if any.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.line(&line, out);
        }
    }
}

/// `bytes` in base64, lines of 76 symbols joined by CRLF (no line break after the last).
pub(crate) fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 57 * 78 + 80);
    let mut lines = Base64Lines::new();
    lines.feed(bytes, &mut out);
    lines.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders as _;

    use super::*;

    #[test]
    fn lines_made_piece_by_piece_equal_lines_made_at_once() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let expected: Vec<&str> = whole.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        for piece in [1, 2, 56, 57, 58, 1000, 4096] {
            let mut out = Vec::new();
            let mut lines = Base64Lines::new();
            for chunk in bytes.chunks(piece) {
                lines.feed(chunk, &mut out);
            }
            lines.finish(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected.join("\r\n"), "pieces of {piece}");
        }
        assert!(base64_lines(b"").is_empty());
    }

    #[test]
    fn a_long_japanese_name_is_folded_and_read_back_whole() {
        let name = "2026年度 第3四半期 取引先別売上集計表（最終版・社外秘）見積書 \"改\".xlsx";
        let header = attachment_header(name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        assert!(header.lines().all(|l| l.trim_end().len() <= 78 || l.starts_with("Content-Type:")), "{header}");
        assert!(header.contains("filename*1*="), "{header}");
        let message = format!(
            "From: a@example.jp\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\n{header}{}\r\n--B--\r\n",
            String::from_utf8(base64_lines(b"hello")).unwrap()
        );
        let parsed = mail_parser::MessageParser::default().parse(message.as_bytes()).unwrap();
        let part = parsed.attachment(0).expect("the attachment");
        assert_eq!(part.attachment_name(), Some(name));
        assert_eq!(part.contents(), b"hello");
    }

    #[test]
    fn a_plain_name_stays_quoted_and_control_characters_go() {
        let header = attachment_header("report.pdf", "application/pdf");
        assert!(header.contains("name=\"report.pdf\"") && header.contains("filename=\"report.pdf\""));
        let header = attachment_header("a\r\nBcc: x@evil.pdf", "application/pdf");
        assert!(!header.contains("\r\nBcc"), "{header}");
    }
}
