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

/// True when the header block has a `TLS-Required` field whose value is `No` (RFC 8689:
/// the only value defined; any case, folding whitespace and a trailing comment allowed).
pub fn tls_required_no(header: &[u8]) -> bool {
    field_values(header, "TLS-Required").any(|v| {
        let v = String::from_utf8_lossy(&v);
        let v = v.split('(').next().unwrap_or("").trim();
        v.eq_ignore_ascii_case("no")
    })
}

/// The unfolded values of the fields named `name` (case-insensitive), in order.
fn field_values<'a>(header: &'a [u8], name: &'a str) -> impl Iterator<Item = Vec<u8>> + 'a {
    let lines: Vec<&[u8]> = header.split(|&b| b == b'\n').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t')
            || !line[..colon].trim_ascii_end().eq_ignore_ascii_case(name.as_bytes())
        {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while i < lines.len() && lines[i].first().is_some_and(|&b| b == b' ' || b == b'\t') {
            value.extend_from_slice(lines[i]);
            i += 1;
        }
        out.push(value.into_iter().filter(|&b| b != b'\r').collect());
    }
    out.into_iter()
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

    #[test]
    fn tls_required_no_is_read_in_any_case_folded_or_commented() {
        assert!(tls_required_no(b"Subject: a\r\nTLS-Required: No\r\n"));
        assert!(tls_required_no(b"tls-required:no\r\n"));
        assert!(tls_required_no(b"TLS-Required:\r\n  NO (reports must arrive)\r\n"));
        assert!(!tls_required_no(b"TLS-Required: Yes\r\n"));
        assert!(!tls_required_no(b"TLS-Required: Nope\r\n"));
        assert!(!tls_required_no(b"Subject: a\r\n\tTLS-Required: No\r\n"), "a folded line is not a field");
        assert!(!tls_required_no(b"X-TLS-Required: No\r\n"));
    }
}
