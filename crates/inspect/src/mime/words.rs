//! What the mis-send rules read of a message's words: its decoded Subject and the text of its
//! top-level text parts (HTML as text), bounded.

use mail_parser::MessageParser;

use super::{MessageLimits, MimeError, dismantle, prescan};

/// A message's Subject and text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Words {
    /// The Subject field, decoded ("" when there is none).
    pub subject: String,
    /// The text of the message's body parts, at most the `max_text` given (cut at a character).
    pub text: String,
}

/// The [`Words`] of `raw`, within `limits`.
pub fn words(raw: &[u8], limits: &MessageLimits, max_text: usize) -> Result<Words, MimeError> {
    prescan(raw, limits)?;
    let message = MessageParser::default().parse(raw).ok_or(MimeError::Unparseable)?;
    let subject = message.subject().unwrap_or_default().to_string();
    let mut text = String::new();
    for i in 0..message.text_body.len() {
        let Some(part) = message.body_text(i) else { continue };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&part);
        if text.len() >= max_text {
            let mut end = max_text;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            break;
        }
    }
    dismantle(message);
    Ok(Words { subject, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_and_text_are_decoded() {
        let raw = b"From: a@example.jp\r\nSubject: =?UTF-8?B?56S+5aSW56eY?=\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: base64\r\n\r\n44Oe44Kk44OK44Oz44OQ44O8\r\n--b\r\n\
            Content-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n";
        let w = words(raw, &MessageLimits::default(), 1 << 20).unwrap();
        assert_eq!(w.subject, "社外秘");
        assert_eq!(w.text.trim(), "マイナンバー");
        let cut = words(raw, &MessageLimits::default(), 4).unwrap();
        assert_eq!(cut.text, "マ", "cut at a character boundary");
    }
}
