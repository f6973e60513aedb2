//! The header block of an inbound message as delivered: sekisho's inspection summary on top,
//! any copy of that field the sender wrote removed, and the Subject tagged when policy asks.

use sekisho_policy::inbound::{FileClass, InspectionRecord, Outcome};

/// The summary field's name.
pub const FIELD: &str = "X-Sekisho-Inspection";

/// The summary of `record` as one header field value (ASCII): the action, the worst class of
/// what the recipient gets (a Safe sanitised copy counts for its original), how many files of
/// each class (originals as inspected), the gateway that inspected it, and, in words, what was
/// made harmless on the way.
pub fn summary(record: &InspectionRecord, hostname: &str) -> String {
    let mut counts = [0usize; 4];
    for file in &record.files {
        for (_, f) in file.walk() {
            counts[f.class as usize] += 1;
        }
    }
    let classes: Vec<String> = FileClass::ALL.iter().map(|c| format!("{c}={}", counts[*c as usize])).collect();
    let host: String = hostname.chars().filter(|c| c.is_ascii_graphic()).collect();
    // A quarantined message that leaves was released by an administrator.
    let action = match record.action {
        Outcome::Quarantined => "released",
        other => other.as_str(),
    };
    format!(
        "{action}; worst={}; files={}; {}; by={host}{}{}",
        record.delivered_worst(),
        record.files.len(),
        classes.join("; "),
        if record.password_in_message { "; password-in-message=yes" } else { "" },
        sanitised(record),
    )
}

/// What sanitised delivery did, for the summary: the copies delivered in place of their
/// originals and the HTML shown as text.
fn sanitised(record: &InspectionRecord) -> String {
    let copies: Vec<&str> =
        (0..record.files.len()).filter_map(|i| record.safe_copy(i)).map(|c| c.done.as_str()).collect();
    let mut out = String::new();
    if let Some(done) = copies.first() {
        let done: String = done.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
        out.push_str(&format!(
            "; sanitised={} ({done}: the attached copy has no macros; the original was withheld)",
            copies.len()
        ));
    }
    if record.html_to_text {
        out.push_str("; html=text (shown as plain text, every link as its address)");
    }
    out
}

/// `header` (a message's header block, up to and including the empty line that ends it) with
/// `FIELD: summary` in front, every `FIELD` already there removed, and, with `tag`, the
/// Subject starting with it (a Subject is added when there is none).
pub fn inbound_header(header: &[u8], summary: &str, tag: Option<&str>) -> Vec<u8> {
    header_with(header, (FIELD, summary), tag)
}

/// `header` with `field: value` in front (every `field` already there removed) and, with
/// `tag`, the Subject starting with it (a Subject is added when there is none).
pub fn header_with(header: &[u8], (field, value): (&str, &str), tag: Option<&str>) -> Vec<u8> {
    let mut out = format!("{field}: {value}\r\n").into_bytes();
    let mut tagged = tag.is_none();
    let mut skipping = false;
    let lines = header.split_inclusive(|&b| b == b'\n');
    for line in lines {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continuation && skipping {
            continue;
        }
        skipping = false;
        if is_field(line, field) {
            skipping = true;
            continue;
        }
        if let Some(tag) = tag.filter(|_| !tagged && is_field(line, "Subject")) {
            out.extend_from_slice(b"Subject: ");
            out.extend_from_slice(tag_word(tag).as_bytes());
            out.push(b' ');
            out.extend_from_slice(line["Subject:".len()..].trim_ascii_start());
            tagged = true;
            continue;
        }
        if (line == b"\r\n" || line == b"\n") && !tagged {
            out.extend_from_slice(format!("Subject: {}\r\n", tag_word(tag.unwrap_or_default())).as_bytes());
            tagged = true;
        }
        out.extend_from_slice(line);
    }
    out
}

/// Where the header block of `message` ends (after its empty line), or None when no empty line
/// is found in it.
pub fn header_end(message: &[u8]) -> Option<usize> {
    let mut at = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        at += line.len();
        if line == b"\r\n" || line == b"\n" {
            return Some(at);
        }
    }
    None
}

fn is_field(line: &[u8], name: &str) -> bool {
    line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && {
        let rest = line[name.len()..].trim_ascii_start();
        rest.first() == Some(&b':')
    }
}

/// The tag as header text: as it is when printable ASCII, else one encoded word.
fn tag_word(tag: &str) -> String {
    if tag.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        tag.to_string()
    } else {
        use base64::Engine as _;
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::{ClassifiedFile, SanitisedCopy};

    const HEADER: &[u8] = b"Received: from x\r\nX-Sekisho-Inspection: delivered; worst=safe\r\n \tforged\r\nSubject: Invoice\r\n\tcontinued\r\nFrom: a@b\r\n\r\n";

    #[test]
    fn the_summary_goes_on_top_and_a_forged_one_goes_away() {
        let out = inbound_header(HEADER, "separated; worst=danger", None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "X-Sekisho-Inspection: separated; worst=danger\r\nReceived: from x\r\nSubject: Invoice\r\n\tcontinued\r\nFrom: a@b\r\n\r\n"
        );
    }

    #[test]
    fn the_subject_is_tagged_or_added() {
        let out = String::from_utf8(inbound_header(HEADER, "s", Some("[要注意]"))).unwrap();
        assert!(out.contains("\r\nSubject: =?UTF-8?B?W+imgeazqOaEj10=?= Invoice\r\n\tcontinued\r\n"), "{out}");
        let out = String::from_utf8(inbound_header(b"From: a@b\r\n\r\n", "s", Some("[WARNING]"))).unwrap();
        assert_eq!(out, "X-Sekisho-Inspection: s\r\nFrom: a@b\r\nSubject: [WARNING]\r\n\r\n");
    }

    #[test]
    fn the_header_ends_at_the_first_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody\r\n\r\n"), Some(8));
        assert_eq!(header_end(b"A: b\r\n"), None);
    }

    #[test]
    fn the_summary_counts_every_entry() {
        let file = |class, children| ClassifiedFile {
            name: "n\r\nBcc: x".into(),
            size: 1,
            file_type: "t".into(),
            class,
            reason: String::new(),
            sha256: None,
            children,
        };
        let record = InspectionRecord {
            action: Outcome::Separated,
            rule: "r".into(),
            files: vec![file(FileClass::Danger, vec![file(FileClass::Danger, vec![]), file(FileClass::Safe, vec![])])],
            antivirus: "clamd".into(),
            password_in_message: true,
            sanitised: Vec::new(),
            html_to_text: false,
        };
        assert_eq!(
            summary(&record, "gw.example.jp\r\n"),
            "separated; worst=danger; files=1; safe=1; unsupported=0; error=0; danger=2; by=gw.example.jp; password-in-message=yes"
        );
        let mut copy = file(FileClass::Safe, vec![]);
        copy.name = "a.xlsx".into();
        let record = InspectionRecord {
            action: Outcome::Delivered,
            files: vec![file(FileClass::Danger, vec![])],
            password_in_message: false,
            sanitised: vec![SanitisedCopy { original: 0, done: "VBA project removed\r\nBcc: x".into(), copy }],
            html_to_text: true,
            ..record
        };
        assert_eq!(
            summary(&record, "gw"),
            "delivered; worst=safe; files=1; safe=0; unsupported=0; error=0; danger=1; by=gw; \
             sanitised=1 (VBA project removedBcc: x: the attached copy has no macros; the original was withheld); \
             html=text (shown as plain text, every link as its address)"
        );
    }
}
