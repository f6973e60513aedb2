//! Framing of SMTP command lines: length limit and line-ending rules, without I/O.

/// One command line taken from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramedLine {
    /// A line that ended in CRLF; the bytes exclude the CRLF.
    Line(Vec<u8>),
    /// A line that ended in a bare LF; the bytes exclude the LF.
    BareLf(Vec<u8>),
    /// A line longer than the limit; its bytes were discarded up to the next LF.
    TooLong,
}

/// Splits buffered input into command lines of at most `max_len` bytes (CRLF included).
#[derive(Debug)]
pub struct LineReader {
    max_len: usize,
    discarding: bool,
}

impl LineReader {
    /// A reader enforcing `max_len` bytes per line, CRLF included (RFC 5321: 512).
    pub fn new(max_len: usize) -> Self {
        LineReader { max_len, discarding: false }
    }

    /// Takes the next complete line of `buf` starting at `*pos`, advancing `*pos` past it, or
    /// `None` if more input is needed. The caller drops `buf[..*pos]` once per read, so many
    /// pipelined lines cost one move, not one each. Over-long input is skipped as it arrives
    /// (`*pos` jumps to the end), so what the caller keeps never grows past the limit.
    pub fn take(&mut self, buf: &[u8], pos: &mut usize) -> Option<FramedLine> {
        let rest = &buf[*pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                *pos += lf + 1;
                if std::mem::replace(&mut self.discarding, false) || lf + 1 > self.max_len {
                    return Some(FramedLine::TooLong);
                }
                match rest[..lf].strip_suffix(b"\r") {
                    Some(line) => Some(FramedLine::Line(line.to_vec())),
                    None => Some(FramedLine::BareLf(rest[..lf].to_vec())),
                }
            }
            None => {
                if rest.len() > self.max_len {
                    self.discarding = true;
                    *pos = buf.len();
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pipelined_commands() {
        let mut r = LineReader::new(512);
        let buf = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDA".to_vec();
        let mut pos = 0;
        assert_eq!(r.take(&buf, &mut pos), Some(FramedLine::Line(b"MAIL FROM:<a@b>".to_vec())));
        assert_eq!(r.take(&buf, &mut pos), Some(FramedLine::Line(b"RCPT TO:<c@d>".to_vec())));
        assert_eq!(r.take(&buf, &mut pos), None);
        assert_eq!(&buf[pos..], b"DA");
    }

    #[test]
    fn bare_lf_is_reported() {
        let mut r = LineReader::new(512);
        assert_eq!(r.take(b"NOOP\n", &mut 0), Some(FramedLine::BareLf(b"NOOP".to_vec())));
    }

    #[test]
    fn over_long_line_is_discarded_with_bounded_memory() {
        let mut r = LineReader::new(16);
        let mut buf = vec![b'A'; 100];
        let mut pos = 0;
        assert_eq!(r.take(&buf, &mut pos), None);
        assert_eq!(pos, 100, "the over-long prefix is consumed");
        buf.drain(..pos);
        buf.extend_from_slice(b"AAAA\r\nNOOP\r\n");
        let mut pos = 0;
        assert_eq!(r.take(&buf, &mut pos), Some(FramedLine::TooLong));
        assert_eq!(r.take(&buf, &mut pos), Some(FramedLine::Line(b"NOOP".to_vec())));
    }

    #[test]
    fn limit_counts_the_crlf() {
        let mut r = LineReader::new(6);
        let buf = b"NOOP\r\nNOOPX\r\n";
        let mut pos = 0;
        assert_eq!(r.take(buf, &mut pos), Some(FramedLine::Line(b"NOOP".to_vec())));
        assert_eq!(r.take(buf, &mut pos), Some(FramedLine::TooLong));
    }
}
