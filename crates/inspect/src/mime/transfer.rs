//! Content-Transfer-Encoding decoding of a part's raw body: base64 and quoted-printable,
//! leniently (as mail programs do), so a part's bytes are what the recipient's program would
//! save, whatever its declared media type.

/// The value of each byte in the base64 alphabet; `SKIP` for everything else, `PAD` for `=`.
const SKIP: u8 = 0xff;
const PAD: u8 = 0xfe;
static SYMBOLS: [u8; 256] = {
    let mut t = [SKIP; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = PAD;
    t
};

/// Decodes base64 (the RFC 2045 alphabet), ignoring every other character as RFC 2045 says;
/// `=` ends a quantum and decoding goes on after it, as lenient mail programs do.
pub fn base64(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() / 4 * 3);
    Base64::default().feed(raw, &mut out);
    out
}

/// [`base64`] a piece at a time: a body fed in any number of pieces decodes to the same bytes
/// as the whole body at once (a quantum may straddle two pieces).
#[derive(Debug, Default, Clone)]
pub struct Base64 {
    acc: u32,
    bits: u32,
}

impl Base64 {
    /// Decodes `raw`, the next piece of a body, appending to `out`. Whole quanta of four
    /// symbols, the bulk of any part, are decoded a line at a time ([`quanta`]).
    pub fn feed(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let (mut acc, mut bits) = (self.acc, self.bits);
        let mut i = 0;
        while i < raw.len() {
            if bits == 0 {
                let used = quanta(&raw[i..], out);
                i += used;
                if used > 0 || i == raw.len() {
                    continue;
                }
            }
            let v = SYMBOLS[raw[i] as usize];
            i += 1;
            match v {
                PAD => (acc, bits) = (0, 0),
                SKIP => {}
                v => {
                    acc = (acc << 6) | u32::from(v);
                    bits += 6;
                    if bits >= 8 {
                        bits -= 8;
                        out.push((acc >> bits) as u8);
                        acc &= (1 << bits) - 1;
                    }
                }
            }
        }
        (self.acc, self.bits) = (acc, bits);
    }

    /// No symbol is waiting for the rest of its quantum: [`quanta`] may decode what comes next.
    pub(super) fn aligned(&self) -> bool {
        self.bits == 0
    }
}

/// Each symbol's value in place in a quantum's 24 bits (first symbol highest); every bit set
/// for a byte that is no symbol (`=` included).
const fn placed(shift: u32) -> [u32; 256] {
    let mut t = [u32::MAX; 256];
    let mut b = 0;
    while b < 256 {
        if SYMBOLS[b] < 64 {
            t[b] = (SYMBOLS[b] as u32) << shift;
        }
        b += 1;
    }
    t
}
static PLACED: [[u32; 256]; 4] = [placed(18), placed(12), placed(6), placed(0)];

/// Decodes the quanta of four symbols at the start of `raw` (at most 32, about a line's, or
/// every leading block of 32 symbols with AVX2), appending their bytes to `out`; returns how
/// many bytes of `raw` they took.
pub(super) fn quanta(raw: &[u8], out: &mut Vec<u8>) -> usize {
    let used = super::base64_avx2::blocks(raw, out);
    if used > 0 {
        return used;
    }
    let mut decoded = [0u8; 96];
    let mut n = 0;
    for (q, o) in raw.chunks_exact(4).zip(decoded.chunks_exact_mut(3)) {
        let v =
            PLACED[0][q[0] as usize] | PLACED[1][q[1] as usize] | PLACED[2][q[2] as usize] | PLACED[3][q[3] as usize];
        if v > 0x00ff_ffff {
            break;
        }
        o[0] = (v >> 16) as u8;
        o[1] = (v >> 8) as u8;
        o[2] = v as u8;
        n += 1;
    }
    out.extend_from_slice(&decoded[..n * 3]);
    n * 4
}

/// A symbol of the base64 alphabet, or `=`.
pub(crate) fn is_base64_symbol(b: u8) -> bool {
    SYMBOLS[b as usize] != SKIP
}

/// `=` (padding).
pub(crate) fn is_pad(b: u8) -> bool {
    SYMBOLS[b as usize] == PAD
}

