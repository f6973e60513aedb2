//! The long base64 bodies of a message held in memory, found and decoded in one pass: the runs
//! [`super::LongBodies`] finds (whole lines of plain base64, at least `min_len` bytes, line
//! breaks around them excluded), each with the bytes [`super::transfer::base64`] gives for it.
//! A line of whole quanta, the bulk of any body, is checked by decoding it (a byte that is no
//! symbol stops the decoder), so each byte is looked up once, not once to find the run and
//! again to decode it.

use std::ops::Range;

use super::cut::{Run, base64_line};
use super::transfer::{Base64, quanta};

/// A long body: where it is in the message, and its bytes decoded.
pub(crate) type Decoded = (Range<usize>, Vec<u8>);

/// A kept run: where it is in the message, and where its bytes are in the decoded buffer.
type Kept = (Range<usize>, Range<usize>);

/// The run being read.
struct Open {
    run: Run,
    /// Decoded into the kept bytes (a body the caller wants); otherwise only checked.
    wanted: bool,
    decoder: Base64,
    /// Where its bytes start in the kept bytes.
    from: usize,
}

/// The long runs of `raw` that `wanted` keeps (given the message before each), with their
/// bytes decoded, in message order.
pub(crate) fn decoded_long_bodies(raw: &[u8], min_len: usize, wanted: impl Fn(&[u8]) -> bool) -> Vec<Decoded> {
    let min_len = min_len.max(1) as u64;
    // The wanted runs' bytes one after another.
    let mut out = Vec::new();
    let mut kept: Vec<Kept> = Vec::new();
    // A line outside a wanted run is decoded here, and forgotten.
    let mut scratch = Vec::new();
    let mut open: Option<Open> = None;
    let mut start = 0;
    while start <= raw.len() {
        scratch.clear();
        let mut fresh = Base64::default();
        let (sink, decoder) = match open.as_mut() {
            Some(o) if o.wanted => (&mut out, &mut o.decoder),
            Some(o) => (&mut scratch, &mut o.decoder),
            None => (&mut scratch, &mut fresh),
        };
        let line_start = start;
        let (counts, end, next) = decode_line(raw, start, decoder, sink);
        start = next;
        let Some((symbols, pads, symbol_after_pad)) = counts else {
            close(open.take(), min_len, &mut out, &mut kept);
            continue;
        };
        let o = match open.as_mut() {
            Some(o) => o,
            None => {
                let wanted = wanted(&raw[..line_start]);
                if wanted && out.capacity() == 0 {
                    // At most what the rest of the message decodes to, in this thread's spare.
                    out = crate::buffers::decoded((raw.len() - line_start) / 4 * 3);
                }
                let from = out.len();
                if wanted {
                    out.extend_from_slice(&scratch);
                }
                let run = Run { start: line_start as u64, end: 0, symbols: 0, pads: 0, plain: true };
                open.insert(Open { run, wanted, decoder: fresh, from })
            }
        };
        let run = &mut o.run;
        run.plain &= !(symbol_after_pad || run.pads > 0 && symbols > 0);
        run.end = end as u64;
        run.symbols += symbols;
        run.pads += pads;
    }
    close(open, min_len, &mut out, &mut kept);
    pieces(out, kept)
}

/// Reads the line at `start`: when it is a base64 line (whole, of symbols and `=`, not empty),
/// its symbols, pads and whether a symbol follows a pad, its bytes decoded by `decoder` into
/// `sink`. Also where its content ends (its line break excluded) and where the next line
/// starts.
fn decode_line(
    raw: &[u8],
    start: usize,
    decoder: &mut Base64,
    sink: &mut Vec<u8>,
) -> (Option<(u64, u64, bool)>, usize, usize) {
    let mark = sink.len();
    let mut pos = start;
    if decoder.aligned() {
        loop {
            let used = quanta(&raw[pos..], sink);
            if used == 0 {
                break;
            }
            pos += used;
        }
    }
    if pos > start
        && let Some(line_break) = line_break(&raw[pos..])
    {
        return (Some(((pos - start) as u64, 0, false)), pos, pos + line_break);
    }
    sink.truncate(mark);
    let stop = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |at| start + at);
    let end = if stop > start && raw[stop - 1] == b'\r' { stop - 1 } else { stop };
    let counts = base64_line(&raw[start..end]);
    if counts.is_some() {
        decoder.feed(&raw[start..end], sink);
    }
    (counts, end, stop + 1)
}

/// The length of the line break at the start of `rest` (CRLF, LF, or the end of the message,
/// where a lone CR is a line break's too); `None` when `rest` starts with anything else.
fn line_break(rest: &[u8]) -> Option<usize> {
    match rest {
        [] => Some(0),
        [b'\n', ..] | [b'\r'] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        _ => None,
    }
}

