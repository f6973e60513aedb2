//! Decoding of the DATA phase: end-of-data detection, dot-unstuffing, line-ending rules and the
//! size limits, as a state machine fed with whatever bytes arrived.
//!
//! Only `<CRLF>.<CRLF>` ends the data: a `.` line counts only when the line before it ended in
//! CRLF and the `.` line itself ends in CRLF. Every other look-alike (`\n.\n`, `\r.\r`,
//! `\r\n\x00.\r\n`, ...) is content, so SMTP smuggling can never start a second message. Once
//! an error is seen the decoder stops producing output but keeps looking for the real end, so
//! the client gets one precise reply and nothing in the rejected body is read as a command.

/// The fake end-of-data sequences of public SMTP smuggling scanners (SEC Consult 2023,
/// CVE-2023-51764/51765/51766). None of them ends the data here; tests throw all of them.
pub const FAKE_END_OF_DATA: [&[u8]; 16] = [
    b"\n.\n",
    b"\n.\r",
    b"\r.\n",
    b"\r.\r",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\r\n\x00.\r",
    b"\r\n\x00.\n",
    b"\n\n.\r\n",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
    b"\r\n.",
];

/// What to do with a bare CR or LF (or a NUL) in message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareLineEndings {
    /// Refuse the message with 550 5.6.2.
    Reject,
    /// Turn each bare CR or LF into CRLF and drop NUL bytes (Postfix 3.9+).
    #[default]
    Normalize,
}

/// Limits that apply to one message.
#[derive(Debug, Clone, Copy)]
pub struct DataLimits {
    /// Longest content line in bytes, CRLF excluded.
    pub max_line: usize,
    /// Largest header block in bytes.
    pub max_header: usize,
    /// Largest message in bytes (decoded content).
    pub max_message: usize,
    /// Policy for bare CR, bare LF and NUL.
    pub bare_line_endings: BareLineEndings,
}

/// Why the content was refused; the first problem found wins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// A bare CR or LF in the content under the reject policy.
    #[error("line {line} of the message contains a bare CR or LF; lines must end in CRLF")]
    BareLineEnding { line: usize },
    /// A NUL byte in the content under the reject policy.
    #[error("line {line} of the message contains a NUL byte")]
    Nul { line: usize },
    /// A content line over `max_line` bytes.
    #[error("line {line} of the message is longer than {limit} bytes")]
    LineTooLong { line: usize, limit: usize },
    /// The header block over `max_header` bytes.
    #[error("the message header block is larger than {limit} bytes")]
    HeaderTooLarge { limit: usize },
    /// The message over `max_message` bytes.
    #[error("the message is larger than the limit of {limit} bytes")]
    MessageTooLarge { limit: usize },
}

/// Result of feeding bytes to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input consumed; after the end of data the rest belongs to the next command.
    pub consumed: usize,
    /// True once `<CRLF>.<CRLF>` was seen.
    pub done: bool,
}

/// Incremental DATA decoder. Header lines are kept until the header block ends (bounded by
/// `max_header`) so the receive stage can add trace fields; body content is written to `out`.
#[derive(Debug)]
pub struct DataDecoder {
    limits: DataLimits,
    line: Vec<u8>,
    line_overflow: bool,
    prev_crlf: bool,
    line_no: usize,
    size: usize,
    in_header: bool,
    header: Vec<u8>,
    header_ready: bool,
    error: Option<DataError>,
    saw_8bit: bool,
}

impl DataDecoder {
    /// A decoder positioned right after the 354 reply.
    pub fn new(limits: DataLimits) -> Self {
        DataDecoder {
            limits,
            line: Vec::with_capacity(256),
            line_overflow: false,
            prev_crlf: true,
            line_no: 0,
            size: 0,
            in_header: true,
            header: Vec::new(),
            header_ready: false,
            error: None,
            saw_8bit: false,
        }
    }

