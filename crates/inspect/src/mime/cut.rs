//! Long base64 bodies cut out of a message, so that a large message is inspected without being
//! held whole: [`LongBodies`] finds them in the message fed to it a buffer at a time, the
//! caller decodes each one ([`super::transfer::Base64`]) somewhere else (a file), and
//! [`super::inspect_cut`] walks what is left (the skeleton) with mail-parser as usual, taking
//! each cut part's bytes from its decoded copy.
//!
//! Why this reads the message exactly as mail-parser does: a cut is a run of whole lines made
//! only of base64 symbols, and plain base64 (padding only at its end). Such a run holds no
//! boundary (`-` is no base64 symbol), no field (no `:`) and no empty line, so it cannot
//! change the structure mail-parser reads around it; and [`super::inspect_cut`] accepts a cut
//! only where the skeleton has a leaf part's body starting, with nothing but line breaks and
//! blanks after it in that body, declared base64. Everything mail-parser reads before the cut
//! is the same bytes; the body it would have decoded is plain base64, which every decoder
//! reads alike (`is_plain_base64`). Anything else (a run in a preamble, in a header, in the
//! middle of a body, in an encoded attached message) makes the caller inspect the message
//! whole, as before.

use super::transfer::{is_base64_symbol, is_pad};

/// Where a long body was found in the message: `start..end`, from the first symbol of its
/// first line to the last symbol of its last line (line breaks around it are kept).
pub type Span = std::ops::Range<u64>;

/// Finds runs of at least `min_len` bytes of plain base64 lines in a message fed to it a
/// buffer at a time. Holds no more than a few counters, whatever the message's size.
#[derive(Debug)]
pub struct LongBodies {
    min_len: u64,
    /// Offset of the next byte fed.
    pos: u64,
    line: Line,
    run: Option<Run>,
    found: Vec<Span>,
}

/// The line being read.
#[derive(Debug, Default)]
struct Line {
    start: u64,
    /// Every byte so far a base64 symbol or `=` (a CR only just before the LF).
    symbols_only: bool,
    /// The byte before was a CR.
    cr: bool,
    symbols: u64,
    pads: u64,
    /// A symbol came after a `=` (not plain base64).
    symbol_after_pad: bool,
}

/// The run of base64 lines being read.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) start: u64,
    /// End of the last line's symbols.
    pub(super) end: u64,
    pub(super) symbols: u64,
    pub(super) pads: u64,
    pub(super) plain: bool,
}

impl LongBodies {
    /// Looks for runs of at least `min_len` bytes.
    pub fn new(min_len: u64) -> Self {
        LongBodies { min_len: min_len.max(1), pos: 0, line: Line::new(0), run: None, found: Vec::new() }
    }

    /// The next `buf` of the message.
    pub fn feed(&mut self, buf: &[u8]) {
        for &b in buf {
            if b == b'\n' {
                let end = if self.line.cr { self.pos - 1 } else { self.pos };
                self.end_line(end);
                self.pos += 1;
                self.line = Line::new(self.pos);
                continue;
            }
            let line = &mut self.line;
            if line.cr {
                line.symbols_only = false;
            }
            line.cr = b == b'\r';
            if line.cr || !line.symbols_only {
            } else if is_pad(b) {
                line.pads += 1;
            } else if is_base64_symbol(b) {
                line.symbol_after_pad |= line.pads > 0;
                line.symbols += 1;
            } else {
                line.symbols_only = false;
            }
            self.pos += 1;
        }
    }

    /// The long runs found, in message order.
    pub fn finish(mut self) -> Vec<Span> {
        let end = if self.line.cr { self.pos - 1 } else { self.pos };
        self.end_line(end);
        self.close_run();
        self.found
    }

    /// The line read ends at `end` (its line break excluded).
    fn end_line(&mut self, end: u64) {
        let line = std::mem::take(&mut self.line);
        if !line.symbols_only || end == line.start {
            self.close_run();
            return;
        }
        let run = self.run.get_or_insert(Run { start: line.start, end, symbols: 0, pads: 0, plain: true });
        run.plain &= !(line.symbol_after_pad || run.pads > 0 && line.symbols > 0);
        run.end = end;
        run.symbols += line.symbols;
        run.pads += line.pads;
    }

    fn close_run(&mut self) {
        let Some(run) = self.run.take() else { return };
        if run.is_plain() && run.end - run.start >= self.min_len {
            self.found.push(run.start..run.end);
        }
    }
}

