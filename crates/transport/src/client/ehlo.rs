//! What a server offers in its EHLO reply.

use super::reply::ServerReply;

/// Extensions the client uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub pipelining: bool,
    /// SIZE limit; `Some(0)` means SIZE without a limit.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    pub dsn: bool,
    pub enhanced_status: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
    /// RFC 8689 REQUIRETLS.
    pub requiretls: bool,
}

impl Capabilities {
    /// Reads an EHLO reply (the first line is the server's greeting name).
    pub fn from_ehlo(reply: &ServerReply) -> Capabilities {
        let mut caps = Capabilities { esmtp: true, ..Default::default() };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else { continue };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "STARTTLS" => caps.starttls = true,
                "DSN" => caps.dsn = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status = true,
                "REQUIRETLS" => caps.requiretls = true,
                "AUTH" => caps.auth = words.map(|w| w.to_ascii_uppercase()).collect(),
                _ => {}
            }
        }
        caps
    }

    /// True when the server announced a SIZE limit smaller than `size`.
    pub fn too_small_for(&self, size: u64) -> bool {
        matches!(self.size, Some(limit) if limit > 0 && limit < size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_extensions() {
        let reply = ServerReply {
            code: 250,
            lines: [
                "mx.example",
                "PIPELINING",
                "SIZE 1000",
                "STARTTLS",
                "AUTH PLAIN login",
                "DSN",
                "8BITMIME",
                "requiretls",
            ]
            .map(String::from)
            .to_vec(),
        };
        let c = Capabilities::from_ehlo(&reply);
        assert!(c.pipelining && c.starttls && c.dsn && c.eight_bit_mime && !c.smtputf8 && c.requiretls);
        assert_eq!(c.auth, ["PLAIN", "LOGIN"]);
        assert!(c.too_small_for(1001) && !c.too_small_for(1000));
        let unlimited = Capabilities { size: Some(0), ..c };
        assert!(!unlimited.too_small_for(u64::MAX));
    }
}
