//! RFC 6590 redaction for failure reports: every address's local-part is replaced by a keyed
//! hash (`redacted-` and 16 hex digits: the same address gives the same token under one key,
//! so reports can be correlated, but the mailbox cannot be read back), address fields keep
//! only their redacted addresses (display names go), and free-text fields (Subject,
//! Thread-Topic, Comments, Keywords) become `[redacted]`. The body is never included.

use ring::hmac;

/// Fields whose whole value is replaced.
const FREE_TEXT: &[&str] = &["subject", "thread-topic", "comments", "keywords"];

/// Fields that hold addresses (and display names): only the redacted addresses are kept.
const ADDRESS_FIELDS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "sender",
    "resent-from",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-sender",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "return-path",
    "disposition-notification-to",
    "errors-to",
];

/// Replaces local-parts with a keyed hash.
pub struct Redactor {
    key: hmac::Key,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor")
    }
}

impl Redactor {
    /// A redactor hashing with `key`.
    pub fn new(key: &[u8]) -> Redactor {
        Redactor { key: hmac::Key::new(hmac::HMAC_SHA256, key) }
    }

    /// A redactor with a random key (made at start and never written).
    pub fn random() -> Redactor {
        let key: [u8; 32] = rand::random();
        Redactor::new(&key)
    }

    /// The token standing for `local` (compared case-insensitively).
    pub fn token(&self, local: &str) -> String {
        let tag = hmac::sign(&self.key, local.to_ascii_lowercase().as_bytes());
        let hex: String = tag.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("redacted-{hex}")
    }

    /// `local@domain` as `TOKEN@domain`; the null address stays empty.
    pub fn address(&self, address: &str) -> String {
        let a = address.trim().trim_start_matches('<').trim_end_matches('>');
        match a.rsplit_once('@') {
            _ if a.is_empty() => String::new(),
            Some((local, domain)) => format!("{}@{}", self.token(local), domain.to_ascii_lowercase()),
            None => self.token(a),
        }
    }

    /// The header block `header` (fields with their folding, CRLF or LF line ends) redacted,
    /// at most `max` bytes of whole fields, CRLF line ends, ASCII only (other characters
    /// become `?`).
    pub fn header(&self, header: &str, max: usize) -> String {
        let mut out = String::new();
        for field in fields(header) {
            let Some((name, value)) = field.split_once(':') else { continue };
            let lower = name.trim().to_ascii_lowercase();
            let value = if FREE_TEXT.contains(&lower.as_str()) {
                " [redacted]".to_string()
            } else if ADDRESS_FIELDS.contains(&lower.as_str()) {
                let addresses = self.addresses(value);
                if addresses.is_empty() && value.contains("<>") {
                    " <>".to_string()
                } else if addresses.is_empty() {
                    " [redacted]".to_string()
                } else {
                    format!(" {}", addresses.iter().map(|a| format!("<{a}>")).collect::<Vec<_>>().join(", "))
                }
            } else {
                self.local_parts(value)
            };
            let line: String = format!("{name}:{value}")
                .split('\n')
                .map(|l| l.trim_end_matches('\r'))
                .collect::<Vec<_>>()
                .join("\r\n")
                .chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect();
            if out.len() + line.len() + 2 > max {
                break;
            }
            out.push_str(&line);
            out.push_str("\r\n");
        }
        out
    }

    /// Every address in `text`, redacted.
    fn addresses(&self, text: &str) -> Vec<String> {
        spans(text)
            .into_iter()
            .map(|(l, at, end)| format!("{}@{}", self.token(&text[l..at]), &text[at + 1..end]))
            .collect()
    }