impl Run {
    /// Plain base64: whole quanta, `=` only as the final padding.
    pub(super) fn is_plain(&self) -> bool {
        let (symbols, pads) = (self.symbols, self.pads);
        self.plain && pads <= 2 && (symbols + pads) % 4 == 0 && (pads == 0 || symbols % 4 != 0)
    }
}

impl Line {
    fn new(start: u64) -> Self {
        Line { start, symbols_only: true, ..Default::default() }
    }
}

/// A line (its line break removed) made only of base64 symbols and `=`, none empty: its
/// symbols, its pads, and whether a symbol follows a pad.
pub(super) fn base64_line(line: &[u8]) -> Option<(u64, u64, bool)> {
    if line.is_empty() || !line.iter().all(|&b| is_base64_symbol(b)) {
        return None;
    }
    Some(match memchr::memchr(b'=', line) {
        None => (line.len() as u64, 0, false),
        Some(first) => {
            let pads = memchr::memchr_iter(b'=', &line[first..]).count();
            ((line.len() - pads) as u64, pads as u64, pads < line.len() - first)
        }
    })
}

/// A long base64 body cut out of a message: at `at` in the skeleton (the message without its
/// cut bodies), `len` bytes were taken out; `decoded` is what they decode to.
#[derive(Debug, Clone, Copy)]
pub struct Cut<'a> {
    /// Offset in the skeleton where the body was.
    pub at: usize,
    /// Bytes taken out there.
    pub len: usize,
    /// The body decoded.
    pub decoded: &'a [u8],
}

/// The cuts of a walk: which ones fell on a part's body, and offsets in the skeleton told as
/// offsets in the whole message.
pub(super) struct Cuts<'c, 'a> {
    cuts: &'c [Cut<'a>],
    used: Vec<bool>,
    /// A cut fell somewhere else than on a whole part body: the skeleton is not to be trusted.
    pub misfit: bool,
}

