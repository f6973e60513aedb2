//! The mailboxes of an inbound message's From and Reply-To fields, display names decoded
//! (RFC 2047), as the findings compare them.

use mail_parser::{Address, MessageParser};

/// One mailbox: the display name a person sees and the address the mail came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, decoded; None when there is none.
    pub name: Option<String>,
    /// The address, as written.
    pub address: String,
}

impl Mailbox {
    /// The address's domain, lower case ("" without an `@`).
    pub fn domain(&self) -> String {
        domain_of(&self.address)
    }
}

/// The domain of `address`, lower case ("" without an `@`).
pub fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map_or_else(String::new, |(_, d)| d.trim_end_matches('>').to_lowercase())
}

/// The header fields the findings read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderHeader {
    /// The From field's mailboxes.
    pub from: Vec<Mailbox>,
    /// The Reply-To field's mailboxes.
    pub reply_to: Vec<Mailbox>,
}

impl SenderHeader {
    /// The fields of `header` (a message's header block); empty when it cannot be parsed.
    pub fn parse(header: &[u8]) -> SenderHeader {
        let mut block = header.to_vec();
        if !block.ends_with(b"\r\n\r\n") && !block.ends_with(b"\n\n") {
            block.extend_from_slice(b"\r\n");
        }
        let Some(message) = MessageParser::new().parse_headers(&block[..]) else {
            return SenderHeader::default();
        };
        SenderHeader { from: mailboxes(message.from()), reply_to: mailboxes(message.reply_to()) }
    }
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else { return Vec::new() };
    address
        .iter()
        .filter_map(|a| {
            let address = a.address.as_deref()?.trim().to_string();
            let name = a.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
            Some(Mailbox { name, address })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_and_addresses_kept() {
        let h = b"Received: from x\r\nFrom: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <taro@evil.test>\r\n\
            Reply-To: \"ceo@corp.test\" <x@other.test>, y@third.test\r\nSubject: hi\r\n\r\n";
        let s = SenderHeader::parse(h);
        assert_eq!(s.from, [Mailbox { name: Some("山田 太郎".into()), address: "taro@evil.test".into() }]);
        assert_eq!(s.reply_to.len(), 2);
        assert_eq!(s.reply_to[0].name.as_deref(), Some("ceo@corp.test"));
        assert_eq!(s.reply_to[1].domain(), "third.test");
        assert_eq!(SenderHeader::parse(b"Subject: none\r\n\r\n"), SenderHeader::default());
    }
}