/// True when `raw` is base64 as RFC 2045 writes it: alphabet symbols in whole quanta, only
/// line breaks and blanks between them, and `=` only as the final padding. Every decoder,
/// lenient or strict, reads such a body the same way (so another decoder's output can be
/// taken as is).
pub fn is_plain_base64(raw: &[u8]) -> bool {
    let (mut symbols, mut pads) = (0usize, 0usize);
    let mut i = 0;
    while i < raw.len() {
        if pads == 0
            && let Some(q) = raw.get(i..i + 4)
            && (SYMBOLS[q[0] as usize] | SYMBOLS[q[1] as usize] | SYMBOLS[q[2] as usize] | SYMBOLS[q[3] as usize]) < 64
        {
            symbols += 4;
            i += 4;
            continue;
        }
        let b = raw[i];
        i += 1;
        match SYMBOLS[b as usize] {
            PAD => pads += 1,
            SKIP if matches!(b, b'\r' | b'\n' | b' ' | b'\t') => {}
            SKIP => return false,
            _ if pads > 0 => return false,
            _ => symbols += 1,
        }
    }
    pads <= 2 && (symbols + pads) % 4 == 0 && (pads == 0 || symbols % 4 != 0)
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
pub(super) mod tests {
    use super::*;

    #[test]
    fn base64_fed_in_pieces_decodes_as_the_whole() {
        let raw = b"UEsD\r\nBA==QU JD\r\nR\tEV=Gx\r\nyz";
        for piece in 1..raw.len() {
            let mut out = Vec::new();
            let mut decoder = Base64::default();
            for chunk in raw.chunks(piece) {
                decoder.feed(chunk, &mut out);
            }
            assert_eq!(out, base64(raw), "pieces of {piece}");
        }
    }

    #[test]
    fn base64_tolerates_line_breaks_and_missing_padding() {
        assert_eq!(base64(b"UEsDBA==\r\n"), b"PK\x03\x04");
        assert_eq!(base64(b"UEs\r\nDBA"), b"PK\x03\x04");
        assert_eq!(base64(b"aGVsbG8gd29ybGQ="), b"hello world");
        assert_eq!(base64(b""), b"");
        assert_eq!(base64(b"-UEsDBA=="), b"PK\x03\x04", "'-' is not in the MIME alphabet: skipped");
        assert_eq!(base64(b"QQ==UEsDBA=="), b"APK\x03\x04", "decoding goes on after padding");
    }

    /// The plain one-symbol-at-a-time decoder the fast ones must agree with.
    pub(in crate::mime) fn reference(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
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

    #[test]
    fn whole_quanta_decode_as_symbol_by_symbol_whatever_the_noise() {
        use base64::Engine as _;
        let noise: &[u8] = b"\r\n =-*A=";
        for round in 0..300u32 {
            let len = (round as usize * 37) % 2000;
            let data: Vec<u8> = (0..len).map(|i| ((i as u32).wrapping_mul(2654435761) ^ round) as u8).collect();
            let mut text = base64::engine::general_purpose::STANDARD.encode(&data).into_bytes();
            let mut pos = round as usize % 7;
            while pos < text.len() {
                text.insert(pos, noise[(pos + round as usize) % noise.len()]);
                pos += 1 + (pos * 31 + round as usize) % 90;
            }
            assert_eq!(base64(&text), reference(&text), "round {round}");
        }
        let clean = base64::engine::general_purpose::STANDARD.encode(b"every byte of this sentence");
        assert_eq!(base64(clean.as_bytes()), b"every byte of this sentence");
    }

    #[test]
    fn plain_base64_is_whole_quanta_with_final_padding_only() {
        assert!(is_plain_base64(b"QUJD\r\nREVG\r\n"));
        assert!(is_plain_base64(b"QUI=\r\n"));
        assert!(is_plain_base64(b"QQ==\r\n"));
        assert!(is_plain_base64(b""));
        assert!(!is_plain_base64(b"QUI=QUJD"), "padding in the middle");
        assert!(!is_plain_base64(b"QUJ"), "a partial quantum");
        assert!(!is_plain_base64(b"QUJD!"), "a character outside the alphabet");
        assert!(!is_plain_base64(b"Q==="));
    }

    #[test]
    fn quoted_printable_escapes_and_soft_breaks() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc=\nd"), b"a=bcd");
        assert_eq!(quoted_printable(b"PK=03=04"), b"PK\x03\x04");
        assert_eq!(quoted_printable(b"bad =ZZ end="), b"bad =ZZ end=");
        assert_eq!(quoted_printable(b"a= \t\r\nb"), b"ab", "soft break with trailing white space");
    }
}

/// Files uuencoded inside a text (`begin 644 name` … `end`), which mail programs still show as
/// attachments: each one's name and bytes.
pub fn uuencoded(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix(b"begin ") else { continue };
        let mut fields = rest.splitn(2, |&b| b == b' ');
        let mode = fields.next().unwrap_or_default();
        if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
            continue;
        }
        let name = String::from_utf8_lossy(fields.next().unwrap_or_default()).trim().to_string();
        let mut bytes = Vec::new();
        for line in lines.by_ref() {
            if line == b"end" || line.first().is_none_or(|&c| c == b'`') && line.len() <= 1 {
                break;
            }
            let len = usize::from((line[0].wrapping_sub(32)) & 63);
            let mut decoded = Vec::with_capacity(len + 3);
            for quad in line[1..].chunks(4) {
                let v: Vec<u32> =
                    (0..4).map(|i| u32::from(quad.get(i).map_or(0, |c| c.wrapping_sub(32) & 63))).collect();
                let n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
                decoded.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
            }
            decoded.truncate(len);
            bytes.extend_from_slice(&decoded);
        }
        files.push((name, bytes));
    }
    files
}

#[cfg(test)]
mod uu_tests {
    use super::*;

    #[test]
    fn uuencoded_files_in_text_are_found() {
        // `uuencode` of "PK\x03\x04hi" named x.zip.
        let text = b"Hello,\r\nthe file:\r\n\r\nbegin 644 x.zip\r\n&4$L#!&AI\r\n`\r\nend\r\nBye\r\n";
        let files = uuencoded(text);
        assert_eq!(files, vec![("x.zip".to_string(), b"PK\x03\x04hi".to_vec())]);
        assert!(uuencoded(b"begin the meeting at 10\r\n").is_empty(), "not a mode: ordinary text");
    }
}
