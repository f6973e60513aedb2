//! The message the send page writes, as pure functions: the recipients typed, the header
//! block, and the MIME frame around the text and the files.

use sekisho_rewrite::own_mail::header_safe;

/// Why the recipients typed cannot be used (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientsError {
    /// No address in To.
    #[error("no recipient: write at least one address in To")]
    None,
    /// Something that is not an address.
    #[error("\"{0}\" is not a mail address")]
    Bad(String),
    /// More than `[smtp] max_recipients`.
    #[error("too many recipients: at most {0}")]
    TooMany(usize),
}

/// The addresses of one field (To or Cc): separated by commas, semicolons, spaces or line
/// breaks, each bare or as `Name <address>`.
fn addresses(field: &str) -> Result<Vec<String>, RecipientsError> {
    let mut out = Vec::new();
    for item in field.split([',', ';', '\n']) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let address = match (item.rfind('<'), item.ends_with('>')) {
            (Some(open), true) => item[open + 1..item.len() - 1].trim(),
            _ => item,
        };
        for a in address.split_whitespace() {
            // As SMTP submission takes a RCPT TO path (RFC 5321 §4.1.2), ASCII only.
            if !sekisho_smtp::address::valid_mailbox(a) || !a.is_ascii() {
                return Err(RecipientsError::Bad(a.chars().take(100).collect()));
            }
            out.push(a.to_string());
        }
    }
    Ok(out)
}

/// The message's recipients: To's, then Cc's, without repeats (compared without case).
pub fn recipients(to: &str, cc: &str, max: usize) -> Result<(Vec<String>, Vec<String>), RecipientsError> {
    let to = addresses(to)?;
    if to.is_empty() {
        return Err(RecipientsError::None);
    }
    let cc = addresses(cc)?;
    let mut seen = std::collections::HashSet::new();
    let mut unique = |list: Vec<String>| -> Vec<String> {
        list.into_iter().filter(|a| seen.insert(a.to_ascii_lowercase())).collect()
    };
    let (to, cc) = (unique(to), unique(cc));
    if to.len() + cc.len() > max {
        return Err(RecipientsError::TooMany(max));
    }
    Ok((to, cc))
}

/// A Subject field's value: as typed when it is plain printable ASCII, else RFC 2047 words.
fn subject_value(subject: &str) -> String {
    let subject = header_safe(subject);
    if subject.chars().all(|c| c.is_ascii_graphic() || c == ' ') && subject.len() <= 900 {
        subject
    } else {
        sekisho_rewrite::encoded_words(&subject)
    }
}

/// What the header block names.
pub struct Head<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    /// RFC 2822 date-time.
    pub date: &'a str,
    pub message_id: &'a str,
    pub boundary: &'a str,
}

/// An address list field, one address a line.
fn list_field(name: &str, addresses: &[String]) -> String {
    let list: Vec<String> = addresses.iter().map(|a| format!("<{}>", header_safe(a))).collect();
    format!("{name}: {}\r\n", list.join(",\r\n\t"))
}

/// The header block (without trace fields), the preamble and the text part, up to where the
/// first file's part begins.
pub fn head_and_text(h: &Head<'_>, text: &str) -> Vec<u8> {
    let mut out = format!("From: <{}>\r\n", header_safe(h.from));
    out.push_str(&list_field("To", h.to));
    if !h.cc.is_empty() {
        out.push_str(&list_field("Cc", h.cc));
    }
    out.push_str(&format!(
        "Subject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\r\n--{b}\r\n",
        subject_value(h.subject),
        header_safe(h.date),
        header_safe(h.message_id),
        b = h.boundary,
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&sekisho_rewrite::text_part(text));
    bytes
}

/// What comes between one part and the next file part's header.
pub fn next_part(boundary: &str) -> String {
    format!("\r\n--{boundary}\r\n")
}

/// The end of the last part and of the message.
pub fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// A file's content type as the browser said it, when it is a plain `type/subtype`; else
/// `application/octet-stream`.
pub fn content_type(said: Option<&str>) -> String {
    let plain = |s: &str| {
        let token = |t: &str| {
            !t.is_empty() && t.len() <= 100 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        s.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
    };
    match said.map(str::trim) {
        Some(s) if plain(s) => s.to_ascii_lowercase(),
        _ => "application/octet-stream".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_read_as_people_type_them() {
        let (to, cc) =
            recipients("a@partner.example, B <b@partner.example>;\nc@x.example d@x.example", "A@partner.example", 10)
                .unwrap();
        assert_eq!(to, ["a@partner.example", "b@partner.example", "c@x.example", "d@x.example"]);
        assert!(cc.is_empty(), "a repeat is dropped");
        assert_eq!(recipients(" ", "c@x.example", 10), Err(RecipientsError::None));
        assert_eq!(recipients("bob", "", 10), Err(RecipientsError::Bad("bob".into())));
        assert_eq!(recipients("a@x.example\r\nBcc: e@evil.example", "", 10), Err(RecipientsError::Bad("Bcc:".into())));
        assert_eq!(recipients("a@x.example, b@x.example", "", 1), Err(RecipientsError::TooMany(1)));
        // What SMTP submission would refuse with 501 is refused here too.
        for bad in ["a@b@evil.example", "x@foo..bar", "x@host:25", "x(y)@x.example"] {
            assert_eq!(recipients(bad, "", 10), Err(RecipientsError::Bad(bad.into())), "{bad}");
        }
    }

    #[test]
    fn the_message_reads_back_with_its_subject_text_and_recipients() {
        let (to, cc) = (vec!["a@partner.example".to_string()], vec!["c@x.example".to_string()]);
        let head = Head {
            from: "alice@corp.example",
            to: &to,
            cc: &cc,
            subject: "見積書の件\r\nBcc: e@evil.example",
            date: "Sat, 05 Dec 2026 12:00:00 +0900",
            message_id: "ABC@gw.example",
            boundary: "=_b",
        };
        let mut raw = head_and_text(&head, "本文です。\nよろしく。");
        raw.extend_from_slice(next_part("=_b").as_bytes());
        raw.extend_from_slice(sekisho_rewrite::attachment_header("見積.pdf", "application/pdf").as_bytes());
        let mut lines = sekisho_rewrite::Base64Lines::new();
        lines.feed(b"%PDF-1.4 data", &mut raw);
        lines.finish(&mut raw);
        raw.extend_from_slice(closing("=_b").as_bytes());
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(!text.contains("\r\nBcc"), "{text}");
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("見積書の件Bcc: e@evil.example"));
        assert_eq!(parsed.body_text(0).as_deref(), Some("本文です。\r\nよろしく。"));
        let attachment = parsed.attachment(0).unwrap();
        assert_eq!(attachment.contents(), b"%PDF-1.4 data");
        use mail_parser::MimeHeaders as _;
        assert_eq!(attachment.attachment_name(), Some("見積.pdf"));
        assert_eq!(parsed.to().unwrap().first().unwrap().address(), Some("a@partner.example"));
    }

    #[test]
    fn only_a_plain_content_type_is_kept() {
        assert_eq!(content_type(Some("application/PDF")), "application/pdf");
        assert_eq!(content_type(Some("text/plain; charset=x")), "application/octet-stream");
        assert_eq!(content_type(Some("a/b\r\nX: y")), "application/octet-stream");
        assert_eq!(content_type(None), "application/octet-stream");
    }
}
