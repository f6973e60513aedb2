//! The message on the wire: CRLF line ends only, dot-stuffed, ended by CRLF.CRLF. Whatever the
//! spool holds, no bare CR or LF ever reaches the next hop.

/// Turns message bytes into DATA bytes, chunk by chunk.
#[derive(Debug)]
pub struct DotStuffer {
    at_line_start: bool,
    pending_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer { at_line_start: true, pending_cr: false }
    }
}

impl DotStuffer {
    /// Encodes one chunk of content into `out`: runs between line ends are copied whole, so
    /// the cost per byte is a memchr scan and a copy.
    pub fn encode(&mut self, mut chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 64 + 4);
        while let Some(&first) = chunk.first() {
            if self.pending_cr {
                // A CR ends a line whatever follows: CRLF, or a bare CR made CRLF.
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                if first == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            if self.at_line_start && first == b'.' {
                out.push(b'.');
            }
            let Some(end) = memchr::memchr2(b'\r', b'\n', chunk) else {
                out.extend_from_slice(chunk);
                self.at_line_start = false;
                return;
            };
            out.extend_from_slice(&chunk[..end]);
            if end > 0 {
                self.at_line_start = false;
            }
            if chunk[end] == b'\n' {
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
            } else {
                self.pending_cr = true;
            }
            chunk = &chunk[end + 1..];
        }
    }

    /// Ends the content: a final CRLF if the last line lacks one, then ".\r\n".
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.pending_cr {
            self.pending_cr = false;
            out.extend_from_slice(b"\r\n");
            self.at_line_start = true;
        }
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Encodes a whole message at once.
pub fn encode_all(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut d = DotStuffer::default();
    d.encode(content, &mut out);
    d.finish(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition the encoder must match.
    fn reference(content: &[u8]) -> Vec<u8> {
        let (mut out, mut line_start, mut cr) = (Vec::new(), true, false);
        for &b in content {
            if cr {
                cr = false;
                out.extend_from_slice(b"\r\n");
                line_start = true;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => cr = true,
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    line_start = true;
                }
                _ => {
                    if line_start && b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    line_start = false;
                }
            }
        }
        if cr {
            out.extend_from_slice(b"\r\n");
            line_start = true;
        }
        if !line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    #[test]
    fn any_content_in_any_chunks_encodes_as_byte_at_a_time() {
        // Content from a small alphabet dense in line ends and dots, cut at every kind of place.
        let alphabet = b"ab.\r\n";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 40) as usize;
            let content: Vec<u8> = (0..len).map(|_| alphabet[(next() % 5) as usize]).collect();
            let mut out = Vec::new();
            let mut d = DotStuffer::default();
            let mut rest = &content[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize % rest.len());
                d.encode(&rest[..n], &mut out);
                rest = &rest[n..];
            }
            d.finish(&mut out);
            assert_eq!(out, reference(&content), "{:?}", String::from_utf8_lossy(&content));
        }
    }

    #[test]
    fn dots_are_stuffed_and_the_end_is_added() {
        assert_eq!(encode_all(b"a\r\n.b\r\n.\r\n"), b"a\r\n..b\r\n..\r\n.\r\n");
        assert_eq!(encode_all(b"no final newline"), b"no final newline\r\n.\r\n");
        assert_eq!(encode_all(b""), b".\r\n");
        assert_eq!(encode_all(b".first"), b"..first\r\n.\r\n");
    }

    #[test]
    fn no_bare_cr_or_lf_reaches_the_wire() {
        for seq in [&b"\n.\n"[..], b"\r.\r", b"a\rb", b"a\nb", b"\r\n\x00.\r\n", b"x\r\r\n.\r\r\n"] {
            let mut content = b"Subject: s\r\n\r\n".to_vec();
            content.extend_from_slice(seq);
            let wire = encode_all(&content);
            let body = &wire[..wire.len() - 3];
            let stripped = body.windows(2).filter(|w| w == b"\r\n").count();
            assert_eq!(body.iter().filter(|&&b| b == b'\r').count(), stripped, "{seq:?}");
            assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), stripped, "{seq:?}");
            assert!(!body.windows(5).any(|w| w == b"\r\n.\r\n"), "{seq:?} would end the data early");
        }
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let content = b"A: b\r\n\r\n.line\r\nx\r\n..\r\nend";
        let whole = encode_all(content);
        for size in 1..8 {
            let mut out = Vec::new();
            let mut d = DotStuffer::default();
            for c in content.chunks(size) {
                d.encode(c, &mut out);
            }
            d.finish(&mut out);
            assert_eq!(out, whole, "chunk size {size}");
        }
    }
}
