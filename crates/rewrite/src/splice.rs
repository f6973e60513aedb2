//! Splicing the notice into the message: the first attachment part's bytes are replaced by the
//! notice part, every further attachment part is removed with the delimiter line before it,
//! and nothing else changes. A message that is itself one attachment (no multipart around it)
//! keeps its header fields except the Content-* ones, which become the notice's.

/// Why a link variant cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// A part's span lies outside the message or overlaps another.
    #[error("attachment part at bytes {0}..{1} does not fit the message")]
    BadSpan(usize, usize),
    /// Nothing to replace.
    #[error("the message has no attachment part to replace")]
    NoAttachments,
    /// The notice's boundary could be taken for one of the message's (or the other way round).
    #[error("the notice's MIME boundary clashes with the message's; choose another")]
    BoundaryClash,
}

/// The link variant of `raw`: the parts at `spans` (each `(start of its header, end of its
/// body)`, as the MIME walk reports them) replaced by `notice` (a whole MIME part: headers,
/// empty line, body).
pub fn link_variant(raw: &[u8], spans: &[(usize, usize)], notice: &[u8]) -> Result<Vec<u8>, RewriteError> {
    if boundaries_clash(raw, notice) {
        return Err(RewriteError::BoundaryClash);
    }
    let mut spans = spans.to_vec();
    // By start, the enclosing (longer) span first.
    spans.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    spans.dedup();
    // A part inside another one (an attached message's parts) goes with the outer one.
    let mut outer: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for s in spans {
        if s.0 > s.1 || s.1 > raw.len() {
            return Err(RewriteError::BadSpan(s.0, s.1));
        }
        match outer.last() {
            Some(last) if s.1 <= last.1 => continue,
            Some(last) if s.0 < last.1 => return Err(RewriteError::BadSpan(s.0, s.1)),
            _ => outer.push(s),
        }
    }
    let Some(&(first_start, first_end)) = outer.first() else { return Err(RewriteError::NoAttachments) };
    if first_start == 0 {
        return Ok(whole_message(raw, notice));
    }
    let mut out = Vec::with_capacity(raw.len().min(1 << 20) + notice.len());
    out.extend_from_slice(&raw[..first_start]);
    out.extend_from_slice(notice);
    let mut at = first_end;
    for &(start, end) in &outer[1..] {
        // The delimiter before the part starts with the CRLF that ends the previous part;
        // anything else there (a delimiter in mid-line) is not cut, it is refused.
        let cut = delimiter_start(raw, start).max(at);
        let delimiter = &raw[cut..start];
        if !(delimiter.starts_with(b"\r\n--") && delimiter.ends_with(b"\n")) {
            return Err(RewriteError::BadSpan(start, end));
        }
        out.extend_from_slice(&raw[at..cut]);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok(out)
}

/// The delimiter lines ("--boundary") of `text`, without a closing "--".
fn delimiters(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| l.starts_with(b"--") && l.len() > 2)
}

/// True when a delimiter of the notice starts like one of the message's or the other way round
/// (parsers match boundaries by prefix).
fn boundaries_clash(raw: &[u8], notice: &[u8]) -> bool {
    let ours: Vec<&[u8]> = delimiters(notice).map(|d| d.strip_suffix(b"--").unwrap_or(d)).collect();
    delimiters(raw).any(|theirs| {
        let theirs = theirs.strip_suffix(b"--").unwrap_or(theirs);
        ours.iter().any(|o| o.starts_with(theirs) || theirs.starts_with(o))
    })
}

/// Where the delimiter line before a part that starts at `start` begins (its leading CRLF).
pub(crate) fn delimiter_start(raw: &[u8], start: usize) -> usize {
    // raw[..start] ends with "\r\n--boundary\r\n"; find the CRLF before that line.
    let before = &raw[..start.saturating_sub(2)];
    before.windows(2).rposition(|w| w == b"\r\n").unwrap_or(0)
}

