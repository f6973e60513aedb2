//! Mails sekisho writes itself (one-time codes, sign-in links, passwords for the sender,
//! download notices to the sender): plain text in UTF-8, base64, an encoded-word subject, and
//! nothing from the outside able to break a header line.

use base64::Engine as _;

/// Control characters (CR, LF...) removed: what goes into a header stays on its line.
pub fn header_safe(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

fn encoded_word(s: &str) -> String {
    format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(s))
}

/// A whole message from `postmaster@hostname` to `to` with `subject` and the body `text`, dated
/// `date` (RFC 2822) and identified by `<message_id@hostname>`.
pub fn plain_mail(hostname: &str, to: &str, subject: &str, text: &str, date: &str, message_id: &str) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    let part = format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
        lines.join("\r\n")
    );
    mail_with_part(hostname, to, subject, part.as_bytes(), date, message_id)
}

/// A whole message whose body is `part` (its own Content-* fields, an empty line, its body),
/// otherwise as [`plain_mail`].
pub fn mail_with_part(hostname: &str, to: &str, subject: &str, part: &[u8], date: &str, message_id: &str) -> Vec<u8> {
    let hostname = header_safe(hostname);
    let mut out = format!(
        "From: sekisho <postmaster@{hostname}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <{id}@{hostname}>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n",
        to = header_safe(to),
        subject = encoded_word(subject),
        date = header_safe(date),
        id = header_safe(message_id),
    )
    .into_bytes();
    out.extend_from_slice(part);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_from_outside_breaks_a_header() {
        let mail = plain_mail("gw.example.jp", "bob@example.com\r\nBcc: x@evil", "件名", "本文", "Wed", "id1");
        let text = String::from_utf8(mail).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("To: <bob@example.comBcc: x@evil>"));
        assert!(!head.contains("\r\nBcc"));
        assert!(head.contains("Subject: =?UTF-8?B?5Lu25ZCN?="));
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap(), "本文".as_bytes());
    }
}
