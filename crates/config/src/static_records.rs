//! `[dns.static]` records: "MX 10 mx1.example.jp", "A 127.0.0.2", "AAAA ::1", "TXT v=spf1 -all",
//! "TLSA 3 1 1 <hex>". Parsed here so a typo is a config error with its line.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::InvalidValue;

/// One static DNS record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaticRecord {
    /// MX preference and exchange (lower case, no trailing dot; "." is the null MX).
    Mx {
        preference: u16,
        exchange: String,
    },
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Txt(String),
    /// TLSA usage, selector, matching type and association data.
    Tlsa {
        usage: u8,
        selector: u8,
        matching: u8,
        data: Vec<u8>,
    },
}

impl StaticRecord {
    /// Parses one record written as "TYPE DATA".
    pub fn parse(text: &str) -> Result<StaticRecord, InvalidValue> {
        Self::parse_text(text).map_err(InvalidValue)
    }

    /// The same, the reason as a sentence.
    fn parse_text(text: &str) -> Result<StaticRecord, String> {
        let text = text.trim();
        let (kind, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        match kind.to_ascii_uppercase().as_str() {
            "MX" => match fields.as_slice() {
                [pref, host] => Ok(StaticRecord::Mx {
                    preference: pref.parse().map_err(|_| format!("`{pref}` is not an MX preference (0-65535)"))?,
                    exchange: normalize_host(host),
                }),
                _ => Err(format!("`{text}`: write MX records as \"MX 10 mx1.example.jp\"")),
            },
            "A" => rest.parse().map(StaticRecord::A).map_err(|_| format!("`{rest}` is not an IPv4 address")),
            "AAAA" => rest.parse().map(StaticRecord::Aaaa).map_err(|_| format!("`{rest}` is not an IPv6 address")),
            "TXT" => Ok(StaticRecord::Txt(rest.trim_matches('"').to_string())),
            "TLSA" => match fields.as_slice() {
                [u, s, m, hex] => {
                    let num = |v: &str| v.parse::<u8>().map_err(|_| format!("`{v}` is not a TLSA field (0-255)"));
                    Ok(StaticRecord::Tlsa {
                        usage: num(u)?,
                        selector: num(s)?,
                        matching: num(m)?,
                        data: decode_hex(hex)?,
                    })
                }
                _ => Err(format!("`{text}`: write TLSA records as \"TLSA 3 1 1 <hex>\"")),
            },
            other => Err(format!("unknown record type `{other}` (MX, A, AAAA, TXT, TLSA)")),
        }
    }
}

/// Lower case without the trailing dot, except the root ".".
pub fn normalize_host(host: &str) -> String {
    if host == "." {
        return ".".into();
    }
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Decodes hexadecimal text (either case); the error names the text.
pub fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{hex}` is not hexadecimal"));
    }
    Ok((0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type() {
        assert_eq!(
            StaticRecord::parse("MX 10 MX1.Example.JP.").unwrap(),
            StaticRecord::Mx { preference: 10, exchange: "mx1.example.jp".into() }
        );
        assert_eq!(StaticRecord::parse("MX 0 .").unwrap(), StaticRecord::Mx { preference: 0, exchange: ".".into() });
        assert_eq!(StaticRecord::parse("A 127.0.0.2").unwrap(), StaticRecord::A("127.0.0.2".parse().unwrap()));
        assert_eq!(StaticRecord::parse("aaaa ::1").unwrap(), StaticRecord::Aaaa("::1".parse().unwrap()));
        assert_eq!(StaticRecord::parse("TXT \"v=spf1 -all\"").unwrap(), StaticRecord::Txt("v=spf1 -all".into()));
        assert_eq!(
            StaticRecord::parse("TLSA 3 1 1 00ff").unwrap(),
            StaticRecord::Tlsa { usage: 3, selector: 1, matching: 1, data: vec![0, 255] }
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(StaticRecord::parse("MX ten mx").unwrap_err().0.contains("preference"));
        assert!(StaticRecord::parse("A 999.1.1.1").unwrap_err().0.contains("IPv4"));
        assert!(StaticRecord::parse("SRV 1 2 3 x").unwrap_err().0.contains("unknown record type"));
        assert!(StaticRecord::parse("TLSA 3 1 1 xyz").unwrap_err().0.contains("hexadecimal"));
    }
}
