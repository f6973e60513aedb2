//! The Authentication-Results field (RFC 8601) on inbound mail as it leaves for the internal
//! server: sekisho's own field on top, and every field that claims sekisho's authserv-id on
//! arrival removed (§5: a forged one would otherwise be believed downstream).

/// `header` (a header block, up to and including its empty line) with `field` (a whole field,
/// ending in CRLF; nothing when empty) in front and every Authentication-Results field whose
/// authserv-id is `authserv_id` (compared without regard to case) removed, continuation lines
/// included. Fields of other authserv-ids stay.
pub fn with_results(header: &[u8], authserv_id: &str, field: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + field.len());
    out.extend_from_slice(field.as_bytes());
    let lines: Vec<&[u8]> = header.split_inclusive(|&b| b == b'\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let mut end = i + 1;
        if !lines[i].trim_ascii().is_empty() {
            while end < lines.len() && lines[end].first().is_some_and(|&b| b == b' ' || b == b'\t') {
                end += 1;
            }
        }
        let whole: Vec<u8> = lines[i..end].concat();
        if !claims(&whole, authserv_id) {
            out.extend_from_slice(&whole);
        }
        i = end;
    }
    out
}

/// True when `field` is an Authentication-Results field whose authserv-id is `id`.
fn claims(field: &[u8], id: &str) -> bool {
    const NAME: &str = "authentication-results";
    let text = String::from_utf8_lossy(field);
    let Some((name, value)) = text.split_once(':') else { return false };
    if !name.trim_end().eq_ignore_ascii_case(NAME) {
        return false;
    }
    authserv_id(value).is_some_and(|found| found.eq_ignore_ascii_case(id))
}

/// The authserv-id of an Authentication-Results value: the first token after any comments.
fn authserv_id(value: &str) -> Option<String> {
    let mut rest = value.trim_start();
    while let Some(after) = rest.strip_prefix('(') {
        let mut depth = 1;
        let close = after.char_indices().find_map(|(i, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        })?;
        rest = after[close + 1..].trim_start();
    }
    let token: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != ';' && *c != '(').collect();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::with_results;

    #[test]
    fn a_field_claiming_our_id_is_removed_and_ours_put_on_top() {
        let header = b"Received: from x\r\nAuthentication-Results: GW.example; dkim=pass\r\n header.d=forged.example\r\nAuthentication-Results: (comment) gw.example 1; spf=pass\r\nauthentication-results : other.example; spf=fail\r\nSubject: hi\r\n\r\n";
        let out = with_results(header, "gw.example", "Authentication-Results: gw.example; spf=none\r\n");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Authentication-Results: gw.example; spf=none\r\nReceived: from x\r\nauthentication-results : other.example; spf=fail\r\nSubject: hi\r\n\r\n"
        );
    }

    #[test]
    fn without_a_field_of_our_own_only_the_forged_ones_go() {
        let header = b"Authentication-Results: gw.example; dmarc=pass\r\nSubject: s\r\n\r\n";
        assert_eq!(with_results(header, "gw.example", ""), b"Subject: s\r\n\r\n");
        let kept = b"Authentication-Results: gw.example.evil; dmarc=pass\r\n\r\n";
        assert_eq!(with_results(kept, "gw.example", ""), kept.to_vec());
    }
}
