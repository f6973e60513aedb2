//! Inbound mail under `separate`: the files the recipient may download are sealed on the portal
//! (never a Danger file), and each recipient gets the message with a notice listing every file
//! and its class, and a link to their classification page.

use sekisho_config::Config;
use sekisho_inspect::mime::AttachedFile;
use sekisho_policy::inbound::{ClassifiedFile, FileClass, InspectionRecord};
use sekisho_rewrite::inbound::{header_end, inbound_header};
use sekisho_rewrite::{InboundNotice, inbound_notice_part, link_variant};
use sekisho_store::MessageInfo;

use crate::{LinkError, LinkMaker, Prepared, access_sentences};

/// The classified file a message's file is, with its position among the record's files: the
/// first top-level file of `record` with its name and size, and its SHA-256 (hex) when the
/// record knows it, so that two files of one name and size (a clean one and a virus) are never
/// taken for each other. A Safe sanitised copy (name, size and SHA-256) is the classified file
/// at its original's position. None: the inspection did not list it, and it is not kept. The
/// portal maps its kept files to the record with this too.
pub fn classified<'r>(
    record: &'r InspectionRecord,
    name: &str,
    size: u64,
    sha256: &str,
) -> Option<(usize, &'r ClassifiedFile)> {
    let original = record
        .files
        .iter()
        .enumerate()
        .find(|(_, c)| c.name == name && c.size == size && c.sha256.as_deref().is_none_or(|h| h == sha256));
    original.or_else(|| {
        (0..record.files.len())
            .filter_map(|i| record.safe_copy(i))
            .map(|s| (s.original, &s.copy))
            .find(|(_, c)| c.name == name && c.size == size && c.sha256.as_deref() == Some(sha256))
    })
}

/// [`classified`] for an attached file.
fn classified_attachment<'r>(record: &'r InspectionRecord, file: &AttachedFile) -> Option<&'r ClassifiedFile> {
    let hex = sekisho_store::sha256_hex(&file.bytes);
    classified(record, &file.name, file.bytes.len() as u64, &hex).map(|(_, c)| c)
}

/// Whether a file may be downloaded from the portal: every class but Danger.
pub fn downloadable(class: FileClass) -> bool {
    class != FileClass::Danger
}

impl LinkMaker {
    /// The separated variant of inbound message `info` (`prepared`, inspected as `record`) for
    /// recipient `idx` (`address`): a new link to the classification page, the notice in place
    /// of the attachments, and the header with `field` (the inspection summary) on top and the
    /// Subject tagged with `tag`.
    #[allow(clippy::too_many_arguments)]
    pub async fn separated_variant(
        &self,
        config: &Config,
        info: &MessageInfo,
        prepared: &Prepared,
        record: &InspectionRecord,
        idx: i64,
        address: &str,
        (field, tag): (&str, Option<&str>),
    ) -> Result<Vec<u8>, LinkError> {
        let kept = self
            .keep_some(info, prepared, false, |f| {
                classified_attachment(record, f).is_some_and(|c| downloadable(c.class))
            })
            .await?;
        let access = config.inbound.access;
        let link = self.store_link(config, &kept, idx, address, (access, None, None), access_sentences(access, None));
        let link = link.await?;
        let notice = InboundNotice {
            files: &record.files,
            url: link.url,
            expires: link.expires,
            password_in_message: record.password_in_message,
            sanitised: &record.sanitised,
        };
        let spans = prepared.spans();
        let mut last = String::new();
        for _ in 0..3 {
            match link_variant(&prepared.raw, &spans, &inbound_notice_part(&notice, &Self::boundary())) {
                Ok(v) => {
                    let end = header_end(&v).unwrap_or(v.len());
                    let mut out = inbound_header(&v[..end], field, tag);
                    out.extend_from_slice(&v[end..]);
                    return Ok(out);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(LinkError::Message(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::{Outcome, SanitisedCopy};

    fn file(name: &str, size: u64, class: FileClass, sha256: Option<&str>) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size,
            file_type: "text".into(),
            class,
            reason: String::new(),
            sha256: sha256.map(str::to_owned),
            children: Vec::new(),
        }
    }

    #[test]
    fn a_virus_with_a_clean_files_name_and_size_is_never_taken_for_it() {
        let record = InspectionRecord {
            action: Outcome::Separated,
            rule: String::new(),
            files: vec![
                file("a.txt", 68, FileClass::Safe, Some("aa")),
                file("a.txt", 68, FileClass::Danger, Some("bb")),
                file("b.txt", 3, FileClass::Error, None),
            ],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: Vec::new(),
            html_to_text: false,
        };
        assert_eq!(classified(&record, "a.txt", 68, "bb").map(|(i, c)| (i, c.class)), Some((1, FileClass::Danger)));
        assert_eq!(classified(&record, "a.txt", 68, "aa").map(|(i, c)| (i, c.class)), Some((0, FileClass::Safe)));
        assert_eq!(classified(&record, "a.txt", 68, "cc"), None, "a file the record does not list");
        assert_eq!(classified(&record, "b.txt", 3, "dd").map(|(i, _)| i), Some(2), "no hash recorded: name and size");
        let attached = AttachedFile {
            name: "a.txt".into(),
            content_type: "text/plain".into(),
            span: (0, 0),
            bytes: vec![b'x'; 68],
        };
        assert!(classified_attachment(&record, &attached).is_none(), "neither hash is the file's");
    }

    #[test]
    fn a_safe_sanitised_copy_is_classified_at_its_originals_place() {
        let copy = |class| SanitisedCopy {
            original: 0,
            done: "VBA project removed".into(),
            copy: file("a.xlsx", 50, class, Some("cc")),
        };
        let mut record = InspectionRecord {
            action: Outcome::Delivered,
            rule: String::new(),
            files: vec![file("a.xlsm", 68, FileClass::Danger, Some("aa"))],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: vec![copy(FileClass::Safe)],
            html_to_text: false,
        };
        assert_eq!(classified(&record, "a.xlsx", 50, "cc").map(|(i, c)| (i, c.class)), Some((0, FileClass::Safe)));
        assert_eq!(classified(&record, "a.xlsx", 50, "dd"), None, "another file of the copy's name");
        record.sanitised = vec![copy(FileClass::Error)];
        assert_eq!(classified(&record, "a.xlsx", 50, "cc"), None, "a copy that is not Safe is never kept");
    }
}
