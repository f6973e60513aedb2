//! Reading header fields from a header block (bytes, CRLF lines), without I/O.

/// True when the header block has a field named `name` (case-insensitive).
pub fn has_field(header: &[u8], name: &str) -> bool {
    field_names(header).any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

/// The names of the fields in a header block, in order; continuation lines are skipped.
pub fn field_names(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    header.split(|&b| b == b'\n').filter_map(|line| {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            return None;
        }
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii_end();
        (!name.is_empty()).then_some(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_case_insensitively_and_skips_folded_lines() {
        let h = b"Subject: a\r\n message-id: not a field\r\nMESSAGE-ID : <x@y>\r\n";
        assert!(has_field(h, "Message-ID"));
        assert!(has_field(h, "subject"));
        assert!(!has_field(h, "Date"));
    }

    #[test]
    fn folded_line_mentioning_a_field_does_not_count() {
        assert!(!has_field(b"Subject: a\r\n\tMessage-ID: <x@y>\r\n", "Message-ID"));
    }
}
