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

    /// Takes the next complete line from the front of `buf`, or `None` if more input is needed.
    /// Over-long input is dropped as it arrives so the buffer never grows past the limit.
    pub fn take(&mut self, buf: &mut Vec<u8>) -> Option<FramedLine> {
        match buf.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                let mut line: Vec<u8> = buf.drain(..=lf).collect();
                if self.discarding || line.len() > self.max_len {
                    self.discarding = false;
                    return Some(FramedLine::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                    Some(FramedLine::Line(line))
                } else {
                    Some(FramedLine::BareLf(line))
                }
            }
            None => {
                if buf.len() > self.max_len {
                    self.discarding = true;
                    buf.clear();
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
        let mut buf = b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDA".to_vec();
        assert_eq!(r.take(&mut buf), Some(FramedLine::Line(b"MAIL FROM:<a@b>".to_vec())));
        assert_eq!(r.take(&mut buf), Some(FramedLine::Line(b"RCPT TO:<c@d>".to_vec())));
        assert_eq!(r.take(&mut buf), None);
        assert_eq!(buf, b"DA");
    }

    #[test]
    fn bare_lf_is_reported() {
        let mut r = LineReader::new(512);
        let mut buf = b"NOOP\n".to_vec();
        assert_eq!(r.take(&mut buf), Some(FramedLine::BareLf(b"NOOP".to_vec())));
    }

    #[test]
    fn over_long_line_is_discarded_with_bounded_memory() {
        let mut r = LineReader::new(16);
        let mut buf = vec![b'A'; 100];
        assert_eq!(r.take(&mut buf), None);
        assert!(buf.is_empty());
        buf.extend_from_slice(b"AAAA\r\nNOOP\r\n");
        assert_eq!(r.take(&mut buf), Some(FramedLine::TooLong));
        assert_eq!(r.take(&mut buf), Some(FramedLine::Line(b"NOOP".to_vec())));
    }

    #[test]
    fn limit_counts_the_crlf() {
        let mut r = LineReader::new(6);
        let mut buf = b"NOOP\r\nNOOPX\r\n".to_vec();
        assert_eq!(r.take(&mut buf), Some(FramedLine::Line(b"NOOP".to_vec())));
        assert_eq!(r.take(&mut buf), Some(FramedLine::TooLong));
    }
}
