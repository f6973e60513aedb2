//! Mailbox addresses as received in MAIL FROM and RCPT TO: domain, local part, routing tricks.

/// An envelope address split at its last `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox<'a> {
    /// The local part, possibly quoted as sent.
    pub local: &'a str,
    /// The domain or address literal, as sent.
    pub domain: &'a str,
}

/// Splits `address` at its last `@`; `None` for the null path or a bare local part.
pub fn split(address: &str) -> Option<Mailbox<'_>> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some(Mailbox { local, domain })
}

/// The domain normalised for comparison: lower case, without a trailing dot.
pub fn normalize_domain(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

/// True when the local part carries sender-specified routing (`%`, `!`, `@`), the tricks of
/// open-relay probes such as `victim%outside@local` or `outside!victim@local`.
pub fn has_routing(local: &str) -> bool {
    let unquoted = local.trim_matches('"');
    unquoted.contains(['%', '!', '@'])
}

/// True when `path` is `local@domain` with a dot-atom or quoted-string local part (RFC 5321
/// §4.1.2) and a valid domain or address literal.
pub fn valid_mailbox(path: &str) -> bool {
    let Some(m) = split(path) else { return false };
    if !valid_domain(m.domain) || path.len() > 320 {
        return false;
    }
    if let Some(inner) = m.local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        let mut escaped = false;
        for c in inner.chars() {
            if c.is_control() {
                return false;
            }
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return false,
                _ => {}
            }
        }
        return !escaped;
    }
    m.local.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii())
    })
}

/// True when a domain is syntactically acceptable: a dot-atom of LDH labels (UTF-8 allowed for
/// SMTPUTF8) or an address literal in brackets.
pub fn valid_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[') {
        let Some(inner) = literal.strip_suffix(']') else {
            return false;
        };
        let inner = inner.strip_prefix("IPv6:").unwrap_or(inner);
        return inner.parse::<std::net::IpAddr>().is_ok();
    }
    let d = domain.strip_suffix('.').unwrap_or(domain);
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_last_at() {
        let m = split("\"a@b\"@example.com").unwrap();
        assert_eq!(m.local, "\"a@b\"");
        assert_eq!(m.domain, "example.com");
        assert!(split("postmaster").is_none());
        assert!(split("").is_none());
    }

    #[test]
    fn routing_tricks_are_recognised() {
        for local in ["victim%outside", "outside!victim", "\"victim@outside\""] {
            assert!(has_routing(local), "{local}");
        }
        assert!(!has_routing("alice.smith+tag"));
    }

    #[test]
    fn domains_and_literals() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("例え.jp"));
        assert!(valid_domain("[127.0.0.1]"));
        assert!(valid_domain("[IPv6:::1]"));
        assert!(!valid_domain("[127.0.0.1"));
        assert!(!valid_domain("exa mple.com"));
        assert!(!valid_domain("a..b"));
        assert!(!valid_domain("-a.b"));
        assert!(!valid_domain("a;b.com"));
    }

    #[test]
    fn mailboxes() {
        assert!(valid_mailbox("\"john doe\"@example.com"));
        assert!(valid_mailbox("a.b+c@[127.0.0.1]"));
        assert!(!valid_mailbox("\"a\"b\"@example.com"));
        assert!(!valid_mailbox("a..b@example.com"));
        assert!(!valid_mailbox("a b@example.com"));
        assert!(!valid_mailbox("\"victim@outside\""));
    }

    #[test]
    fn domain_normalisation() {
        assert_eq!(normalize_domain("Example.COM."), "example.com");
    }
}
