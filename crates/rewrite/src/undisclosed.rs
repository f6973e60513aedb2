//! A copy of a message for one recipient whose visible recipients are that recipient alone:
//! the To and Cc fields (with their continuation lines) are replaced by one `To:` naming the
//! recipient, as if the others had been in Bcc. Pure.

/// The header block `head` (up to and including its empty line, or the whole header) with
/// every To and Cc field replaced by `To: <rcpt>`, written where the first of them was (or
/// before the end of the header when there was none).
pub fn only_recipient(head: &[u8], rcpt: &str) -> Vec<u8> {
    let to = format!("To: <{}>\r\n", crate::own_mail::header_safe(rcpt));
    let mut out = Vec::with_capacity(head.len() + to.len());
    let (mut written, mut skipping) = (false, false);
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continuation && skipping {
            continue;
        }
        skipping = false;
        if is_field(line, "To") || is_field(line, "Cc") {
            skipping = true;
            if !written {
                out.extend_from_slice(to.as_bytes());
                written = true;
            }
            continue;
        }
        if !written && (line == b"\r\n" || line == b"\n") {
            out.extend_from_slice(to.as_bytes());
            written = true;
        }
        out.extend_from_slice(line);
    }
    if !written {
        out.extend_from_slice(to.as_bytes());
    }
    out
}

/// The whole message `message` with [`only_recipient`]'s header.
pub fn only_recipient_message(message: &[u8], rcpt: &str) -> Vec<u8> {
    let end = crate::inbound::header_end(message).unwrap_or(message.len());
    let mut out = only_recipient(&message[..end], rcpt);
    out.extend_from_slice(&message[end..]);
    out
}

fn is_field(line: &[u8], name: &str) -> bool {
    line.len() > name.len()
        && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        && line[name.len()..].trim_ascii_start().first() == Some(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_and_cc_name_only_the_recipient_and_everything_else_stays() {
        let head = b"From: alice@example.jp\r\nTo: a@x.example,\r\n b@y.example\r\nSubject: plan\r\n\
                     CC: c@z.example\r\nTo-Do: not a To field\r\n\r\n";
        let got = only_recipient(head, "b@y.example");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "From: alice@example.jp\r\nTo: <b@y.example>\r\nSubject: plan\r\nTo-Do: not a To field\r\n\r\n"
        );
        let none = only_recipient(b"From: a@example.jp\r\n\r\n", "b@y.example");
        assert_eq!(none, b"From: a@example.jp\r\nTo: <b@y.example>\r\n\r\n");
        let whole = only_recipient_message(b"To: a@x, b@y\r\n\r\nTo: in the body\r\n", "b@y");
        assert_eq!(whole, b"To: <b@y>\r\n\r\nTo: in the body\r\n", "the body is left alone");
        assert_eq!(only_recipient(b"To: a@x\r\n\r\n", "evil\r\nBcc: x@y"), b"To: <evilBcc: x@y>\r\n\r\n");
    }
}
