//! A saved message (.eml) found as a file: an attachment sent as `application/octet-stream`,
//! an entry of an archive. It is recognised by its header and walked like a message: each file
//! it carries becomes a child, opened in turn.

use crate::encrypted::Format;
use crate::encrypted::walker::{Walker, child};
use crate::mime::{self, MessageLimits};

/// Header fields that mark a message (two of them, in a header that ends with an empty line).
const KNOWN: [&str; 22] = [
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "received",
    "return-path",
    "reply-to",
    "sender",
    "delivered-to",
    "references",
    "in-reply-to",
    "dkim-signature",
    "x-mailer",
    "user-agent",
    "authentication-results",
    "thread-topic",
    "x-ms-has-attach",
];
/// Most header bytes looked at.
const MAX_HEADER: usize = 256 * 1024;

/// True when `bytes` start with an RFC 5322 header (after an optional mbox `From ` line) that
/// has at least two of the usual fields and ends with an empty line.
pub(crate) fn looks_like_message(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(MAX_HEADER)];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).peekable();
    if lines.peek().is_some_and(|l| l.starts_with(b"From ")) {
        lines.next();
    }
    let mut known = 0;
    let mut fields = 0;
    while let Some(line) = lines.next() {
        if line.is_empty() {
            // The empty piece after a final line break is the end of the input, not a line.
            return lines.peek().is_some() && fields > 0 && known >= 2;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if fields == 0 {
                return false;
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
        let name = &line[..colon];
        if name.is_empty() || name.len() > 76 || !name.iter().all(|&b| b.is_ascii_graphic()) {
            return false;
        }
        fields += 1;
        if KNOWN.iter().any(|k| name.eq_ignore_ascii_case(k.as_bytes())) {
            known += 1;
        }
    }
    false
}

/// True for the media types of an attached message.
pub(crate) fn is_message_type(content_type: &str) -> bool {
    matches!(content_type, "message/rfc822" | "message/global")
}

/// Opens the message `bytes` found at `path`: each file it carries is a child.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    let limits = MessageLimits { archive: w.limits.clone(), ..MessageLimits::default() };
    match mime::carried(bytes, &limits, 0) {
        Ok(carried) => {
            if let Err(reason) = w.count_entries(carried.files.len()) {
                return w.obstacle(path, reason);
            }
            for file in carried.files {
                let entry_path = child(path, file.name);
                if is_message_type(&file.content_type) {
                    w.inspect_owned_as(&entry_path, file.bytes, Format::Message);
                } else {
                    w.inspect_owned(&entry_path, file.bytes);
                }
            }
        }
        Err(e) => w.corrupt(path, Format::Message, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_makes_a_message_text_does_not() {
        assert!(looks_like_message(b"From: a@x\r\nSubject: hi\r\n\r\nbody"));
        assert!(looks_like_message(b"From a@x Mon Jan 1\nReceived: x\n by y\nDate: z\n\nbody"));
        assert!(!looks_like_message(b"Subject: only one known\r\n\r\nbody"));
        assert!(!looks_like_message(b"Dear Sir,\r\nFrom: me\r\nTo: you\r\n\r\n"));
        assert!(!looks_like_message(b"From: a\r\nTo: b\r\n"), "no end of header");
        assert!(!looks_like_message(b"a,b,c\n1,2,3\n"));
    }
}
