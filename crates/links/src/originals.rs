//! The originals a sanitised copy stands in for: sealed into the file store when the message
//! is delivered (inline with the copy, or separated with the copy kept for download), recorded
//! for the administrators only (`sekisho_store::originals`). They are never
//! [`sekisho_store::LinkFile`]s, so no recipient's link can reach them.

use sekisho_inspect::mime::{AttachedFile, MessageLimits, attachments};
use sekisho_policy::inbound::InspectionRecord;
use sekisho_store::{MessageInfo, WithheldOriginal};

use crate::{LinkError, LinkMaker, classified, header_from, header_subject};

/// The positions among `record`'s files of those in `files` that a Safe sanitised copy stands
/// in for: (position, file), each position once.
pub fn withheld_files<'f>(record: &InspectionRecord, files: &'f [AttachedFile]) -> Vec<(usize, &'f AttachedFile)> {
    let mut out: Vec<(usize, &AttachedFile)> = Vec::new();
    for f in files {
        let hex = sekisho_store::sha256_hex(&f.bytes);
        let Some((i, c)) = classified(record, &f.name, f.bytes.len() as u64, &hex) else { continue };
        // The original itself, not its copy (which `classified` puts at the same position).
        let original = std::ptr::eq(c, &record.files[i]);
        if original && record.safe_copy(i).is_some() && !out.iter().any(|(p, _)| *p == i) {
            out.push((i, f));
        }
    }
    out
}

impl LinkMaker {
    /// Seals the originals of message `info` (spooled as `raw`, inspected as `record`) that a
    /// Safe sanitised copy stands in for, and records them for the administrators; nothing
    /// when an earlier attempt did. Returns how many were kept now.
    pub async fn withhold_originals(
        &self,
        info: &MessageInfo,
        record: &InspectionRecord,
        raw: Vec<u8>,
    ) -> Result<usize, LinkError> {
        let stores = self.queue.stores();
        if !stores.originals.withheld(Some(&info.id)).await?.is_empty() {
            return Ok(0);
        }
        let recipients = match stores.messages.message_without_history(&info.id).await? {
            Some(d) => d.recipients.into_iter().map(|r| r.address).collect(),
            None => Vec::new(),
        };
        let record_c = record.clone();
        let taken = tokio::task::spawn_blocking(move || {
            let found = attachments(&raw, &MessageLimits::default(), false)
                .map_err(|e| LinkError::Message(format!("cannot take the originals out of the message: {e}")))?;
            let taken: Vec<_> = withheld_files(&record_c, &found.files)
                .into_iter()
                .map(|(i, f)| (i, f.name.clone(), f.content_type.clone(), f.bytes.clone()))
                .collect();
            Ok::<_, LinkError>((taken, header_from(&raw), header_subject(&raw)))
        });
        let (taken, from, subject) = taken.await??;
        let mut sealed = Vec::with_capacity(taken.len());
        for (i, name, content_type, bytes) in taken {
            match self.files.keep(move |store| store.seal(&bytes[..])).await {
                Ok(s) => sealed.push((i, name, content_type, s)),
                Err(e) => {
                    let ids: Vec<String> = sealed.iter().map(|(_, _, _, s)| s.id.clone()).collect();
                    if let Err(removal) = self.files.discard(&ids).await {
                        tracing::warn!(queue_id = %info.id, error = %removal, "originals of a failed keep could not all be removed");
                    }
                    return Err(LinkError::Store(e));
                }
            }
        }
        let now = chrono::Utc::now().timestamp();
        let rows: Vec<WithheldOriginal> = sealed
            .iter()
            .map(|(i, name, content_type, s)| {
                let copy = record.safe_copy(*i).map(|c| &c.copy);
                WithheldOriginal {
                    message_id: info.id.clone(),
                    idx: *i as i64,
                    file_id: s.id.clone(),
                    key: s.key.clone(),
                    name: name.clone(),
                    content_type: content_type.clone(),
                    size: s.size,
                    sha256: s.sha256.clone(),
                    reason: record.files[*i].reason.clone(),
                    copy_name: copy.map(|c| c.name.clone()).unwrap_or_default(),
                    copy_sha256: copy.and_then(|c| c.sha256.clone()).unwrap_or_default(),
                    sender: info.sender.clone(),
                    header_from: from.clone(),
                    subject: subject.clone(),
                    recipients: recipients.clone(),
                    received_at: info.received_at,
                    kept_at: now,
                }
            })
            .collect();
        let stored = stores.originals.put_withheld(&rows).await;
        if !matches!(stored, Ok(true)) {
            let ids: Vec<String> = rows.iter().map(|r| r.file_id.clone()).collect();
            if let Err(e) = self.files.discard(&ids).await {
                tracing::warn!(queue_id = %info.id, error = %e, "originals kept twice could not all be removed");
            }
        }
        if stored? {
            tracing::info!(queue_id = %info.id, originals = rows.len(), "originals withheld, kept sealed for the administrators");
            Ok(rows.len())
        } else {
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::{ClassifiedFile, FileClass, Outcome, SanitisedCopy};

    fn hex(bytes: &[u8]) -> String {
        sekisho_store::sha256_hex(bytes)
    }

    fn classified_file(name: &str, bytes: &[u8], class: FileClass) -> ClassifiedFile {
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

    fn attached(name: &str, bytes: &[u8]) -> AttachedFile {
        AttachedFile { name: name.into(), content_type: "x/y".into(), span: (0, 0), bytes: bytes.to_vec() }
    }

    #[test]
    fn only_originals_with_a_safe_copy_are_withheld_never_the_copy_or_other_files() {
        let mut record = InspectionRecord {
            action: Outcome::Delivered,
            rule: String::new(),
            files: vec![
                classified_file("a.xlsm", b"macro", FileClass::Danger),
                classified_file("b.txt", b"text", FileClass::Safe),
                classified_file("c.docm", b"other macro", FileClass::Danger),
            ],
            antivirus: String::new(),
            password_in_message: false,
            sanitised: vec![
                SanitisedCopy {
                    original: 0,
                    done: "VBA project removed".into(),
                    copy: classified_file("a.xlsx", b"copy", FileClass::Safe),
                },
                SanitisedCopy {
                    original: 2,
                    done: "VBA project removed".into(),
                    copy: classified_file("c.docx", b"copy 2", FileClass::Error),
                },
            ],
            html_to_text: false,
        };
        let files = [
            attached("a.xlsm", b"macro"),
            attached("a.xlsm", b"macro"),
            attached("a.xlsx", b"copy"),
            attached("b.txt", b"text"),
            attached("c.docm", b"other macro"),
        ];
        let found: Vec<(usize, &str)> =
            withheld_files(&record, &files).iter().map(|(i, f)| (*i, f.name.as_str())).collect();
        assert_eq!(found, [(0, "a.xlsm")], "a copy that is not Safe leaves its original delivered as decided");
        record.sanitised.clear();
        assert!(withheld_files(&record, &files).is_empty());
    }
}
