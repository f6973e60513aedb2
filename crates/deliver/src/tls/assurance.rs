//! Graded assurance of one SMTP session.

use serde::{Deserialize, Serialize};

/// How well a session is protected, weakest first. The session itself proves at most
/// `authenticated`; `mta-sts` and `dane` are reached when the recipient domain's published
/// policy (RFC 8461) or DNSSEC-signed TLSA records (RFC 7672) also hold for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assurance {
    /// No STARTTLS, a failed handshake, or TLS below 1.2.
    None,
    /// TLS 1.2 or later; the certificate was not (successfully) validated.
    Encrypted,
    /// TLS 1.2 or later with a certificate chain valid for the host name.
    Authenticated,
    /// Authenticated, and the host matched the domain's MTA-STS policy in mode `enforce`.
    MtaSts,
    /// The certificate matched a usable DNSSEC-validated TLSA record of the host.
    Dane,
}

impl Assurance {
    /// Every level, weakest first.
    pub const ALL: [Assurance; 5] =
        [Assurance::None, Assurance::Encrypted, Assurance::Authenticated, Assurance::MtaSts, Assurance::Dane];

    /// The configuration keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Assurance::None => "none",
            Assurance::Encrypted => "encrypted",
            Assurance::Authenticated => "authenticated",
            Assurance::MtaSts => "mta-sts",
            Assurance::Dane => "dane",
        }
    }

    /// Reads a configuration keyword.
    pub fn parse(s: &str) -> Option<Assurance> {
        Assurance::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered() {
        assert!(Assurance::ALL.windows(2).all(|w| w[0] < w[1]));
        for a in Assurance::ALL {
            assert_eq!(Assurance::parse(a.as_str()), Some(a));
        }
        assert_eq!(Assurance::parse("DANE"), None);
        assert_eq!(
            Assurance::ALL.map(Assurance::as_str).to_vec(),
            sekisho_config::ASSURANCE_LEVELS.to_vec(),
            "the configuration accepts exactly these levels"
        );
    }
}