impl<'c, 'a> Cuts<'c, 'a> {
    pub(super) fn new(cuts: &'c [Cut<'a>]) -> Self {
        Cuts { cuts, used: vec![false; cuts.len()], misfit: false }
    }

    /// No cuts at all (a message inspected whole).
    pub(super) fn none() -> Self {
        Cuts { cuts: &[], used: Vec::new(), misfit: false }
    }

    /// Every cut fell on a part's body, and nothing else did.
    pub(super) fn all_fit(&self) -> bool {
        !self.misfit && self.used.iter().all(|u| *u)
    }

    /// The cut at `body_start` (its index and decoded bytes) when one is there; `rest` is what the
    /// skeleton has after it in that body, `base64` whether the part is declared so.
    pub(super) fn at(&mut self, body_start: usize, rest: &[u8], base64: bool) -> Option<(usize, &'a [u8])> {
        let i = self.cuts.iter().position(|c| c.at == body_start)?;
        if !base64 || !rest.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t')) || self.used[i] {
            self.misfit = true;
            return None;
        }
        self.used[i] = true;
        Some((i, self.cuts[i].decoded))
    }

    /// Notes that a cut fell inside `start..end` of the skeleton (where no cut may be).
    pub(super) fn forbid(&mut self, start: usize, end: usize) {
        if self.cuts.iter().any(|c| c.at >= start && c.at < end) {
            self.misfit = true;
        }
    }

    /// `offset` in the skeleton as an offset in the message, for the start of something.
    pub(super) fn start(&self, offset: usize) -> usize {
        offset + self.cuts.iter().filter(|c| c.at < offset).map(|c| c.len).sum::<usize>()
    }

    /// `offset` in the skeleton as an offset in the message, for the end of something (a body
    /// cut out at `offset` is before it).
    pub(super) fn end(&self, offset: usize) -> usize {
        offset + self.cuts.iter().filter(|c| c.at <= offset).map(|c| c.len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(text: &[u8], min: u64, piece: usize) -> Vec<Span> {
        let mut finder = LongBodies::new(min);
        for chunk in text.chunks(piece.max(1)) {
            finder.feed(chunk);
        }
        finder.finish()
    }

    #[test]
    fn a_run_is_whole_lines_of_plain_base64_without_the_line_breaks_around() {
        let text = b"Content-Type: a\r\n\r\nQUJD\r\nREVG\r\nRw==\r\n--B--\r\n";
        for piece in [1, 2, 3, 7, 1000] {
            let found = runs(text, 4, piece);
            assert_eq!(found, vec![19..35], "{piece}");
            assert_eq!(&text[19..35], b"QUJD\r\nREVG\r\nRw==");
        }
        let lf = b"H: a\n\nQUJD\nREVG\n--B--\n";
        assert_eq!(runs(lf, 4, 5), vec![6..15]);
        assert_eq!(runs(b"QUJDREVG", 4, 3), vec![0..8], "a run at the end without a line break");
    }

    #[test]
    fn short_runs_and_runs_that_are_not_plain_base64_are_left_alone() {
        assert_eq!(runs(b"\r\nQUJD\r\n", 5, 100), Vec::<Span>::new(), "shorter than asked");
        assert!(runs(b"\r\nQQ==\r\nQUJD\r\n", 1, 100).is_empty(), "padding in the middle");
        assert!(runs(b"\r\nQUJ\r\n", 1, 100).is_empty(), "not whole quanta");
        assert!(runs(b"\r\nQ===\r\n", 1, 100).is_empty(), "three pads");
        assert_eq!(runs(b"x:\r\nQUJD\r\n\r\nREVG\r\n", 1, 100), [4..8, 12..16], "an empty line ends a run");
        assert_eq!(runs(b"QUJD\rREVG\r\n", 1, 100), Vec::<Span>::new(), "a bare CR is no line break");
        assert_eq!(runs(b"QUJD REVG\r\nQUJD\r\n", 1, 100), vec![11..15], "blanks end a run");
        assert_eq!(runs(b"--QUJD\r\n", 1, 100), Vec::<Span>::new(), "a boundary is never in a run");
    }

    /// The message cut as the spool's reader cuts it: its runs of `min` bytes or more taken
    /// out, each decoded.
    /// A cut body as the tests hold it: where, how long, decoded.
    type Body = (usize, usize, Vec<u8>);

    fn cut(raw: &[u8], min: u64) -> (Vec<u8>, Vec<Body>) {
        let mut finder = LongBodies::new(min);
        finder.feed(raw);
        let (mut skeleton, mut bodies, mut pos) = (Vec::new(), Vec::new(), 0usize);
        for span in finder.finish() {
            let (start, end) = (span.start as usize, span.end as usize);
            skeleton.extend_from_slice(&raw[pos..start]);
            let mut decoded = Vec::new();
            let mut decoder = crate::mime::Base64::default();
            for piece in raw[start..end].chunks(1000) {
                decoder.feed(piece, &mut decoded);
            }
            bodies.push((skeleton.len(), end - start, decoded));
            pos = end;
        }
        skeleton.extend_from_slice(&raw[pos..]);
        (skeleton, bodies)
    }

    /// What the cut message's inspection says: `Some` only when its reports are the whole
    /// message's (checked here), `None` when it is to be inspected whole.
    fn inspected_cut(raw: &[u8], min: u64) -> Option<String> {
        let (skeleton, bodies) = cut(raw, min);
        let cuts: Vec<Cut<'_>> = bodies.iter().map(|(at, len, d)| Cut { at: *at, len: *len, decoded: d }).collect();
        let limits = crate::mime::MessageLimits::default();
        let whole = format!("{:?}", crate::mime::inspect_message(raw, &limits));
        let cut = crate::mime::inspect_cut(&skeleton, &cuts, &limits).map(|r| format!("{r:?}"));
        if let Some(cut) = &cut {
            assert_eq!(cut, &whole, "{}", String::from_utf8_lossy(&skeleton));
        }
        cut
    }

    fn b64(bytes: &[u8], eol: &str) -> String {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join(eol)
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn mixed(eol: &str, parts: &[(&str, String)], close: bool) -> String {
        let mut m = format!(
            "From: a@example.jp{eol}MIME-Version: 1.0{eol}Content-Type: multipart/mixed; boundary=\"B\"{eol}{eol}"
        );
        for (headers, body) in parts {
            m.push_str(&format!("--B{eol}{}{eol}{eol}{body}{eol}", headers.replace("\n", eol)));
        }
        if close {
            m.push_str(&format!("--B--{eol}"));
        }
        m
    }

    #[test]
    fn cut_messages_are_inspected_as_whole_ones() {
        for file in [
            "zipcrypto.zip",
            "aes256.zip",
            "plain.zip",
            "encrypted.docx",
            "plain.7z",
            "headers-encrypted.7z",
            "encrypted.pdf",
            "zip-in-zip.zip",
            "wrapped.tgz",
            "plain.tar.bz2",
        ] {
            let bytes = fixture(file);
            for eol in ["\r\n", "\n"] {
                for close in [true, false] {
                    let raw = mixed(
                        eol,
                        &[
                            ("Content-Type: text/plain", "see attached".into()),
                            (
                                &format!(
                                    "Content-Type: application/octet-stream; name=\"{file}\"\nContent-Transfer-Encoding: base64"
                                ),
                                b64(&bytes, eol),
                            ),
                            ("Content-Type: text/plain", "after".into()),
                        ],
                        close,
                    );
                    assert!(inspected_cut(raw.as_bytes(), 64).is_some(), "{file} {eol:?} {close}");
                }
            }
        }
    }

    #[test]
    fn nested_multiparts_attached_messages_and_single_parts() {
        let zip = fixture("zipcrypto.zip");
        let eol = "\r\n";
        let inner = mixed(
            eol,
            &[("Content-Type: application/zip; name=\"in.zip\"\nContent-Transfer-Encoding: base64", b64(&zip, eol))],
            true,
        );
        // Boundaries that are prefixes of one another, an alternative nested in a mixed.
        let nested = format!(
            "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\npreamble\r\n--B\r\nContent-Type: multipart/alternative; boundary=\"BB\"\r\n\r\n\
             --BB\r\nContent-Type: text/plain\r\n\r\nhi\r\n--BB\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--BB--\r\n\
             --B\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--B--\r\nepilogue\r\n",
            b64(&zip, eol)
        );
        assert!(inspected_cut(nested.as_bytes(), 64).is_some());
        let single = format!(
            "Subject: one\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(&zip, eol)
        );
        assert!(inspected_cut(single.as_bytes(), 64).is_some());
        let no_break =
            format!("Content-Type: application/zip\nContent-Transfer-Encoding: base64\n\n{}", b64(&zip, "\n"));
        assert!(inspected_cut(no_break.as_bytes(), 64).is_some());
        let uuencoded = format!("begin 644 a.txt\n{}\nend\n", "M".repeat(61));
        let text = mixed(
            eol,
            &[("Content-Type: text/plain\nContent-Transfer-Encoding: base64", b64(uuencoded.as_bytes(), eol))],
            true,
        );
        assert!(
            inspected_cut(text.as_bytes(), 16).is_some(),
            "a text part decoded from its file is still read for uuencoded files"
        );
    }

    #[test]
    fn cuts_that_are_not_whole_part_bodies_send_the_message_to_be_inspected_whole() {
        let zip = b64(&fixture("zipcrypto.zip"), "\r\n");
        let eol = "\r\n";
        let encoded_message = mixed(
            eol,
            &[(
                "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
                b64(mixed(eol, &[("Content-Type: application/zip", "x".into())], true).as_bytes(), eol),
            )],
            true,
        );
        for (what, raw) in [
            (
                "preamble",
                format!("Content-Type: multipart/mixed; boundary=B\r\n\r\n{zip}\r\n--B\r\n\r\nx\r\n--B--\r\n"),
            ),
            (
                "epilogue",
                format!("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nx\r\n--B--\r\n{zip}\r\n"),
            ),
            (
                "after text",
                mixed(
                    eol,
                    &[(
                        "Content-Type: application/zip\nContent-Transfer-Encoding: base64",
                        format!("QUJD LQ==\r\n\r\n{zip}"),
                    )],
                    true,
                ),
            ),
            ("not base64", mixed(eol, &[("Content-Type: text/plain", zip.clone())], true)),
            ("in a header", format!("Subject: x\r\n{zip}\r\nContent-Type: text/plain\r\n\r\nbody\r\n")),
            ("an encoded attached message", encoded_message),
            (
                "two encodings",
                mixed(
                    eol,
                    &[(
                        "Content-Type: application/zip\nContent-Transfer-Encoding: base64\nContent-Transfer-Encoding: base64",
                        zip.clone(),
                    )],
                    true,
                ),
            ),
        ] {
            assert_eq!(inspected_cut(raw.as_bytes(), 64), None, "{what}");
        }
        let followed = mixed(
            eol,
            &[("Content-Type: application/zip\nContent-Transfer-Encoding: base64", format!("{zip}\r\n\r\n  \r\n"))],
            true,
        );
        assert!(inspected_cut(followed.as_bytes(), 64).is_some(), "blank lines after the body");
    }
}