    /// Feeds input; decoded body bytes are appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Fed {
        let mut pos = 0;
        while pos < input.len() {
            if self.line.is_empty() && !self.in_header && self.error.is_none() {
                pos += self.plain_lines(&input[pos..], out);
                if pos == input.len() {
                    break;
                }
            }
            let rest = &input[pos..];
            match memchr::memchr(b'\n', rest) {
                Some(lf) => {
                    pos += lf + 1;
                    let done = if self.line.is_empty() {
                        // The whole line is in this input: read it where it is.
                        self.complete_line(&rest[..lf], false, out)
                    } else {
                        self.push_partial(&rest[..lf]);
                        let line = std::mem::take(&mut self.line);
                        let overflow = std::mem::replace(&mut self.line_overflow, false);
                        let done = self.complete_line(&line, overflow, out);
                        self.line = line;
                        self.line.clear();
                        done
                    };
                    if done {
                        return Fed { consumed: pos, done: true };
                    }
                }
                None => {
                    self.push_partial(rest);
                    pos = input.len();
                }
            }
        }
        Fed { consumed: pos, done: false }
    }

    /// Copies the body lines at the start of `input` that decode to themselves, at once: each
    /// whole, ended by CRLF, with no other CR and no NUL, not over `max_line`, not starting
    /// with a dot (so neither stuffed nor the end of data), within `max_message`. The bulk of a
    /// message's lines, whose one-at-a-time reading ([`Self::complete_line`]) would give the
    /// same bytes; returns how many bytes of `input` they took.
    fn plain_lines(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let room = self.limits.max_message.saturating_sub(self.size);
        let (mut taken, mut lines, mut line_start) = (0, 0, 0);
        let mut ends = memchr::memchr3_iter(b'\r', b'\n', 0, input);
        while let Some(at) = ends.next() {
            let whole = input[at] == b'\r' && input.get(at + 1) == Some(&b'\n');
            if !whole || at - line_start > self.limits.max_line || input[line_start] == b'.' || at + 2 > room {
                break;
            }
            ends.next();
            (taken, lines, line_start) = (at + 2, lines + 1, at + 2);
        }
        let block = &input[..taken];
        self.line_no += lines;
        self.size += taken;
        self.prev_crlf |= lines > 0;
        self.saw_8bit = self.saw_8bit || !block.is_ascii();
        out.extend_from_slice(block);
        taken
    }

    /// Once the header block is complete (or the data ended), hands it over exactly once.
    pub fn take_header(&mut self) -> Option<Vec<u8>> {
        if self.header_ready {
            self.header_ready = false;
            Some(std::mem::take(&mut self.header))
        } else {
            None
        }
    }

    /// Call after `done`: the verdict on the whole message, and its decoded size.
    pub fn finish(&mut self) -> Result<usize, DataError> {
        if self.in_header {
            self.in_header = false;
            self.header_ready = self.error.is_none();
        }
        match self.error.clone() {
            Some(e) => Err(e),
            None => Ok(self.size),
        }
    }

    /// True once content with the high bit set was seen.
    pub fn saw_8bit(&self) -> bool {
        self.saw_8bit
    }

    /// Decoded bytes so far.
    pub fn size(&self) -> usize {
        self.size
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        // Keep one byte more than the limit plus the CR, so overflow and the final CR are known.
        let cap = self.limits.max_line + 2;
        let room = cap.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.line.extend_from_slice(&bytes[..room]);
            self.line_overflow = true;
            // Remember whether the line (so far) ends in CR: replace the kept last byte.
            if let (Some(last), Some(&b)) = (self.line.last_mut(), bytes.last()) {
                *last = b;
            }
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    /// Handles one complete raw line (LF already removed; `overflow`: it was cut at the
    /// limit while it arrived). Returns true at end of data.
    fn complete_line(&mut self, line: &[u8], overflow: bool, out: &mut Vec<u8>) -> bool {
        let (line, ends_crlf) = match line.strip_suffix(b"\r") {
            Some(line) => (line, true),
            None => (line, false),
        };
        if self.prev_crlf && ends_crlf && !overflow && line == b"." {
            return true;
        }
        self.line_no += 1;
        let line_no = self.line_no;
        let starts_after_crlf = self.prev_crlf;
        self.prev_crlf = ends_crlf;

        if overflow || line.len() > self.limits.max_line {
            self.fail(DataError::LineTooLong { line: line_no, limit: self.limits.max_line });
        }
        let odd = memchr::memchr2(b'\r', 0, line).is_some();
        let bare = !ends_crlf || (odd && line.contains(&b'\r'));
        let nul = odd && line.contains(&0);
        if self.limits.bare_line_endings == BareLineEndings::Reject {
            if bare {
                self.fail(DataError::BareLineEnding { line: line_no });
            }
            if nul {
                self.fail(DataError::Nul { line: line_no });
            }
        }
        if self.error.is_some() {
            return false;
        }

        // Dot-unstuffing applies to lines that really begin after a CRLF, and under normalize
        // to stuffed lines after a bare LF: a client that ends its lines in LF (Python's
        // smtplib with a bytes message) dot-stuffs them too. A lone "." after a bare LF is no
        // stuffing (and never the end of data): it stays content as it is.
        let stuffed_after_lf = self.limits.bare_line_endings == BareLineEndings::Normalize && line.len() > 1;
        let mut content: &[u8] = line;
        if (starts_after_crlf || stuffed_after_lf) && content.first() == Some(&b'.') {
            content = &content[1..];
        }
        if bare || nul {
            // Normalize: every bare CR becomes a line end, NUL bytes go. A CR just before the
            // line end ("x\r\r\n") is dropped rather than made into an empty line.
            let mut owned: Vec<u8> = content.iter().copied().filter(|&b| b != 0).collect();
            while ends_crlf && owned.last() == Some(&b'\r') {
                owned.pop();
            }
            for piece in owned.split(|&b| b == b'\r') {
                self.emit(piece, out);
            }
        } else {
            self.emit(content, out);
        }
        false
    }

    fn emit(&mut self, content: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        self.size += content.len() + 2;
        if self.size > self.limits.max_message {
            self.fail(DataError::MessageTooLarge { limit: self.limits.max_message });
            return;
        }
        if !self.saw_8bit && !content.is_ascii() {
            self.saw_8bit = true;
        }
        if self.in_header {
            if content.is_empty() {
                self.in_header = false;
                self.header_ready = true;
                out.extend_from_slice(b"\r\n");
                return;
            }
            if self.header.len() + content.len() + 2 > self.limits.max_header {
                self.fail(DataError::HeaderTooLarge { limit: self.limits.max_header });
                return;
            }
            self.header.extend_from_slice(content);
            self.header.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
    }

    fn fail(&mut self, e: DataError) {
        if self.error.is_none() {
            self.error = Some(e);
            self.header.clear();
            self.header_ready = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bare: BareLineEndings) -> DataLimits {
        DataLimits { max_line: 2048, max_header: 102_400, max_message: 10 << 20, bare_line_endings: bare }
    }

    /// Feeds `input` in pieces of `chunk` bytes; returns (content, consumed, done, verdict).
    fn run(input: &[u8], chunk: usize, bare: BareLineEndings) -> (Vec<u8>, usize, bool, Result<usize, DataError>) {
        let mut d = DataDecoder::new(limits(bare));
        let mut body = Vec::new();
        let mut header = Vec::new();
        let mut consumed = 0;
        for piece in input.chunks(chunk.max(1)) {
            let fed = d.feed(piece, &mut body);
            consumed += fed.consumed;
            if let Some(h) = d.take_header() {
                header = h;
            }
            if fed.done {
                let verdict = d.finish();
                if let Some(h) = d.take_header() {
                    header = h;
                }
                header.extend_from_slice(&body);
                return (header, consumed, true, verdict);
            }
        }
        header.extend_from_slice(&body);
        (header, consumed, false, Err(DataError::MessageTooLarge { limit: 0 }))
    }

    #[test]
    fn plain_message_ends_at_crlf_dot_crlf() {
        let input = b"Subject: hi\r\n\r\nhello\r\n.\r\nQUIT\r\n";
        for chunk in [1, 2, 3, 7, 100] {
            let (content, consumed, done, verdict) = run(input, chunk, BareLineEndings::Reject);
            assert!(done);
            assert_eq!(content, b"Subject: hi\r\n\r\nhello\r\n");
            assert_eq!(verdict, Ok(content.len()));
            if chunk == 100 {
                assert_eq!(&input[consumed..], b"QUIT\r\n");
            }
        }
    }

    #[test]
    fn empty_message_is_just_the_terminator() {
        let (content, _, done, verdict) = run(b".\r\n", 100, BareLineEndings::Reject);
        assert!(done);
        assert!(content.is_empty());
        assert_eq!(verdict, Ok(0));
    }

    #[test]
    fn dot_stuffed_lines_are_unstuffed() {
        let (content, _, done, _) = run(b"A: b\r\n\r\n..x\r\n..\r\n.\r\n", 100, BareLineEndings::Reject);
        assert!(done);
        assert_eq!(content, b"A: b\r\n\r\n.x\r\n.\r\n");
    }

    fn smuggled(seq: &[u8]) -> Vec<u8> {
        let mut m = b"From: a@example.com\r\n\r\nfirst".to_vec();
        m.extend_from_slice(seq);
        m.extend_from_slice(b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n");
        m
    }

    #[test]
    fn no_smuggling_sequence_ends_data_in_either_mode() {
        for mode in [BareLineEndings::Reject, BareLineEndings::Normalize] {
            for seq in FAKE_END_OF_DATA {
                for chunk in [1, 5, 4096] {
                    let (_, consumed, done, _) = run(&smuggled(seq), chunk, mode);
                    assert!(!done, "{seq:?} ended data in {mode:?} (chunk {chunk})");
                    assert_eq!(consumed, smuggled(seq).len());
                }
            }
        }
    }

    #[test]
    fn smuggling_sequence_then_real_end_is_one_message() {
        for seq in FAKE_END_OF_DATA {
            let mut m = smuggled(seq);
            m.extend_from_slice(b"body\r\n.\r\n");
            let (_, consumed, done, verdict) = run(&m, 4096, BareLineEndings::Reject);
            assert!(done, "{seq:?}");
            assert_eq!(consumed, m.len(), "{seq:?}: nothing may be left to read as a command");
            if seq != b"\r\n." {
                assert!(verdict.is_err(), "{seq:?} must be refused under the reject policy");
            }
        }
    }

    #[test]
    fn reject_mode_names_the_line() {
        let (_, _, done, verdict) = run(b"A: b\r\n\r\nx\ny\r\n.\r\n", 100, BareLineEndings::Reject);
        assert!(done);
        assert_eq!(verdict, Err(DataError::BareLineEnding { line: 3 }));
    }

    #[test]
    fn normalize_mode_turns_bare_endings_into_crlf() {
        let (content, _, done, verdict) =
            run(b"A: b\r\n\r\nx\ny\rz\r\n\x00w\r\n.\r\n", 100, BareLineEndings::Normalize);
        assert!(done);
        assert!(verdict.is_ok());
        assert_eq!(content, b"A: b\r\n\r\nx\r\ny\r\nz\r\nw\r\n");
    }

    #[test]
    fn normalize_does_not_end_the_header_at_a_doubled_cr() {
        let (content, _, done, _) =
            run(b"Subject: x\r\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n.\r\n", 100, BareLineEndings::Normalize);
        assert!(done);
        assert_eq!(content, b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n");
    }

    #[test]
    fn normalize_unstuffs_dot_lines_after_a_bare_lf() {
        // smtplib.sendmail() with bytes: LF line ends, leading dots doubled.
        let (content, _, done, verdict) =
            run(b"A: b\n\nfirst\n..dot line\n..\nlast\n\r\n.\r\n", 100, BareLineEndings::Normalize);
        assert!(done);
        assert!(verdict.is_ok());
        assert_eq!(content, b"A: b\r\n\r\nfirst\r\n.dot line\r\n.\r\nlast\r\n\r\n");
    }

    #[test]
    fn normalized_fake_terminator_stays_content() {
        let (content, _, done, _) = run(b"A: b\r\n\r\nx\n.\nrest\r\n.\r\n", 100, BareLineEndings::Normalize);
        assert!(done);
        assert_eq!(content, b"A: b\r\n\r\nx\r\n.\r\nrest\r\n");
    }

    #[test]
    fn over_long_line_is_refused_not_cut() {
        let mut m = b"A: b\r\n\r\n".to_vec();
        m.extend(std::iter::repeat_n(b'x', 5000));
        m.extend_from_slice(b"\r\n.\r\n");
        // Cut across reads, and whole in one read (the line read where it arrived).
        for chunk in [1, 333, m.len()] {
            let (_, _, done, verdict) = run(&m, chunk, BareLineEndings::Reject);
            assert!(done);
            assert_eq!(verdict, Err(DataError::LineTooLong { line: 3, limit: 2048 }), "chunk {chunk}");
        }
    }

    #[test]
    fn line_of_exactly_the_limit_is_fine() {
        let mut m = b"A: b\r\n\r\n".to_vec();
        m.extend(std::iter::repeat_n(b'x', 2048));
        m.extend_from_slice(b"\r\n.\r\n");
        for chunk in [1, 100, m.len()] {
            let (content, _, done, verdict) = run(&m, chunk, BareLineEndings::Reject);
            assert!(done);
            assert!(verdict.is_ok(), "chunk {chunk}");
            assert_eq!(content.len(), 6 + 2 + 2048 + 2, "chunk {chunk}");
        }
    }

    #[test]
    fn header_block_limit() {
        let mut d = DataDecoder::new(DataLimits { max_header: 100, ..limits(BareLineEndings::Reject) });
        let mut out = Vec::new();
        for _ in 0..10 {
            d.feed(b"X-Filler: 0123456789abcdef\r\n", &mut out);
        }
        let fed = d.feed(b"\r\nbody\r\n.\r\n", &mut out);
        assert!(fed.done);
        assert_eq!(d.finish(), Err(DataError::HeaderTooLarge { limit: 100 }));
        assert!(d.take_header().is_none());
    }

    #[test]
    fn message_limit_keeps_output_bounded() {
        let mut d = DataDecoder::new(DataLimits { max_message: 1000, ..limits(BareLineEndings::Reject) });
        let mut out = Vec::new();
        d.feed(b"A: b\r\n\r\n", &mut out);
        for _ in 0..1000 {
            d.feed(b"0123456789012345678901234567890123456789\r\n", &mut out);
        }
        assert!(out.len() <= 1000);
        let fed = d.feed(b".\r\n", &mut out);
        assert!(fed.done);
        assert_eq!(d.finish(), Err(DataError::MessageTooLarge { limit: 1000 }));
    }

    /// Random messages read whole (body lines copied in blocks) and a byte at a time (every
    /// line read on its own) decode alike, under tight limits too.
    #[test]
    fn lines_copied_in_blocks_decode_as_lines_read_one_at_a_time() {
        let alphabet: &[&[u8]] =
            &[b"a", b"QUJD", b".", b"\r\n", b"\r\n", b"\r", b"\n", b"\0", "\u{e9}".as_bytes(), b": "];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for case in 0..4000 {
            let mut input = b"S: x\r\n\r\n".to_vec();
            for _ in 0..case % 97 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.extend_from_slice(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            input.extend_from_slice(b"\r\n.\r\nNEXT");
            for bare in [BareLineEndings::Reject, BareLineEndings::Normalize] {
                for (max_line, max_message) in [(2048, 10 << 20), (6, 60), (3, 1 << 20)] {
                    let limits = DataLimits { max_line, max_header: 1000, max_message, bare_line_endings: bare };
                    let decode = |chunk: usize| {
                        let mut d = DataDecoder::new(limits);
                        let (mut out, mut consumed, mut done) = (Vec::new(), 0, false);
                        for piece in input.chunks(chunk) {
                            let fed = d.feed(piece, &mut out);
                            consumed += fed.consumed;
                            if fed.done {
                                done = true;
                                break;
                            }
                        }
                        let verdict = d.finish();
                        (out, d.take_header(), consumed, done, verdict, d.saw_8bit(), d.line_no)
                    };
                    let one_at_a_time = decode(1);
                    assert_eq!(decode(input.len()), one_at_a_time, "{:?}", String::from_utf8_lossy(&input));
                    assert_eq!(decode(7), one_at_a_time, "{:?}", String::from_utf8_lossy(&input));
                }
            }
        }
    }

    #[test]
    fn header_without_body_is_handed_over_at_the_end() {
        let (content, _, done, verdict) = run(b"Subject: x\r\n.\r\n", 100, BareLineEndings::Reject);
        assert!(done);
        assert!(verdict.is_ok());
        assert_eq!(content, b"Subject: x\r\n");
    }
}
