//! The addresses of a header block's From fields (RFC 5322 §3.6.2), for checking them against
//! the sender's account. Pure; quoted strings and comments are skipped, so a display name like
//! `"ceo@corp.test" <alice@corp.test>` yields only the real address.

/// Every address in every From field of `header` (CRLF lines, folded fields unfolded), in order.
pub fn from_addresses(header: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(header);
    let mut fields: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut() {
                c.push_str(line);
            }
            continue;
        }
        if let Some(c) = current.take() {
            fields.push(c);
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim_end().eq_ignore_ascii_case("from")
        {
            current = Some(value.to_string());
        }
    }
    fields.extend(current);
    fields.iter().flat_map(|f| mailboxes(f)).collect()
}

/// The addresses of one address list: an angle address where there is one, else the bare
/// addr-spec; mailboxes without an `@` are left out.
fn mailboxes(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut bare, mut angle, mut in_angle) = (String::new(), None::<String>, false);
    let mut chars = value.chars();
    let mut flush = |bare: &mut String, angle: &mut Option<String>| {
        let address = angle.take().unwrap_or_else(|| bare.trim().to_string());
        if address.contains('@') {
            out.push(address.trim().to_string());
        }
        bare.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A quoted string: a display name, or a quoted local part kept as written.
                let mut quoted = String::from('"');
                while let Some(q) = chars.next() {
                    quoted.push(q);
                    match q {
                        '\\' => quoted.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
                if in_angle {
                    angle.get_or_insert_default().push_str(&quoted);
                } else {
                    bare.push_str(&quoted);
                }
            }
            '(' if !in_angle => {
                let mut depth = 1;
                while depth > 0 {
                    match chars.next() {
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some('\\') => {
                            chars.next();
                        }
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            '<' if !in_angle => {
                in_angle = true;
                angle = Some(String::new());
            }
            '>' if in_angle => in_angle = false,
            ',' | ';' if !in_angle => flush(&mut bare, &mut angle),
            ':' if !in_angle => bare.clear(), // a group's name
            c if in_angle => angle.get_or_insert_default().push(c),
            c => bare.push(c),
        }
    }
    flush(&mut bare, &mut angle);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_every_from_field_without_display_names_or_comments() {
        let h = b"Subject: hi\r\nFrom: \"ceo@corp.test\" <alice@corp.test>\r\nTo: x@y.test\r\n";
        assert_eq!(from_addresses(h), ["alice@corp.test"]);
        let h = b"from: bob@corp.test (Bob <ceo@corp.test>),\r\n Carol\r\n <carol@corp.test>\r\nFROM: eve@out.test\r\n";
        assert_eq!(from_addresses(h), ["bob@corp.test", "carol@corp.test", "eve@out.test"]);
        assert_eq!(from_addresses(b"From: Team: a@corp.test, b@corp.test;\r\n"), ["a@corp.test", "b@corp.test"]);
        assert!(from_addresses(b"From: undisclosed\r\nX-From: ceo@corp.test\r\n").is_empty());
        assert!(from_addresses(b"Subject: none\r\n").is_empty());
    }
}
