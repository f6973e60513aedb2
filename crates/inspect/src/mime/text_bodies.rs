//! The text a reader sees first: the first text/plain and the first text/html body part of a
//! message (inside `multipart/alternative`, every alternative; inside any other multipart, its
//! first part only), decoded, with their spans — where a banner goes. Nothing under a
//! `multipart/signed` or `multipart/encrypted` is returned (a change there breaks the
//! signature), and attached messages are left alone.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::{MessageLimits, MimeError, dismantle, entered, names, prescan};

/// One body part a reader sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBody {
    /// From the start of its header to the end of its body (`(0, len)` for a message that is
    /// one text part).
    pub span: (usize, usize),
    /// Where its body starts (after the empty line that ends its header).
    pub body_start: usize,
    /// text/html (else text/plain).
    pub html: bool,
    /// Its text, decoded (transfer encoding and charset).
    pub text: String,
}

/// The body parts of a message a banner goes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextBodies {
    /// The first text/plain and the first text/html body, in message order.
    pub parts: Vec<TextBody>,
    /// A `multipart/signed` or `multipart/encrypted` was met on the way, and left alone.
    pub signed: bool,
}

/// The body parts of `raw` a reader sees first (see [`TextBodies`]).
pub fn text_bodies(raw: &[u8], limits: &MessageLimits) -> Result<TextBodies, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let mut walk = Walk { limits, parts: 0, out: TextBodies::default() };
    let walked = walk.part(&message, raw, 0, "1", 0);
    dismantle(message);
    walked.map(|()| walk.out)
}

struct Walk<'l> {
    limits: &'l MessageLimits,
    parts: usize,
    out: TextBodies,
}

impl Walk<'_> {
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
        let span = (if id == 0 { 0 } else { part.offset_header as usize }, end);
        let subtype = part.content_type().and_then(|ct| ct.subtype()).unwrap_or_default().to_ascii_lowercase();
        let attachment = part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        let body_part = names(part).is_empty() && !attachment;
        let seen = |html: bool| self.out.parts.iter().any(|p| p.html == html);
        match &part.body {
            PartType::Multipart(_) if subtype == "signed" || subtype == "encrypted" => {
                self.out.signed = true;
                Ok(())
            }
            PartType::Multipart(children) => {
                let taken = if subtype == "alternative" { children.len() } else { 1 };
                for (i, c) in children.iter().take(taken).enumerate() {
                    self.part(message, raw, *c, &format!("{section}.{}", i + 1), depth + 1)?;
                }
                Ok(())
            }
            PartType::Text(text) if body_part && !seen(false) => {
                let body_start = (part.offset_body as usize).min(end);
                self.out.parts.push(TextBody { span, body_start, html: false, text: text.to_string() });
                Ok(())
            }
            PartType::Html(html) if body_part && !seen(true) => {
                let body_start = (part.offset_body as usize).min(end);
                self.out.parts.push(TextBody { span, body_start, html: true, text: html.to_string() });
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_plain_and_html_bodies_and_nothing_signed_or_attached() {
        let raw = "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
            --M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: base64\r\n\r\ngsSCzQ==\r\n\
            --A\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--A--\r\n\
            --M\r\nContent-Type: text/plain\r\n\r\nsecond text: an inline attachment\r\n\
            --M\r\nContent-Type: text/html; name=\"page.html\"\r\n\r\n<p>file</p>\r\n--M--\r\n";
        let b = text_bodies(raw.as_bytes(), &MessageLimits::default()).unwrap();
        assert!(!b.signed);
        assert_eq!(b.parts.len(), 2, "{b:?}");
        assert_eq!((b.parts[0].html, b.parts[0].text.as_str()), (false, "ては"));
        let (s, e) = b.parts[0].span;
        assert!(
            raw[s..e].starts_with("Content-Type: text/plain; charset=shift_jis") && raw[s..e].ends_with("gsSCzQ==")
        );
        assert!(raw[b.parts[0].body_start..].starts_with("gsSCzQ=="));
        assert_eq!((b.parts[1].html, b.parts[1].text.as_str()), (true, "<p>hello</p>"));
        let alone = "From: a@example.jp\r\nSubject: x\r\n\r\nhi\r\n";
        let b = text_bodies(alone.as_bytes(), &MessageLimits::default()).unwrap();
        assert_eq!(b.parts[0].span, (0, alone.len()));
        let signed = "From: a@example.jp\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"S\"\r\n\r\n\
            --S\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n\
            --S\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n\r\nMIAG\r\n--S--\r\n";
        let b = text_bodies(signed.as_bytes(), &MessageLimits::default()).unwrap();
        assert_eq!(b, TextBodies { parts: Vec::new(), signed: true });
    }
}
