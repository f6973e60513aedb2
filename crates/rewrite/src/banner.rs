//! A banner at the top of a message's body: the first text/plain and text/html body parts a
//! reader sees get the banner in front of their text (re-encoded as UTF-8, base64), every other
//! byte — other parts, the MIME structure, the header fields — stays as it was. A part under a
//! `multipart/signed` (or `multipart/encrypted`) is left alone, and the answer says so, since
//! any change there breaks the signature. Written once, for the sender findings on inbound mail
//! and for the mis-send rules' banner on outbound mail.

use sekisho_inspect::mime::{MessageLimits, MimeError, TextBody, text_bodies};

use crate::attachment::base64_lines;
use crate::replace::{PartEdit, edit_parts};
use crate::splice::RewriteError;

/// The banner in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// Put in front of a text/plain body (CRLF or LF line ends; CRLF on the wire).
    pub text: String,
    /// Put at the start of a text/html body's `<body>` (already escaped HTML).
    pub html: String,
}

impl Banner {
    /// A banner of plain `text` (an administrator's sentence): as it is before text bodies,
    /// escaped with its line breaks kept before HTML ones.
    pub fn from_text(text: &str) -> Banner {
        let lines: Vec<String> = text.lines().map(crate::notice::escape).collect();
        Banner {
            text: text.to_string(),
            html: format!(
                "<div data-sekisho-banner=\"rules\" style=\"border:2px solid #c60;padding:8px;margin-bottom:12px\">{}</div>",
                lines.join("<br>")
            ),
        }
    }
}

/// What became of a message given a banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bannered {
    /// The message with the banner in its body parts.
    Added(Vec<u8>),
    /// Its text is under a signature: left as it was.
    Signed,
    /// It has no text or HTML body a reader sees first (e.g. only attachments): left as it was.
    NoBody,
}

/// Why a banner could not be put in.
#[derive(Debug, thiserror::Error)]
pub enum BannerError {
    /// The message's MIME structure cannot be walked.
    #[error("cannot find the message's body: {0}")]
    Mime(#[from] MimeError),
    /// The body parts found do not fit the message.
    #[error(transparent)]
    Rewrite(#[from] RewriteError),
}

/// `raw` with `banner` at the top of its first text and HTML body parts (see the module).
pub fn with_banner(raw: &[u8], banner: &Banner) -> Result<Bannered, BannerError> {
    let bodies = text_bodies(raw, &MessageLimits::default())?;
    if bodies.parts.is_empty() {
        return Ok(if bodies.signed { Bannered::Signed } else { Bannered::NoBody });
    }
    let edits = bodies.parts.iter().map(|b| PartEdit::Replace { span: b.span, part: bannered_part(raw, b, banner) });
    Ok(Bannered::Added(edit_parts(raw, edits.collect())?))
}

/// The part `b` of `raw` with the banner in front of its text: its header fields except
/// Content-Type and Content-Transfer-Encoding, then new ones (UTF-8, base64).
fn bannered_part(raw: &[u8], b: &TextBody, banner: &Banner) -> Vec<u8> {
    let (content_type, text) = if b.html {
        ("text/html", html_with(&b.text, &banner.html))
    } else {
        let top = banner.text.replace("\r\n", "\n");
        ("text/plain", format!("{}\n\n{}", top.trim_end_matches('\n'), b.text))
    };
    let mut out = Vec::new();
    // The whole message (span from 0) keeps its header where `edit_parts` puts the part.
    if b.span.0 != 0 {
        let header = &raw[b.span.0..b.body_start.max(b.span.0)];
        let mut skipping = false;
        for line in header.split_inclusive(|&c| c == b'\n') {
            if line == b"\r\n" || line == b"\n" {
                break;
            }
            let folded = line.first().is_some_and(|c| *c == b' ' || *c == b'\t');
            if !folded {
                let name = line.split(|&c| c == b':').next().unwrap_or_default().trim_ascii().to_ascii_lowercase();
                skipping = name == b"content-type" || name == b"content-transfer-encoding";
            }
            if !skipping {
                out.extend_from_slice(line);
            }
        }
    }
    out.extend_from_slice(
        format!("Content-Type: {content_type}; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n").as_bytes(),
    );
    let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
    out.extend_from_slice(&base64_lines(crlf.as_bytes()));
    out
}

/// `html` with `banner` right after its `<body ...>` tag, or in front when it has none.
fn html_with(html: &str, banner: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let at = lower
        .match_indices("<body")
        .find(|(i, _)| lower[i + 5..].starts_with(['>', ' ', '\t', '\r', '\n', '/']))
        .and_then(|(i, _)| lower[i..].find('>').map(|e| i + e + 1))
        .unwrap_or(0);
    format!("{}{banner}{}", &html[..at], &html[at..])
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    fn banner() -> Banner {
        Banner { text: "【注意】 look-alike\r\n".into(), html: "<div id=\"b\">【注意】</div>".into() }
    }

    fn added(raw: &str) -> String {
        match with_banner(raw.as_bytes(), &banner()).unwrap() {
            Bannered::Added(out) => String::from_utf8(out).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn both_bodies_get_it_and_everything_else_stays() {
        let raw = "From: a@example.jp\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
            --M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain; charset=iso-2022-jp\r\nContent-Disposition: inline\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n\
            --A\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><BODY class=3D\"x\"><p>hi</p></body></html>\r\n--A--\r\n\
            --M\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--M--\r\n";
        let out = added(raw);
        let m = MessageParser::default().parse(out.as_bytes()).unwrap();
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), "【注意】 look-alike\n\nこんにちは");
        assert_eq!(
            m.body_html(0).unwrap(),
            "<html><BODY class=\"x\"><div id=\"b\">【注意】</div><p>hi</p></body></html>"
        );
        assert_eq!(m.attachments().count(), 1);
        assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-");
        assert!(out.starts_with(
            "From: a@example.jp\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n"
        ));
        assert!(out.contains("Content-Disposition: inline\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
        assert!(out.ends_with("JVBERi0=\r\n--M--\r\n"), "the attachment and the closing delimiter as they were");
    }

    #[test]
    fn a_message_that_is_one_text_keeps_its_header() {
        let out =
            added("From: a@example.jp\r\nSubject: hi\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n");
        assert!(out.starts_with(
            "From: a@example.jp\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8"
        ));
        let m = MessageParser::default().parse(out.as_bytes()).unwrap();
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n"), "【注意】 look-alike\n\nhello\n");
        let html = added("From: a@example.jp\r\nContent-Type: text/html\r\n\r\n<p>no body tag</p>");
        let m = MessageParser::default().parse(html.as_bytes()).unwrap();
        assert_eq!(m.body_html(0).unwrap(), "<div id=\"b\">【注意】</div><p>no body tag</p>");
    }

    #[test]
    fn a_signed_message_and_one_without_a_body_are_left_alone() {
        let signed = "From: a@example.jp\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"S\"\r\n\r\n\
            --S\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--S\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIAG\r\n--S--\r\n";
        assert_eq!(with_banner(signed.as_bytes(), &banner()).unwrap(), Bannered::Signed);
        let files = "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
            --M\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\r\n%PDF\r\n--M--\r\n";
        assert_eq!(with_banner(files.as_bytes(), &banner()).unwrap(), Bannered::NoBody);
    }
}
