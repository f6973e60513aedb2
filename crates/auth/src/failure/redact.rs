//! RFC 6590 redaction for failure reports: only an allowlist of header fields is kept (trace
//! and authentication fields, Message-ID, Date, MIME-Version, Content-Type's type/subtype and
//! the address fields), without comments, quoted strings or control characters; every
//! address's local-part is replaced whole by a keyed hash (`redacted-` and 16 hex digits: the
//! same address gives the same token under one key, so reports can be correlated, but the
//! mailbox cannot be read back), only a tag name before it (`smtp.mailfrom=`) staying; address
//! fields keep only their redacted addresses (display names go). The body is never included.

use ring::hmac;

/// Address fields: only their redacted addresses are kept (display names go).
const ADDRESS_FIELDS: &[&str] = &["from", "sender", "reply-to", "to", "cc", "return-path"];

/// Other fields kept, with comments and quoted strings removed and local-parts redacted;
/// every field not named here or in [`ADDRESS_FIELDS`] (and `content-type`) is dropped.
const KEPT_FIELDS: &[&str] = &[
    "received",
    "authentication-results",
    "arc-authentication-results",
    "arc-seal",
    "arc-message-signature",
    "dkim-signature",
    "message-id",
    "date",
    "mime-version",
];

/// Signature fields whose `z=` tag (copied header fields) is dropped.
const SIGNATURES: &[&str] = &["dkim-signature", "arc-seal", "arc-message-signature"];

/// Tag and property names that may precede an address (`smtp.mailfrom=a@b`): they stay
/// readable, the local-part after them is hashed whole.
const TAGS: &[&str] = &[
    "i=",
    "header.i=",
    "header.from=",
    "header.sender=",
    "header.d=",
    "smtp.mailfrom=",
    "smtp.helo=",
    "smtp.auth=",
    "smtp.rcptto=",
    "envelope-from=",
    "envelope-to=",
    "policy.authdomain=",
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
    /// become `?`, control characters other than HTAB are removed). Only an allowlist of
    /// fields is kept: trace and authentication fields, Message-ID, Date, MIME-Version, the
    /// type/subtype of Content-Type and the address fields (redacted addresses only).
    pub fn header(&self, header: &str, max: usize) -> String {
        let mut out = String::new();
        for field in fields(header) {
            let Some((name, value)) = field.split_once(':') else { continue };
            let lower = name.trim().to_ascii_lowercase();
            let value = if ADDRESS_FIELDS.contains(&lower.as_str()) {
                let addresses = self.addresses(value);
                if addresses.is_empty() && value.contains("<>") {
                    " <>".to_string()
                } else if addresses.is_empty() {
                    " [redacted]".to_string()
                } else {
                    format!(" {}", addresses.iter().map(|a| format!("<{a}>")).collect::<Vec<_>>().join(", "))
                }
            } else if lower == "content-type" {
                let bare = uncommented(value);
                let kind = bare.split(';').next().unwrap_or("").split_whitespace().collect::<String>();
                format!(" {}", kind.to_ascii_lowercase())
            } else if KEPT_FIELDS.contains(&lower.as_str()) {
                let bare = uncommented(value);
                let bare = if SIGNATURES.contains(&lower.as_str()) { without_z(&bare) } else { bare };
                self.local_parts(&self.auth_names(&bare))
            } else {
                continue;
            };
            let line: String = format!("{}:{value}", name.trim_end())
                .split('\n')
                .map(|l| {
                    l.chars()
                        .filter(|c| !c.is_control() || *c == '\t')
                        .map(|c| if c.is_ascii() { c } else { '?' })
                        .collect::<String>()
                })
                .map(|l| l.trim_end().to_string())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\r\n");
            if out.len() + line.len() + 2 > max {
                break;
            }
            out.push_str(&line);
            out.push_str("\r\n");
        }
        out
    }

    /// `text` with the bare (address-less) value of each `smtp.auth=` replaced by its token.
    fn auth_names(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.to_ascii_lowercase().find("smtp.auth=") {
            let start = at + "smtp.auth=".len();
            out.push_str(&rest[..start]);
            let value = &rest[start..];
            let end = value.find(|c: char| c.is_whitespace() || c == ';').unwrap_or(value.len());
            if end > 0 && !value[..end].contains('@') {
                out.push_str(&self.token(&value[..end]));
            } else {
                out.push_str(&value[..end]);
            }
            rest = &value[end..];
        }
        out.push_str(rest);
        out
    }

    /// Every address in `text`, redacted.
    fn addresses(&self, text: &str) -> Vec<String> {
        spans(text)
            .into_iter()
            .map(|(l, at, end)| format!("{}@{}", self.token(&text[l..at]), &text[at + 1..end]))
            .collect()
    }

    /// `text` with each address's local-part replaced; a known tag before it
    /// (`smtp.mailfrom=`, `i=`) stays.
    fn local_parts(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (l, at, _) in spans(text) {
            let local = &text[l..at];
            let tag = TAGS
                .iter()
                .find(|t| {
                    local.len() >= t.len()
                        && local.is_char_boundary(t.len())
                        && local[..t.len()].eq_ignore_ascii_case(t)
                })
                .map_or(0, |t| t.len());
            if tag == local.len() {
                continue;
            }
            out.push_str(&text[copied..l + tag]);
            out.push_str(&self.token(&local[tag..]));
            copied = at;
        }
        out.push_str(&text[copied..]);
        out
    }
}

