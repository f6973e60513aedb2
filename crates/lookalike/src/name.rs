//! A domain's registrable part (public suffix list): `example.co.jp` of `mail.example.co.jp`.

/// A registrable domain in both forms, and where its public suffix starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrable {
    /// In A-labels, lower case (`xn--pypal-4ve.com`).
    pub ascii: String,
    /// In Unicode, lower case (`pаypal.com`), as a person reads it.
    pub unicode: String,
    /// Its public suffix in Unicode (`co.jp`).
    pub suffix: String,
}

impl Registrable {
    /// The registrable part of `domain` (any case, Unicode or A-labels, a trailing dot
    /// allowed); None when it is not a valid domain name or is a public suffix itself. A name
    /// the list does not know (`corp.test`) counts whole, its last label as the suffix.
    pub fn of(domain: &str) -> Option<Registrable> {
        let domain = domain.trim().trim_end_matches('.');
        if domain.is_empty() || !domain.contains('.') {
            return None;
        }
        let ascii = idna::domain_to_ascii(domain).ok()?;
        let (registrable, suffix) = match (psl::domain_str(&ascii), psl::suffix_str(&ascii)) {
            (Some(d), Some(s)) if d.len() > s.len() => (d.to_string(), s.to_string()),
            (None, Some(s)) if s == ascii => return None,
            _ => {
                // Not in the list: the last two labels.
                let mut labels = ascii.rsplitn(3, '.');
                let tld = labels.next()?;
                let second = labels.next()?;
                (format!("{second}.{tld}"), tld.to_string())
            }
        };
        let (unicode, _) = idna::domain_to_unicode(&registrable);
        let (suffix, _) = idna::domain_to_unicode(&suffix);
        Some(Registrable { ascii: registrable, unicode: unicode.to_lowercase(), suffix })
    }

    /// The label in front of the suffix, in Unicode (`example` of `example.co.jp`).
    pub fn label(&self) -> &str {
        &self.unicode[..self.unicode.len() - self.suffix.len() - 1]
    }
}

/// The organisational domain of `domain` (DMARC's sense: its registrable part, lower case,
/// A-labels), or the domain itself, lower case, when it has none.
pub fn organisational_domain(domain: &str) -> String {
    match Registrable::of(domain) {
        Some(r) => r.ascii,
        None => domain.trim().trim_end_matches('.').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registrable_part_follows_the_public_suffix_list() {
        let r = Registrable::of("Mail.Example.CO.JP.").unwrap();
        assert_eq!((r.ascii.as_str(), r.suffix.as_str(), r.label()), ("example.co.jp", "co.jp", "example"));
        let r = Registrable::of("xn--pypal-4ve.com").unwrap();
        assert_eq!(r.unicode, "pаypal.com");
        assert_eq!(Registrable::of("corp.test").unwrap().label(), "corp");
        assert_eq!(Registrable::of("co.jp"), None, "a public suffix alone");
        assert_eq!(Registrable::of("localhost"), None);
        assert_eq!(organisational_domain("a.b.example.jp"), "example.jp");
        assert_eq!(organisational_domain("Bounce.Mailer.Example.com"), "example.com");
    }
}
