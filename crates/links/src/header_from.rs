//! The header From of a message, as the classification page shows it beside the envelope
//! sender. Read from the header block only, at most `MAX_HEADER` bytes of it.

use mail_parser::MessageParser;

/// The most header bytes read for it: a longer header block is cut there.
pub const MAX_HEADER: usize = 64 << 10;

/// The first address of the header From of `raw` ("Name <address>", or the address alone),
/// decoded; empty when the message has none. Pure.
pub fn header_from(raw: &[u8]) -> String {
    let end =
        sekisho_rewrite::inbound::header_end(&raw[..raw.len().min(MAX_HEADER)]).unwrap_or(raw.len().min(MAX_HEADER));
    let Some(message) = MessageParser::new().parse_headers(&raw[..end]) else { return String::new() };
    let Some(first) = message.from().and_then(|f| f.first()) else { return String::new() };
    let address = first.address().unwrap_or_default();
    match first.name().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) if !address.is_empty() => format!("{name} <{address}>"),
        Some(name) => name.to_string(),
        None => address.to_string(),
    }
}

/// The decoded Subject of `raw`, read from its header block only (at most `MAX_HEADER`
/// bytes); empty when it has none. Pure.
pub fn header_subject(raw: &[u8]) -> String {
    let end =
        sekisho_rewrite::inbound::header_end(&raw[..raw.len().min(MAX_HEADER)]).unwrap_or(raw.len().min(MAX_HEADER));
    MessageParser::new()
        .parse_headers(&raw[..end])
        .and_then(|m| m.subject().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_decoded_from_the_header_only() {
        assert_eq!(
            header_subject(b"From: a@x\r\nSubject: =?UTF-8?B?6KuL5rGC5pu4?=\r\n\r\nSubject: no\r\n"),
            "\u{8acb}\u{6c42}\u{66f8}"
        );
        assert_eq!(header_subject(b"From: a@x\r\n\r\nSubject: body\r\n"), "");
    }

    #[test]
    fn the_first_from_address_with_its_decoded_name() {
        let raw =
            b"Subject: x\r\nFrom: =?UTF-8?B?5bGx55Sw?= <yamada@bank.example>, b@x.example\r\n\r\nFrom: body@x\r\n";
        assert_eq!(header_from(raw), "\u{5c71}\u{7530} <yamada@bank.example>");
        assert_eq!(header_from(b"From: a@outside.example\r\n\r\nbody"), "a@outside.example");
        assert_eq!(header_from(b"Subject: none\r\n\r\nFrom: b@x.example\r\n"), "", "never from the body");
        let mut long = b"X-Pad: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEADER));
        long.extend_from_slice(b"\r\nFrom: late@x.example\r\n\r\n");
        assert_eq!(header_from(&long), "", "past the bound nothing is read");
    }
}
