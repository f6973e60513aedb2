//! The HTML bodies of a message, for delivery as text (`[inbound] html_to_text`): each HTML
//! body part with its span and its HTML decoded (transfer encoding and charset), or, inside a
//! `multipart/alternative` that has a text/plain part, the other alternatives to remove. HTML
//! attachments (a part with a file name or `Content-Disposition: attachment`) are files, not
//! bodies, and attached messages are left as they are.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::{MessageLimits, MimeError, dismantle, enter, entered, names, prescan, unambiguous};

/// What to do with one part to deliver a message's HTML as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HtmlBody {
    /// An alternative beside a text/plain part: remove it (`span`: from the start of its
    /// header to the end of its body).
    Remove {
        /// The part's bytes.
        span: (usize, usize),
    },
    /// An HTML part with no text/plain alternative: replace it by its text.
    Convert {
        /// The part's bytes (`(0, len)` for a message that is one HTML part).
        span: (usize, usize),
        /// Its HTML, decoded.
        html: String,
    },
}

/// Every HTML body of `raw` (see [`HtmlBody`]), in message order.
pub fn html_bodies(raw: &[u8], limits: &MessageLimits) -> Result<Vec<HtmlBody>, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let mut walk = Bodies { limits, parts: 0, out: Vec::new() };
    let walked = walk.part(&message, raw, 0, "1", 0);
    dismantle(message);
    walked.map(|()| walk.out)
}

struct Bodies<'l> {
    limits: &'l MessageLimits,
    parts: usize,
    out: Vec<HtmlBody>,
}

/// A text part of the message's own (not an attachment).
fn body_part(part: &mail_parser::MessagePart<'_>) -> bool {
    names(part).is_empty() && !attachment(part)
}

/// `Content-Disposition: attachment`.
fn attachment(part: &mail_parser::MessagePart<'_>) -> bool {
    part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

/// True when `part` is an HTML body, or a multipart (e.g. `multipart/related`) holding one and
/// nothing else of its own: an alternative to remove beside a text/plain one. Other
/// alternatives (a calendar invitation) stay, and so does one that carries a file beside its
/// HTML (its HTML parts are converted instead). The resources an HTML body shows by Content-ID
/// go with it. At most `budget` parts are looked at.
fn removable(message: &mail_parser::Message<'_>, part: &mail_parser::MessagePart<'_>, budget: usize) -> bool {
    let mut pending = vec![part];
    let (mut seen, mut html) = (0, false);
    while let Some(p) = pending.pop() {
        seen += 1;
        if seen > budget {
            return false;
        }
        match &p.body {
            PartType::Html(_) if body_part(p) => html = true,
            PartType::Multipart(children) => {
                pending.extend(children.iter().filter_map(|c| message.parts.get(*c as usize)));
            }
            _ if body_part(p) || (p.content_id().is_some() && !attachment(p)) => {}
            _ => return false,
        }
    }
    html
}

impl Bodies<'_> {
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
        match &part.body {
            PartType::Multipart(children) => {
                let alternative = part
                    .content_type()
                    .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("alternative")));
                let child = |c: &u32| message.parts.get(*c as usize);
                let plain = alternative
                    && children.iter().filter_map(child).any(|c| matches!(c.body, PartType::Text(_)) && body_part(c));
                for (i, c) in children.iter().enumerate() {
                    let s = format!("{section}.{}", i + 1);
                    match child(c) {
                        Some(p) if plain && removable(message, p, self.limits.max_parts) => {
                            enter(self.limits, &mut self.parts, depth + 1)?;
                            unambiguous(p, &s)?;
                            let end = (p.offset_end as usize).min(raw.len());
                            self.out.push(HtmlBody::Remove { span: (p.offset_header as usize, end) });
                        }
                        _ => self.part(message, raw, *c, &s, depth + 1)?,
                    }
                }
                Ok(())
            }
            PartType::Html(html) if body_part(part) => {
                self.out.push(HtmlBody::Convert { span, html: html.to_string() });
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
    fn alternatives_go_a_lone_html_part_is_converted_and_html_files_stay() {
        let raw = "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n\
            --M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n\
            --A\r\nContent-Type: text/html; charset=iso-2022-jp\r\n\r\n<p>hello</p>\r\n--A--\r\n\
            --M\r\nContent-Type: text/html; charset=shift_jis\r\nContent-Transfer-Encoding: base64\r\n\r\ngsSCzQ==\r\n\
            --M\r\nContent-Type: text/html; name=\"page.html\"\r\n\r\n<p>file</p>\r\n--M--\r\n";
        let bodies = html_bodies(raw.as_bytes(), &MessageLimits::default()).unwrap();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        let HtmlBody::Remove { span } = &bodies[0] else { panic!("{bodies:?}") };
        assert!(raw[span.0..span.1].starts_with("Content-Type: text/html; charset=iso-2022-jp"));
        assert!(raw[span.0..span.1].ends_with("<p>hello</p>"));
        let HtmlBody::Convert { span, html } = &bodies[1] else { panic!("{bodies:?}") };
        assert_eq!(html, "ては", "decoded from Shift_JIS");
        assert!(raw[span.0..span.1].starts_with("Content-Type: text/html; charset=shift_jis"));
        let invitation = "From: a@example.jp\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain\r\n\r\nmeet\r\n\
            --A\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n\
            --R\r\nContent-Type: text/html\r\n\r\n<p>meet</p>\r\n--R--\r\n\
            --A\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n--A--\r\n";
        let bodies = html_bodies(invitation.as_bytes(), &MessageLimits::default()).unwrap();
        let [HtmlBody::Remove { span }] = bodies.as_slice() else { panic!("{bodies:?}") };
        assert!(invitation[span.0..span.1].starts_with("Content-Type: multipart/related"), "the HTML goes whole");
        assert!(invitation[span.0..span.1].ends_with("--R--"), "{:?}", &invitation[span.0..span.1]);
        let alone = "From: a@example.jp\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n";
        let bodies = html_bodies(alone.as_bytes(), &MessageLimits::default()).unwrap();
        assert_eq!(bodies, [HtmlBody::Convert { span: (0, alone.len()), html: "<b>hi</b>\r\n".into() }]);
    }

    #[test]
    fn an_alternative_carrying_a_file_keeps_it_and_its_html_is_converted() {
        let raw = "From: a@example.jp\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain\r\n\r\nsee the invoice\r\n\
            --A\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n\
            --X\r\nContent-Type: text/html\r\n\r\n<p>see the invoice</p>\r\n\
            --X\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n\
            Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\n%PDF-1.4\r\n--X--\r\n--A--\r\n";
        let bodies = html_bodies(raw.as_bytes(), &MessageLimits::default()).unwrap();
        let [HtmlBody::Convert { span, .. }] = bodies.as_slice() else { panic!("the file must stay: {bodies:?}") };
        assert!(raw[span.0..span.1].starts_with("Content-Type: text/html"));
        // An image the HTML shows by Content-ID goes with it.
        let related = "From: a@example.jp\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n\
            --A\r\nContent-Type: text/plain\r\n\r\nlogo\r\n\
            --A\r\nContent-Type: multipart/related; boundary=\"R\"\r\n\r\n\
            --R\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo\">\r\n\
            --R\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo>\r\n\r\nPNG\r\n--R--\r\n--A--\r\n";
        let bodies = html_bodies(related.as_bytes(), &MessageLimits::default()).unwrap();
        let [HtmlBody::Remove { span }] = bodies.as_slice() else { panic!("{bodies:?}") };
        assert!(related[span.0..span.1].starts_with("Content-Type: multipart/related"));
    }
}