    /// `text` with each address's local-part replaced.
    fn local_parts(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (l, at, _) in spans(text) {
            out.push_str(&text[copied..l]);
            out.push_str(&self.token(&text[l..at]));
            copied = at;
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// The header's fields, each with its continuation lines; stops at the empty line.
fn fields(header: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut start: Option<usize> = None;
    let mut at = 0;
    for line in header.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\r', '\n']);
        if bare.is_empty() {
            break;
        }
        if !line.starts_with([' ', '\t']) {
            if let Some(s) = start {
                out.push(header[s..at].trim_end_matches(['\r', '\n']));
            }
            start = Some(at);
        }
        at += line.len();
    }
    if let Some(s) = start {
        out.push(header[s..at].trim_end_matches(['\r', '\n']));
    }
    out
}

/// A character of an unquoted local-part; `=` is left out: in header values it ends a tag
/// (`smtp.mailfrom=`, `i=`), and a local-part with one (SRS, BATV) keeps what precedes it.
fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/?^_`{|}~.".contains(&b)
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':')
}

/// Each address in `text`: (local-part start, the `@`, domain end); a quoted local-part
/// (`"a b"@x`) is one.
fn spans(text: &str) -> Vec<(usize, usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut floor = 0;
    for at in 0..b.len() {
        if b[at] != b'@' || at < floor {
            continue;
        }
        let mut l = at;
        if l > floor && b[l - 1] == b'"' {
            if let Some(open) = text[floor..l - 1].rfind('"') {
                l = floor + open;
            }
        } else {
            while l > floor && local_char(b[l - 1]) {
                l -= 1;
            }
        }
        let mut end = at + 1;
        while end < b.len() && domain_char(b[end]) {
            end += 1;
        }
        let domain = text[at + 1..end].trim_end_matches(['.', ':']);
        if l < at && !domain.is_empty() {
            out.push((l, at, at + 1 + domain.len()));
            floor = at + 1 + domain.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts_become_keyed_hashes_and_domains_stay() {
        let r = Redactor::new(b"k");
        let t = r.token("alice");
        assert!(t.starts_with("redacted-") && t.len() == 25, "{t}");
        assert_eq!(r.token("ALICE"), t, "case does not change the token");
        assert_ne!(Redactor::new(b"other").token("alice"), t, "the token depends on the key");
        assert_eq!(r.address("<alice@Example.NET>"), format!("{t}@example.net"));
        assert_eq!(r.address("<>"), "");
    }

    #[test]
    fn the_header_shows_domains_not_people() {
        let r = Redactor::new(b"k");
        let header = "Received: from relay.outside.example (relay [127.0.0.1])\r\n\tby gw.corp.test; for <bob@example.jp>; Fri, 4 Dec 2026\r\n\
                      From: \"Alice Tanaka\" <alice@example.net>\r\nTo: bob@example.jp, \"Carol C\" <carol.c+x@example.jp>\r\n\
                      Subject: =?UTF-8?B?5pel5pys?= your invoice\r\nMessage-ID: <abc.123@example.net>\r\n\
                      Return-Path: <>\r\nX-Note: caf\u{e9}\r\n\r\nbody@example.org text\r\n";
        let out = r.header(header, 10_000);
        for people in ["alice", "bob@", "carol", "Tanaka", "Carol C", "invoice", "5pel", "abc.123", "body"] {
            assert!(!out.contains(people), "{people} in {out}");
        }
        let (alice, bob) = (r.token("alice"), r.token("bob"));
        assert!(out.contains(&format!("From: <{alice}@example.net>\r\n")), "{out}");
        assert!(out.contains(&format!("To: <{bob}@example.jp>, <{}@example.jp>\r\n", r.token("carol.c+x"))), "{out}");
        assert!(out.contains(&format!("\tby gw.corp.test; for <{bob}@example.jp>; Fri")), "folding kept: {out}");
        assert!(out.contains("Subject: [redacted]\r\n"), "{out}");
        assert!(out.contains("Return-Path: <>\r\n"), "{out}");
        assert!(out.contains("X-Note: caf?\r\n"), "ASCII only: {out}");
        assert!(out.ends_with("\r\n") && !out.contains("\r\n\r\n"), "{out}");
        let short = r.header(header, 150);
        assert!(short.len() <= 150 && short.starts_with("Received:") && !short.contains("From:"), "{short}");
    }

    #[test]
    fn quoted_local_parts_and_bare_at_signs() {
        let r = Redactor::new(b"k");
        let out = r.local_parts("x=\"a b\"@example.com; i=@example.com; y=@ ; z=user@; smtp.mailfrom=bob@b.example");
        assert_eq!(
            out,
            format!(
                "x={}@example.com; i=@example.com; y=@ ; z=user@; smtp.mailfrom={}@b.example",
                r.token("\"a b\""),
                r.token("bob")
            )
        );
    }
}