/// Ends the run `open`: kept when wanted, plain base64 and long enough, its bytes let go
/// otherwise.
fn close(open: Option<Open>, min_len: u64, out: &mut Vec<u8>, kept: &mut Vec<Kept>) {
    let Some(o) = open else { return };
    if !o.wanted {
        return;
    }
    if o.run.is_plain() && o.run.end - o.run.start >= min_len {
        kept.push((o.run.start as usize..o.run.end as usize, o.from..out.len()));
    } else {
        out.truncate(o.from);
    }
}

/// Each kept run with its own bytes: the first keeps the buffer they were decoded into (a
/// message with one attachment copies nothing; the buffer is cut down to its bytes when it is
/// more than twice as large), the others are copied out of it.
fn pieces(mut out: Vec<u8>, kept: Vec<Kept>) -> Vec<Decoded> {
    let mut found: Vec<Decoded> = Vec::with_capacity(kept.len());
    for (i, (span, bytes)) in kept.into_iter().enumerate().rev() {
        if i == 0 {
            out.truncate(bytes.end);
            if out.capacity() > 2 * out.len() {
                out.shrink_to_fit();
            }
            found.push((span, std::mem::take(&mut out)));
        } else {
            found.push((span, out[bytes.clone()].to_vec()));
            out.truncate(bytes.start);
        }
    }
    found.reverse();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::LongBodies;
    use crate::mime::transfer::base64;

    /// What the streaming finder finds in `text`, each run decoded on its own.
    fn streamed(text: &[u8], min: u64) -> Vec<Decoded> {
        let mut finder = LongBodies::new(min);
        finder.feed(text);
        let runs = finder.finish().into_iter().map(|r| r.start as usize..r.end as usize);
        runs.map(|r| (r.clone(), base64(&text[r]))).collect()
    }

    #[test]
    fn the_runs_and_bytes_are_the_streaming_finder_s_and_the_decoder_s() {
        let alphabet = b"AAAAQQQ==\r\n\n\n- :";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for case in 0..3000 {
            let text: Vec<u8> = (0..case % 211)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            for min in [1, 4, 12] {
                let want = streamed(&text, min);
                let found = decoded_long_bodies(&text, min as usize, |_| true);
                assert_eq!(found, want, "{:?}", String::from_utf8_lossy(&text));
            }
        }
        let found = decoded_long_bodies(b"QUJD\r\nREVG\r\nRw==\r", 4, |_| true);
        assert_eq!(found, vec![(0..16, b"ABCDEFG".to_vec())], "a CR at the very end is a line break's");
    }

    #[test]
    fn long_lines_of_whole_quanta_and_lines_that_straddle_quanta_decode_alike() {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(&bytes);
        for width in [76, 75, 64, 4, 3, 1000, 20_000] {
            for eol in ["\r\n", "\n"] {
                let lines: Vec<&str> = text.as_bytes().chunks(width).map(|l| std::str::from_utf8(l).unwrap()).collect();
                let body = lines.join(eol);
                let raw = format!("Content-Type: application/zip{eol}{eol}{body}{eol}--B--{eol}");
                let found = decoded_long_bodies(raw.as_bytes(), 64, |_| true);
                assert_eq!(found, streamed(raw.as_bytes(), 64), "{width} {eol:?}");
                assert_eq!(found.len(), 1, "{width} {eol:?}");
                assert_eq!(found[0].1, bytes, "{width} {eol:?}");
            }
        }
    }

    #[test]
    fn only_the_wanted_runs_are_kept_and_each_has_its_own_bytes() {
        let raw = b"a: b\r\n\r\nQUJD\r\n\r\n--x\r\nREVG\r\nRw==\r\n\r\nSElK\r\n";
        let all = decoded_long_bodies(raw, 4, |_| true);
        let spans: Vec<_> = all.iter().map(|(s, _)| s.clone()).collect();
        assert_eq!(spans, [8..12, 21..31, 35..39]);
        let bytes: Vec<&[u8]> = all.iter().map(|(_, b)| b.as_slice()).collect();
        assert_eq!(bytes, [&b"ABC"[..], b"DEFG", b"HIJ"]);
        let after_x = decoded_long_bodies(raw, 4, |before| before.ends_with(b"x\r\n"));
        assert_eq!(after_x, vec![(21..31, b"DEFG".to_vec())]);
        assert!(decoded_long_bodies(raw, 5, |before| before.len() < 10).is_empty(), "wanted but too short");
    }
}
