//! BER to DER, as far as CMS needs it: S/MIME agents (OpenSSL with `-stream`, Outlook) write
//! SignedData with indefinite lengths and the content as a constructed OCTET STRING in
//! chunks. Both become definite lengths and one primitive OCTET STRING; everything else is
//! copied. Bounded in depth; malformed input is an error, never a panic.

/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 64;

/// Why the input is not BER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BER: {0}")]
pub(crate) struct BerError(&'static str);

/// `input` (one BER TLV, possibly followed by nothing) as DER.
pub(crate) fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let mut out = Vec::with_capacity(input.len());
    let used = tlv(input, &mut out, 0)?;
    if used != input.len() && input[used..].iter().any(|&b| b != 0) {
        return Err(BerError("data after the structure"));
    }
    Ok(out)
}

/// Reads one TLV from `input`, appends its DER to `out`, returns the bytes read.
fn tlv(input: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<usize, BerError> {
    if depth > MAX_DEPTH {
        return Err(BerError("nested too deep"));
    }
    let (tag, tag_len) = read_tag(input)?;
    let constructed = input[0] & 0x20 != 0;
    let (length, len_len) = read_length(&input[tag_len..])?;
    let start = tag_len + len_len;
    // A constructed OCTET STRING (universal 4) becomes a primitive one.
    let octets = input[0] == 0x24;
    if !constructed {
        let Some(n) = length else { return Err(BerError("indefinite length on a primitive")) };
        let end = start.checked_add(n).filter(|&e| e <= input.len()).ok_or(BerError("truncated"))?;
        out.extend_from_slice(tag);
        push_length(out, n);
        out.extend_from_slice(&input[start..end]);
        return Ok(end);
    }
    let mut inner = Vec::new();
    let mut at = start;
    let end = match length {
        Some(n) => {
            let end = start.checked_add(n).filter(|&e| e <= input.len()).ok_or(BerError("truncated"))?;
            while at < end {
                at += tlv(&input[at..end], &mut inner, depth + 1)?;
            }
            end
        }
        None => loop {
            if input.len() < at + 2 {
                return Err(BerError("no end-of-contents"));
            }
            if input[at] == 0 && input[at + 1] == 0 {
                break at + 2;
            }
            at += tlv(&input[at..], &mut inner, depth + 1)?;
        },
    };
    if octets {
        let contents = primitive_contents(&inner)?;
        out.push(0x04);
        push_length(out, contents.len());
        out.extend_from_slice(&contents);
    } else {
        out.extend_from_slice(tag);
        push_length(out, inner.len());
        out.extend_from_slice(&inner);
    }
    Ok(end)
}

/// The concatenated contents of the DER OCTET STRINGs in `der` (a constructed string's
/// chunks, already converted).
fn primitive_contents(mut der: &[u8]) -> Result<Vec<u8>, BerError> {
    let mut out = Vec::with_capacity(der.len());
    while !der.is_empty() {
        if der[0] != 0x04 {
            return Err(BerError("a chunk of an OCTET STRING is not an OCTET STRING"));
        }
        let (n, len_len) = read_length(&der[1..])?;
        let n = n.ok_or(BerError("indefinite chunk"))?;
        let start = 1 + len_len;
        let end = start.checked_add(n).filter(|&e| e <= der.len()).ok_or(BerError("truncated"))?;
        out.extend_from_slice(&der[start..end]);
        der = &der[end..];
    }
    Ok(out)
}

fn read_tag(input: &[u8]) -> Result<(&[u8], usize), BerError> {
    let first = *input.first().ok_or(BerError("truncated"))?;
    if first & 0x1f != 0x1f {
        return Ok((&input[..1], 1));
    }
    for (i, b) in input.iter().enumerate().skip(1).take(5) {
        if b & 0x80 == 0 {
            return Ok((&input[..=i], i + 1));
        }
    }
    Err(BerError("bad tag"))
}

/// The length (None: indefinite) and how many bytes it took.
fn read_length(input: &[u8]) -> Result<(Option<usize>, usize), BerError> {
    let first = *input.first().ok_or(BerError("truncated"))?;
    if first < 0x80 {
        return Ok((Some(first as usize), 1));
    }
    if first == 0x80 {
        return Ok((None, 1));
    }
    let n = (first & 0x7f) as usize;
    if n > 4 || input.len() < 1 + n {
        return Err(BerError("bad length"));
    }
    let len = input[1..=n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
    Ok((Some(len), 1 + n))
}

fn push_length(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
        return;
    }
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_lengths_and_chunked_octets_become_der() {
        // SEQUENCE(indef) { [0](indef) { OCTET STRING(constructed, indef) { "ab", "c" } } }
        let ber = [0x30, 0x80, 0xa0, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0, 0, 0];
        assert_eq!(to_der(&ber).unwrap(), vec![0x30, 0x07, 0xa0, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(to_der(&der).unwrap(), der.to_vec(), "DER stays as it is");
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            &[0x30, 0x80, 0x02][..],
            &[0x30, 0x05, 0x02, 0x01],
            &[0x04, 0x80, 0, 0],
            &[0x30, 0x89, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            &[],
        ] {
            assert!(to_der(bad).is_err(), "{bad:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(to_der(&deep).is_err());
    }
}