/// A message that is one attachment: its header fields minus Content-* and MIME-Version,
/// then the notice's.
pub(crate) fn whole_message(raw: &[u8], notice: &[u8]) -> Vec<u8> {
    let header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 2);
    let mut out = Vec::with_capacity(header_end + notice.len() + 32);
    let mut keep = true;
    for line in raw[..header_end].split_inclusive(|&b| b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            let name = line.split(|&b| b == b':').next().unwrap_or_default().to_ascii_lowercase();
            keep = !(name.starts_with(b"content-") || name == b"mime-version");
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(notice);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"From: a@example.jp\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
        --B\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
        --B\r\nContent-Type: application/zip; name=x.zip\r\n\r\nZIPDATA\r\n\
        --B\r\nContent-Type: application/pdf; name=y.pdf\r\n\r\nPDFDATA\r\n--B--\r\n";

    fn span(needle: &str, end_marker: &str) -> (usize, usize) {
        let text = std::str::from_utf8(MSG).unwrap();
        let start = text.find(needle).unwrap();
        (start, start + text[start..].find(end_marker).unwrap() + end_marker.len())
    }

    #[test]
    fn the_first_attachment_becomes_the_notice_and_the_others_go() {
        let zip = span("Content-Type: application/zip", "ZIPDATA");
        let pdf = span("Content-Type: application/pdf", "PDFDATA");
        let out = link_variant(MSG, &[pdf, zip], b"Content-Type: text/plain\r\n\r\nNOTICE").unwrap();
        let expected = "From: a@example.jp\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
            --B\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
            --B\r\nContent-Type: text/plain\r\n\r\nNOTICE\r\n--B--\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn a_notice_boundary_like_the_message_s_is_refused() {
        let zip = span("Content-Type: application/zip", "ZIPDATA");
        let notice =
            |b: &str| format!("Content-Type: multipart/alternative; boundary=\"{b}\"\r\n\r\n--{b}\r\n\r\nx\r\n--{b}--");
        assert_eq!(link_variant(MSG, &[zip], notice("Bn").as_bytes()), Err(RewriteError::BoundaryClash), "prefix");
        assert_eq!(link_variant(MSG, &[zip], notice("B").as_bytes()), Err(RewriteError::BoundaryClash), "same");
        assert!(link_variant(MSG, &[zip], notice("=-n1").as_bytes()).is_ok());
    }

    #[test]
    fn a_single_attachment_message_keeps_its_other_fields() {
        let raw = b"From: a@example.jp\r\nContent-Type: application/pdf;\r\n name=y.pdf\r\nSubject: s\r\nMIME-Version: 1.0\r\n\r\nPDF";
        let out = link_variant(raw, &[(0, raw.len())], b"Content-Type: text/plain\r\n\r\nNOTICE").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From: a@example.jp\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nNOTICE\r\n"
        );
    }

    #[test]
    fn bad_spans_are_refused_not_guessed() {
        assert_eq!(link_variant(MSG, &[(5, 10_000)], b"x"), Err(RewriteError::BadSpan(5, 10_000)));
        assert_eq!(link_variant(MSG, &[(10, 20), (15, 30)], b"x"), Err(RewriteError::BadSpan(15, 30)));
        assert_eq!(link_variant(MSG, &[], b"x"), Err(RewriteError::NoAttachments));
        let zip = span("Content-Type: application/zip", "ZIPDATA");
        let nested = link_variant(MSG, &[(zip.0 + 5, zip.0 + 10), zip, (zip.0, zip.0 + 3)], b"N");
        assert!(nested.is_ok(), "a span inside another goes with it: {nested:?}");
        // A delimiter in mid-line before a part: refused, not cut through the text before it.
        let pdf = span("Content-Type: application/pdf", "PDFDATA");
        let odd = [&MSG[..pdf.0 - 7], b"x--B\r\n", &MSG[pdf.0..]].concat();
        let moved = (pdf.0 - 1, pdf.1 - 1);
        assert_eq!(link_variant(&odd, &[zip, moved], b"N"), Err(RewriteError::BadSpan(moved.0, moved.1)));
    }
}

#[cfg(test)]
mod walk_tests {
    use mail_parser::MessageParser;
    use sekisho_inspect::mime::{MessageLimits, inspect_message};

    use super::*;
    use crate::{Notice, NoticeFile, notice_part};

    #[test]
    fn spans_from_the_mime_walk_give_a_message_without_attachments_and_the_rest_intact() {
        let raw = b"From: a@example.jp\r\nTo: b@example.com\r\nSubject: quote\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"=-o\"\r\n\r\n--=-o\r\n\
            Content-Type: multipart/alternative; boundary=\"=-a\"\r\n\r\n--=-a\r\nContent-Type: text/plain\r\n\r\n\
            Please see the quote.\r\n--=-a\r\nContent-Type: text/html\r\n\r\n<p>Please see the quote.</p>\r\n--=-a--\r\n\
            \r\n--=-o\r\nContent-Type: application/pdf; name=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            JVBERi0xLjQKJSVFT0YK\r\n--=-o\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.jp\r\nSubject: old\r\n\
            Content-Type: application/zip; name=\"old.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n--=-o--\r\n";
        let parts = inspect_message(raw, &MessageLimits::default()).unwrap();
        let attachments: Vec<_> = parts.iter().filter(|p| p.is_attachment).collect();
        assert_eq!(attachments.len(), 2, "{parts:?}");
        let notice = Notice {
            files: attachments
                .iter()
                .map(|p| NoticeFile { name: p.display_name(), size: p.size as u64, sha256: "00".repeat(32) })
                .collect(),
            url: "https://gw.example.jp/d/T".into(),
            expires: "soon".into(),
            access_en: "a code".into(),
            access_ja: "コード".into(),
            why: None,
        };
        let spans: Vec<_> = attachments.iter().map(|p| p.span).collect();
        let out = link_variant(raw, &spans, &notice_part(&notice, "=-n", &crate::NoticeTemplates::default())).unwrap();

        let text = String::from_utf8(out.clone()).unwrap();
        let original = String::from_utf8(raw.to_vec()).unwrap();
        let body_start = original.find("--=-o\r\nContent-Type: application/pdf").unwrap();
        assert!(text.starts_with(&original[..body_start]), "headers and text bodies byte-identical");
        assert!(text.ends_with("--=-o--\r\n"));
        let reparsed = MessageParser::default().parse(&out).unwrap();
        assert_eq!(reparsed.attachments().count(), 0, "no attachment left: {text}");
        assert!(!text.contains("message/rfc822"), "the attached message went whole: {text}");
        assert_eq!(reparsed.subject(), Some("quote"));
        let again = inspect_message(&out, &MessageLimits::default()).unwrap();
        let plain: Vec<_> = again.iter().filter(|p| p.content_type == "text/plain").collect();
        assert_eq!(plain.len(), 2, "the original text and the notice's text: {again:?}");
    }
}
