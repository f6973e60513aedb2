//! Content-Transfer-Encoding decoding of a part's raw body: base64 and quoted-printable,
//! leniently (as mail programs do), so a part's bytes are what the recipient's program would
//! save, whatever its declared media type.

/// Decodes base64, ignoring characters outside the alphabet and missing padding.
pub fn base64(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in raw {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
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
    }

    #[test]
    fn quoted_printable_escapes_and_soft_breaks() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd"), b"a=bcd");
        assert_eq!(quoted_printable(b"PK=03=04"), b"PK\x03\x04");
        assert_eq!(quoted_printable(b"bad =ZZ end="), b"bad =ZZ end=");
    }
}
