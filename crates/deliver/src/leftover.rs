//! The last check on inbound mail that leaves in another form than it came (separated, or
//! with sanitised copies): no file the policy withholds may still be in it. A file encoded in
//! a text part (uuencode, BinHex) or in a multipart's preamble or epilogue is not an attachment
//! part, so neither the separation nor the sanitising takes it out; such a message is held.

use sekisho_inspect::mime::{MessageLimits, MimeError, carried};
use sekisho_policy::inbound::{FileClass, InspectionRecord};

/// The name of the first file of `body` (the message as it would leave) that must not be in
/// it, found again by its SHA-256; None when there is none. What must not: every original a
/// Safe sanitised copy stands in for, and, when the message is `separated`, every file (or
/// archive entry) the record classes worse than Safe. Blocking: it walks the whole message.
pub(crate) fn withheld_file_left(
    body: &[u8],
    record: &InspectionRecord,
    separated: bool,
) -> Result<Option<String>, MimeError> {
    let replaced = (0..record.files.len()).filter(|&i| record.safe_copy(i).is_some()).map(|i| &record.files[i]);
    let unsafe_files = record
        .files
        .iter()
        .filter(|_| separated)
        .flat_map(|f| f.walk())
        .map(|(_, f)| f)
        .filter(|f| f.class != FileClass::Safe);
    let withheld: Vec<(&str, &str)> =
        replaced.chain(unsafe_files).filter_map(|f| f.sha256.as_deref().map(|h| (f.name.as_str(), h))).collect();
    if withheld.is_empty() {
        return Ok(None);
    }
    for file in carried(body, &MessageLimits::default(), 0)?.files {
        let digest = ring::digest::digest(&ring::digest::SHA256, &file.bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if let Some((name, _)) = withheld.iter().find(|(_, h)| *h == hex) {
            return Ok(Some(name.to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use sekisho_policy::inbound::{ClassifiedFile, Outcome};

    use super::*;

    fn record(bytes: &[u8], class: FileClass) -> InspectionRecord {
        let hex =
            ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        InspectionRecord {
            action: Outcome::Separated,
            rule: String::new(),
            files: vec![ClassifiedFile {
                name: "a.docm".into(),
                size: bytes.len() as u64,
                file_type: "t".into(),
                class,
                reason: String::new(),
                sha256: Some(hex),
                children: Vec::new(),
            }],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        }
    }

    const FILE: &[u8] = b"PK\x03\x04 pretend this is a document with macros, long enough to be a file";

    #[test]
    fn a_withheld_file_uuencoded_in_the_text_is_found_an_attachment_removed_is_not() {
        let text = format!(
            "From: a@outside.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n{}",
            sekisho_testkit::mail::uuencoded("a.docm", FILE)
        );
        assert_eq!(
            withheld_file_left(text.as_bytes(), &record(FILE, FileClass::Danger), true).unwrap().as_deref(),
            Some("a.docm")
        );
        assert_eq!(
            withheld_file_left(text.as_bytes(), &record(FILE, FileClass::Safe), true).unwrap(),
            None,
            "Safe files may stay"
        );
        let separated =
            "From: a@outside.example\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nThe files are on the portal.\r\n";
        assert_eq!(withheld_file_left(separated.as_bytes(), &record(FILE, FileClass::Danger), true).unwrap(), None);
        let attached = format!(
            "From: a@outside.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: application/octet-stream; name=a.docm\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD.encode(FILE)
        );
        let unsupported = record(FILE, FileClass::Unsupported);
        assert_eq!(withheld_file_left(attached.as_bytes(), &unsupported, true).unwrap().as_deref(), Some("a.docm"));
        assert_eq!(
            withheld_file_left(attached.as_bytes(), &unsupported, false).unwrap(),
            None,
            "delivered as it is, a file the policy lets through stays"
        );
    }
}