/// `value` without its comments (`(Authenticated sender: alice)`, nested, with escapes) and
/// quoted strings.
fn uncommented(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if (depth > 0 || quoted) && c == '\\' {
            escaped = true;
        } else if quoted {
            quoted = c != '"';
        } else if c == '(' {
            depth += 1;
        } else if depth > 0 && c == ')' {
            depth -= 1;
        } else if depth == 0 && c == '"' {
            quoted = true;
        } else if depth == 0 {
            out.push(c);
        }
    }
    out
}

/// A signature's tag list without its `z=` tag (the copied header fields).
fn without_z(value: &str) -> String {
    value
        .split(';')
        .filter(|tag| !tag.split_once('=').is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("z")))
        .collect::<Vec<_>>()
        .join(";")
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

/// A byte of an unquoted local-part: atext, `.`, `=` (SRS, BATV, VERP: a tag name before it
/// is told apart by [`TAGS`]) and every byte of a non-ASCII character (RFC 6532).
fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80 || b"!#$%&'*+-/=?^_`{|}~.".contains(&b)
}

/// The opening quote of the quoted local-part whose closing quote is at `close`: the nearest
/// quote before it (at or after `floor`) not escaped by a backslash.
fn opening_quote(b: &[u8], floor: usize, close: usize) -> Option<usize> {
    (floor..close)
        .rev()
        .find(|&i| b[i] == b'"' && b[floor..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 0)
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
            if let Some(open) = opening_quote(b, floor, l - 1) {
                l = open;
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
                      Return-Path: <>\r\nDate: Fri, 4 Dec 2026 10:00:00 +0900 (JST)\r\n\r\nbody@example.org text\r\n";
        let out = r.header(header, 10_000);
        for people in ["alice", "bob@", "carol", "Tanaka", "Carol C", "invoice", "5pel", "abc.123", "body"] {
            assert!(!out.contains(people), "{people} in {out}");
        }
        let (alice, bob) = (r.token("alice"), r.token("bob"));
        assert!(out.contains(&format!("From: <{alice}@example.net>\r\n")), "{out}");
        assert!(out.contains(&format!("To: <{bob}@example.jp>, <{}@example.jp>\r\n", r.token("carol.c+x"))), "{out}");
        assert!(out.contains(&format!("\tby gw.corp.test; for <{bob}@example.jp>; Fri")), "folding kept: {out}");
        assert!(!out.contains("Subject"), "{out}");
        assert!(out.contains("Return-Path: <>\r\n"), "{out}");
        assert!(out.contains("Date: Fri, 4 Dec 2026 10:00:00 +0900\r\n"), "{out}");
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

    #[test]
    fn verp_srs_and_non_ascii_local_parts_are_hashed_whole_and_tags_stay() {
        let r = Redactor::new(b"k");
        let verp = "list-bounces+alice=corp.test";
        let out =
            r.local_parts(&format!("spf=pass smtp.mailfrom={verp}@lists.example.org; for <{verp}@lists.example.org>"));
        assert_eq!(
            out,
            format!("spf=pass smtp.mailfrom={t}@lists.example.org; for <{t}@lists.example.org>", t = r.token(verp))
        );
        assert_eq!(
            r.local_parts("i=SRS0=ab=cd=x.example=bob@fwd.example; header.i=Alice@a.example"),
            format!("i={}@fwd.example; header.i={}@a.example", r.token("SRS0=ab=cd=x.example=bob"), r.token("alice"))
        );
        let out = r.local_parts("by gw for <taro.\u{5c71}\u{7530}@example.jp>");
        assert_eq!(out, format!("by gw for <{}@example.jp>", r.token("taro.\u{5c71}\u{7530}")));
        let out = r.header("To: \"a\\\"alice b\"@example.com\r\n", 1000);
        assert_eq!(out, format!("To: <{}@example.com>\r\n", r.token("\"a\\\"alice b\"")));
    }

    #[test]
    fn only_allowlisted_fields_are_kept_without_comments_or_quoted_strings() {
        let r = Redactor::new(b"k");
        let header = "Received: from pc (Authenticated sender: alice) by mx.example.net (Postfix) with ESMTPSA\r\n\
                      Authentication-Results: mx.example.net; auth=pass smtp.auth=alice; dkim=pass (\"alice's key\") header.i=@example.net\r\n\
                      DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=s1;\r\n\tz=From:alice@example.net|Subject:secret; h=from; bh=AAAA; b=BBBB\r\n\
                      Content-Type: text/plain; charset=utf-8; name=\"alice-cv.pdf\"\r\n\
                      MIME-Version: 1.0\r\nMessage-ID: <12345.alice@example.net>\r\n\
                      X-Mailer: Alice's Mail 1.0\r\nSubject: secret\r\nX-Original-To: alice@corp.test\r\nBcc: alice@corp.test\r\n\
                      Delivered-To: alice@corp.test\r\nList-Unsubscribe: <mailto:u@x>\r\n\r\n";
        let out = r.header(header, 10_000);
        for secret in [
            "alice",
            "Alice",
            "secret",
            "Postfix",
            "X-Mailer",
            "X-Original-To",
            "Bcc",
            "Delivered-To",
            "List-",
            "charset",
            "z=",
            "Subject",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.starts_with("Received: from pc  by mx.example.net  with ESMTPSA\r\n"), "{out}");
        assert!(
            out.contains(&format!("auth=pass smtp.auth={}; dkim=pass  header.i=@example.net\r\n", r.token("alice"))),
            "{out}"
        );
        assert!(
            out.contains("DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=s1; h=from; bh=AAAA; b=BBBB\r\n"),
            "{out}"
        );
        assert!(out.contains("Content-Type: text/plain\r\n"), "{out}");
        assert!(out.contains("MIME-Version: 1.0\r\n"), "{out}");
        assert!(out.contains(&format!("Message-ID: <{}@example.net>\r\n", r.token("12345.alice"))), "{out}");
    }

    #[test]
    fn control_characters_other_than_tab_never_reach_the_report() {
        let r = Redactor::new(b"k");
        let header = "Received: from a\rInjected: x by b\x00\x1b[31m;\r\n\tFri, 4 Dec 2026\x7f\r\n\r\n";
        let out = r.header(header, 1000);
        assert_eq!(out, "Received: from aInjected: x by b[31m;\r\n\tFri, 4 Dec 2026\r\n");
        assert!(!out.replace("\r\n", "").chars().any(|c| c.is_control() && c != '\t'), "{out:?}");
    }
}
