//! Next-hop syntax shared by `[routes]`, `relay_host` and `next_hop`, as in Postfix's transport
//! maps: "[host]:port" or "[192.0.2.1]" means that host without an MX lookup; "host" or
//! "host:port" means the host's MX records.

use crate::error::InvalidValue;

/// Where mail for a destination goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// Host name or IP address, lower case.
    pub host: String,
    /// Port; `None` means `[delivery] port`.
    pub port: Option<u16>,
    /// Look up MX records of `host` (false for the bracketed form).
    pub mx_lookup: bool,
}

impl NextHop {
    /// Parses "[host]:port", "[host]", "host:port" or "host".
    pub fn parse(text: &str) -> Result<NextHop, InvalidValue> {
        Self::parse_text(text).map_err(InvalidValue)
    }

    /// The same, the reason as a sentence.
    fn parse_text(text: &str) -> Result<NextHop, String> {
        let text = text.trim();
        let err = || format!("`{text}` is not a next hop; write \"[host]:port\", \"[192.0.2.1]\" or \"domain\"");
        let (host, port, mx_lookup) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(err)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(err)?.parse::<u16>().map_err(|_| err())?),
            };
            (host, port, false)
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p.parse::<u16>().map_err(|_| err())?), true),
                _ => (text, None, true),
            }
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let valid_name = !host.is_empty()
            && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !(valid_name || host.parse::<std::net::IpAddr>().is_ok()) {
            return Err(err());
        }
        Ok(NextHop { host, port, mx_lookup })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            NextHop::parse("[10.1.2.3]:25").unwrap(),
            NextHop { host: "10.1.2.3".into(), port: Some(25), mx_lookup: false }
        );
        assert_eq!(
            NextHop::parse("[Smart.Example]").unwrap(),
            NextHop { host: "smart.example".into(), port: None, mx_lookup: false }
        );
        assert_eq!(
            NextHop::parse("example.com:2525").unwrap(),
            NextHop { host: "example.com".into(), port: Some(2525), mx_lookup: true }
        );
        assert!(NextHop::parse("[::1]:25").is_ok());
        assert!(NextHop::parse("[host:25").is_err());
        assert!(NextHop::parse("bad host").is_err());
        assert!(NextHop::parse("[h]:99999").is_err());
    }
}
