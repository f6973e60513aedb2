//! Sanitised delivery of inbound mail: parts of a message replaced (a file by its sanitised
//! copy, an HTML body by its text) or removed (an HTML alternative beside a text/plain one),
//! every other byte left as it was.

use crate::attachment::base64_lines;
use crate::splice::{RewriteError, delimiter_start, whole_message};

/// One change to a part of a message (`span`: from the start of the part's header to the end
/// of its body, as the MIME walk reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartEdit {
    /// The part becomes `part` (a whole MIME part: header fields, empty line, body).
    Replace {
        /// The part's bytes in the message.
        span: (usize, usize),
        /// What stands there instead.
        part: Vec<u8>,
    },
    /// The part goes, with the delimiter line before it.
    Remove {
        /// The part's bytes in the message.
        span: (usize, usize),
    },
}

impl PartEdit {
    fn span(&self) -> (usize, usize) {
        match self {
            PartEdit::Replace { span, .. } | PartEdit::Remove { span } => *span,
        }
    }
}

/// `raw` with `edits` applied. A part that starts at 0 is the whole message: its header
/// fields stay except the Content-* ones, which become the new part's. Overlapping edits, or a
/// part that is not delimited as a multipart's part, are refused.
pub fn edit_parts(raw: &[u8], mut edits: Vec<PartEdit>) -> Result<Vec<u8>, RewriteError> {
    edits.sort_by_key(|e| e.span());
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for edit in &edits {
        let (start, end) = edit.span();
        if start > end || end > raw.len() || start < at {
            return Err(RewriteError::BadSpan(start, end));
        }
        match edit {
            PartEdit::Replace { part, .. } if start == 0 => {
                if edits.len() > 1 {
                    return Err(RewriteError::BadSpan(start, end));
                }
                return Ok(whole_message(raw, part));
            }
            PartEdit::Replace { part, .. } => {
                out.extend_from_slice(&raw[at..start]);
                out.extend_from_slice(part);
            }
            PartEdit::Remove { .. } => {
                let cut = delimiter_start(raw, start).max(at);
                let delimiter = &raw[cut..start];
                if start == 0 || !(delimiter.starts_with(b"\r\n--") && delimiter.ends_with(b"\n")) {
                    return Err(RewriteError::BadSpan(start, end));
                }
                out.extend_from_slice(&raw[at..cut]);
            }
        }
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok(out)
}

/// A file as a MIME attachment part named `name` (any text: encoded as RFC 2231 and RFC 2047
/// ask), its bytes in base64.
pub fn file_part(bytes: &[u8], name: &str, content_type: &str) -> Vec<u8> {
    let mut out = crate::attachment::attachment_header(name, content_type).into_bytes();
    out.extend_from_slice(&base64_lines(bytes));
    out
}

/// `text` as a text/plain part in UTF-8 (lines ending in CRLF, base64).
pub fn text_part(text: &str) -> Vec<u8> {
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut out = b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    out.extend_from_slice(&base64_lines(crlf.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
        --M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
        --A\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
        --A\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--A--\r\n\
        --M\r\nContent-Type: application/vnd.ms-excel.sheet.macroEnabled.12; name=\"a.xlsm\"\r\n\r\nXLSM\r\n--M--\r\n";

    fn span(needle: &str, last: &str) -> (usize, usize) {
        let start = MSG.find(needle).unwrap();
        (start, start + MSG[start..].find(last).unwrap() + last.len())
    }

    #[test]
    fn a_file_is_replaced_and_an_alternative_removed() {
        let html = span("Content-Type: text/html", "<p>hello</p>");
        let xlsm = span("Content-Type: application/vnd.ms-excel", "XLSM");
        let edits = vec![
            PartEdit::Replace { span: xlsm, part: file_part(b"XLSX", "見積 \"書\".xlsx", "application/x") },
            PartEdit::Remove { span: html },
        ];
        let out = String::from_utf8(edit_parts(MSG.as_bytes(), edits).unwrap()).unwrap();
        assert_eq!(
            out,
            "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
             --M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
             --A\r\nContent-Type: text/plain\r\n\r\nhello\r\n--A--\r\n\
             --M\r\nContent-Type: application/x;\r\n name=\"=?UTF-8?B?6KaL56mNICLmm7giLnhsc3g=?=\"\r\n\
             Content-Disposition: attachment;\r\n filename*=UTF-8''%E8%A6%8B%E7%A9%8D%20%22%E6%9B%B8%22.xlsx\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nWExTWA==\r\n--M--\r\n"
        );
        let overlapping = vec![PartEdit::Remove { span: html }, PartEdit::Remove { span: (html.0 + 1, html.1) }];
        assert!(edit_parts(MSG.as_bytes(), overlapping).is_err());
    }

    #[test]
    fn a_message_that_is_one_html_part_becomes_text() {
        let raw = b"From: a@example.jp\r\nContent-Type: text/html; charset=shift_jis\r\nSubject: s\r\n\r\n<b>x</b>\r\n";
        let edits = vec![PartEdit::Replace { span: (0, raw.len()), part: text_part("x\n") }];
        let out = String::from_utf8(edit_parts(raw, edits).unwrap()).unwrap();
        assert_eq!(
            out,
            "From: a@example.jp\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\neA0K\r\n"
        );
    }
}
