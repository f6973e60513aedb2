//! BinHex 4.0 (.hqx, RFC 1741): a Macintosh file as printable text between colons after the
//! line "(This file must be converted with BinHex 4.0)": 6-bit characters, then run-length
//! encoding (0x90), then a header (name, type, creator, fork lengths) and the data fork,
//! which is the file.

use crate::encrypted::Format;
use crate::encrypted::bytes::find;
use crate::encrypted::walker::{Walker, child};

const MARKER: &[u8] = b"(This file must be converted with BinHex";
const ALPHABET: &[u8; 64] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
/// Where the marker line is looked for.
const WINDOW: usize = 64 * 1024;

/// Where the BinHex marker is, when `bytes` hold one near their start.
pub(crate) fn starts(bytes: &[u8]) -> Option<usize> {
    find(&bytes[..bytes.len().min(WINDOW)], MARKER, 0)
}

/// The file a BinHex text holds: its name and data fork.
pub(crate) fn decode(text: &[u8]) -> Option<(String, Vec<u8>)> {
    let at = find(text, MARKER, 0)?;
    let start = at + find(&text[at..], b":", 0)? + 1;
    let mut table = [0xFFu8; 256];
    for (i, &c) in ALPHABET.iter().enumerate() {
        table[c as usize] = i as u8;
    }
    let mut packed = Vec::with_capacity((text.len() - start) * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in &text[start..] {
        if c == b':' {
            break;
        }
        let v = table[c as usize];
        if v == 0xFF {
            if c.is_ascii_whitespace() {
                continue;
            }
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            packed.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    let data = unrle(&packed)?;
    let name_len = usize::from(*data.first()?);
    let name = String::from_utf8_lossy(data.get(1..1 + name_len)?).into_owned();
    // name, NUL, type (4), creator (4), flags (2), data length (4), resource length (4), CRC (2).
    let at = 1 + name_len + 1 + 4 + 4 + 2;
    let len = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    let fork_start = at + 4 + 4 + 2;
    let fork = data.get(fork_start..fork_start.checked_add(len)?)?;
    Some((name, fork.to_vec()))
}

/// Undoes BinHex's run-length encoding: `c 0x90 n` is `c` n times; `0x90 0x00` is 0x90.
fn unrle(packed: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(packed.len());
    let mut i = 0;
    while i < packed.len() {
        let b = packed[i];
        if b == 0x90 {
            let n = *packed.get(i + 1)?;
            if n == 0 {
                out.push(0x90);
            } else {
                let last = *out.last()?;
                out.extend(std::iter::repeat_n(last, usize::from(n).saturating_sub(1)));
            }
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Opens the BinHex text `bytes` found at `path`: its data fork is the one child.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    if let Err(reason) = w.count_entries(1) {
        return w.obstacle(path, reason);
    }
    match decode(bytes) {
        Some((name, data)) => {
            if let Err(reason) = w.check_declared(data.len() as u64) {
                return w.obstacle(path, reason);
            }
            let name = if name.is_empty() { "data fork".to_string() } else { name };
            w.inspect_owned(&child(path, name), data);
        }
        None => w.corrupt(path, Format::BinHex, "not valid BinHex 4.0"),
    }
}

/// BinHex 4.0 text of a file `name` with `data` (no CRCs checked here, so zeros): for tests.
#[cfg(test)]
pub(crate) fn encode(name: &str, data: &[u8]) -> Vec<u8> {
    let mut raw = vec![name.len() as u8];
    raw.extend_from_slice(name.as_bytes());
    raw.push(0);
    raw.extend_from_slice(b"TEXTMSWD\0\0");
    raw.extend_from_slice(&(data.len() as u32).to_be_bytes());
    raw.extend_from_slice(&0u32.to_be_bytes());
    raw.extend_from_slice(&[0, 0]);
    raw.extend_from_slice(data);
    raw.extend_from_slice(&[0, 0, 0, 0]);
    let mut escaped = Vec::new();
    for b in raw {
        escaped.push(b);
        if b == 0x90 {
            escaped.push(0);
        }
    }
    let mut out = b"(This file must be converted with BinHex 4.0)\r\n:".to_vec();
    for chunk in escaped.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out.extend_from_slice(b":\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips() {
        let data: Vec<u8> = (0..=255u8).chain([7, 7, 7, 7, 7, 7, 0x90, 0x90]).collect();
        let text = encode("report.doc", &data);
        assert_eq!(decode(&text), Some(("report.doc".to_string(), data)));
        assert_eq!(unrle(&[1, 0x90, 4, 0x90, 0]), Some(vec![1, 1, 1, 1, 0x90]));
        assert!(starts(b"x\r\n(This file must be converted with BinHex 4.0)").is_some());
    }
}
