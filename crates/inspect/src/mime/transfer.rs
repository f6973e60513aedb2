//! Content-Transfer-Encoding decoding of a part's raw body: base64 and quoted-printable,
//! leniently (as mail programs do), so a part's bytes are what the recipient's program would
//! save, whatever its declared media type.

/// Decodes base64 (the RFC 2045 alphabet), ignoring every other character as RFC 2045 says;
/// `=` ends a quantum and decoding goes on after it, as lenient mail programs do.
pub fn base64(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in raw {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                (acc, bits) = (0, 0);
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes quoted-printable: `=XX` escapes and `=` soft line breaks; anything else as is.
pub fn quoted_printable(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while i < raw.len() {
        if raw[i] == b'=' {
            match (raw.get(i + 1), raw.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(b'\n'), _) => i += 2,
                // A soft line break with trailing white space after the `=`.
                (Some(b' ' | b'\t'), _)
                    if raw[i + 1..]
                        .iter()
                        .position(|&c| c != b' ' && c != b'\t')
                        .is_some_and(|p| matches!(raw.get(i + 1 + p), Some(b'\r' | b'\n'))) =>
                {
                    let p = raw[i + 1..].iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(0);
                    i += 1 + p;
                    if raw.get(i) == Some(&b'\r') {
                        i += 1;
                    }
                    if raw.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                }
                (Some(&a), Some(&b)) if hex(a).is_some() && hex(b).is_some() => {
                    out.push(hex(a).unwrap_or(0) << 4 | hex(b).unwrap_or(0));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            }
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_tolerates_line_breaks_and_missing_padding() {
        assert_eq!(base64(b"UEsDBA==\r\n"), b"PK\x03\x04");
        assert_eq!(base64(b"UEs\r\nDBA"), b"PK\x03\x04");
        assert_eq!(base64(b"aGVsbG8gd29ybGQ="), b"hello world");
        assert_eq!(base64(b""), b"");
        assert_eq!(base64(b"-UEsDBA=="), b"PK\x03\x04", "'-' is not in the MIME alphabet: skipped");
        assert_eq!(base64(b"QQ==UEsDBA=="), b"APK\x03\x04", "decoding goes on after padding");
    }

    #[test]
    fn quoted_printable_escapes_and_soft_breaks() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd"), b"a=bcd");
        assert_eq!(quoted_printable(b"PK=03=04"), b"PK\x03\x04");
        assert_eq!(quoted_printable(b"bad =ZZ end="), b"bad =ZZ end=");
        assert_eq!(quoted_printable(b"a= \t\r\nb"), b"ab", "soft break with trailing white space");
    }
}
