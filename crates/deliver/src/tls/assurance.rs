//! Graded assurance of one SMTP session.

use serde::Serialize;

/// How well a session is protected, weakest first. `mta-sts` and `dane` are graded by the
/// policy stage that builds on this one; a session measured here reaches at most
/// `authenticated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assurance {
    /// No STARTTLS, a failed handshake, or TLS below 1.2.
    None,
    /// TLS 1.2 or later; the certificate was not (successfully) validated.
    Encrypted,
    /// TLS 1.2 or later with a certificate chain valid for the host name.
    Authenticated,
}

impl Assurance {
    /// The configuration keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::None => "none",
            Assurance::Encrypted => "encrypted",
            Assurance::Authenticated => "authenticated",
        }
    }

    /// Reads a configuration keyword.
    pub fn parse(s: &str) -> Option<Assurance> {
        match s {
            "none" => Some(Assurance::None),
            "encrypted" => Some(Assurance::Encrypted),
            "authenticated" => Some(Assurance::Authenticated),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Assurance::None < Assurance::Encrypted && Assurance::Encrypted < Assurance::Authenticated);
        for a in [Assurance::None, Assurance::Encrypted, Assurance::Authenticated] {
            assert_eq!(Assurance::parse(a.as_str()), Some(a));
        }
        assert_eq!(Assurance::parse("dane"), None);
    }
}
