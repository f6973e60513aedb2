//! Inbound mail as its recipient gets it when its record asks for sanitised delivery: each file
//! with a Safe sanitised copy replaced by that copy, made again from the spooled original (the
//! transformation gives the same bytes each time) and checked against the SHA-256 that was
//! inspected; and, under `html_to_text`, its HTML bodies as text. When that cannot be done the
//! message is not sent in its original form: every recipient is held back with the reason.

use sekisho_inspect::mime::{HtmlBody, MessageLimits, MimeError, attachments, html_bodies};
use sekisho_inspect::sanitise::{SanitiseError, SanitiseLimits, html_to_text, remove_macros};
use sekisho_policy::inbound::InspectionRecord;
use sekisho_rewrite::{PartEdit, RewriteError, edit_parts, file_part, text_part};

/// Why the sanitised form of a message cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SanitisedError {
    #[error("cannot walk the message for its sanitised form: {0}")]
    Mime(#[from] MimeError),
    #[error("\"{0}\", whose sanitised copy is to be delivered, is not an attachment of the message")]
    Missing(String),
    #[error("the sanitised copy of \"{name}\" cannot be made again: {error}")]
    Remade { name: String, error: SanitiseError },
    #[error("the sanitised copy of \"{0}\" is not the one that was inspected")]
    Differs(String),
    #[error("cannot write the sanitised form: {0}")]
    Rewrite(#[from] RewriteError),
}

/// Whether `record` asks for the message to be changed on its way: a Safe copy to deliver, or
/// HTML bodies as text.
pub(crate) fn wanted(record: &InspectionRecord) -> bool {
    record.html_to_text || (0..record.files.len()).any(|i| record.safe_copy(i).is_some())
}

/// `raw` as the recipient of a message inspected as `record` gets it; None when nothing
/// changes. Blocking: call it off the runtime.
pub(crate) fn sanitised_body(raw: &[u8], record: &InspectionRecord) -> Result<Option<Vec<u8>>, SanitisedError> {
    let limits = MessageLimits::default();
    let mut edits = Vec::new();
    let mut pending: Vec<usize> = (0..record.files.len()).filter(|&i| record.safe_copy(i).is_some()).collect();
    if !pending.is_empty() {
        for file in attachments(raw, &limits, false)?.files {
            let hex = sekisho_store::sha256_hex(&file.bytes);
            let Some((i, _)) = sekisho_links::classified(record, &file.name, file.bytes.len() as u64, &hex) else {
                continue;
            };
            let Some(copy) = record.safe_copy(i) else { continue };
            let made = remove_macros(&file.name, &file.bytes, &SanitiseLimits::default())
                .map_err(|error| SanitisedError::Remade { name: file.name.clone(), error })?;
            let hex = sekisho_store::sha256_hex(&made.bytes);
            if copy.copy.sha256.as_deref() != Some(hex.as_str()) || made.name != copy.copy.name {
                return Err(SanitisedError::Differs(file.name));
            }
            edits.push(PartEdit::Replace {
                span: file.span,
                part: file_part(&made.bytes, &made.name, made.content_type),
            });
            // Files alike (name, size, SHA-256) are one position for `classified`: all are done.
            let same = |f: &sekisho_policy::inbound::ClassifiedFile| {
                (&f.name, f.size, &f.sha256) == (&record.files[i].name, record.files[i].size, &record.files[i].sha256)
            };
            pending.retain(|&p| !same(&record.files[p]));
        }
        if let Some(&i) = pending.first() {
            return Err(SanitisedError::Missing(record.files[i].name.clone()));
        }
    }
    if record.html_to_text {
        for body in html_bodies(raw, &limits)? {
            edits.push(match body {
                HtmlBody::Remove { span } => PartEdit::Remove { span },
                HtmlBody::Convert { span, html } => PartEdit::Replace { span, part: text_part(&html_to_text(&html)) },
            });
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    Ok(Some(edit_parts(raw, edits)?))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use base64::Engine as _;
    use sekisho_policy::inbound::{ClassifiedFile, FileClass, Outcome, SanitisedCopy};

    use super::*;

    fn docm() -> Vec<u8> {
        let types = br#"<Types><Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>"#;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in [
            ("[Content_Types].xml", &types[..]),
            ("word/document.xml", b"<w:document/>"),
            ("word/vbaProject.bin", b"v"),
        ] {
            w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn hex(bytes: &[u8]) -> String {
        sekisho_store::sha256_hex(bytes)
    }

    fn file(name: &str, bytes: &[u8], class: FileClass) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size: bytes.len() as u64,
            file_type: "t".into(),
            class,
            reason: String::new(),
            sha256: Some(hex(bytes)),
            children: Vec::new(),
        }
    }

    fn message(doc: &[u8]) -> Vec<u8> {
        format!(
            "From: a@example.jp\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
             --b\r\nContent-Type: application/octet-stream; name=\"a.docm\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD.encode(doc)
        )
        .into_bytes()
    }

    fn record(doc: &[u8], copy: ClassifiedFile) -> InspectionRecord {
        InspectionRecord {
            action: Outcome::Delivered,
            rule: String::new(),
            files: vec![file("a.docm", doc, FileClass::Danger)],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: vec![SanitisedCopy { original: 0, done: "VBA project removed".into(), copy }],
            html_to_text: false,
        }
    }

    #[test]
    fn the_copy_inspected_replaces_its_original_and_anything_else_holds_the_message() {
        let doc = docm();
        let copy = remove_macros("a.docm", &doc, &SanitiseLimits::default()).unwrap();
        let good = record(&doc, file("a.docx", &copy.bytes, FileClass::Safe));
        let out = String::from_utf8(sanitised_body(&message(&doc), &good).unwrap().unwrap()).unwrap();
        assert!(out.contains("filename=\"a.docx\""), "{out}");
        assert!(!out.contains("a.docm") && out.contains("\r\n\r\nhi\r\n"), "{out}");

        let other = record(&doc, file("a.docx", b"not the copy", FileClass::Safe));
        assert!(matches!(sanitised_body(&message(&doc), &other), Err(SanitisedError::Differs(n)) if n == "a.docm"));
        let absent = b"From: a@example.jp\r\n\r\nno files\r\n";
        assert!(matches!(sanitised_body(absent, &good), Err(SanitisedError::Missing(n)) if n == "a.docm"));
        let not_safe = record(&doc, file("a.docx", &copy.bytes, FileClass::Error));
        assert!(!wanted(&not_safe));
        assert_eq!(sanitised_body(&message(&doc), &not_safe).unwrap(), None, "the original's class stands");
    }
}
