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
    /// Encodes one chunk of content into `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 64 + 4);
        for &b in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                out.extend_from_slice(b"\r\n");
                self.at_line_start = true;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    self.at_line_start = true;
                }
                _ => {
                    if self.at_line_start && b == b'.' {
                        out.push(b'.');
                    }
                    out.push(b);
                    self.at_line_start = false;
                }
            }
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
