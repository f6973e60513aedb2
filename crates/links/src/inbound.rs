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

/// The classified file an attached file is, matched by name and size (None: the inspection
/// did not list it, and it is not kept).
fn classified<'r>(record: &'r InspectionRecord, file: &AttachedFile) -> Option<&'r ClassifiedFile> {
    record.files.iter().find(|c| c.name == file.name && c.size == file.bytes.len() as u64)
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
        let kept =
            self.keep_some(info, prepared, |f| classified(record, f).is_some_and(|c| downloadable(c.class))).await?;
        let access = config.inbound.access;
        let link = self.store_link(config, &kept, idx, address, (access, None, None), access_sentences(access, None));
        let link = link.await?;
        let notice = InboundNotice {
            files: &record.files,
            url: link.url,
            expires: link.expires,
            password_in_message: record.password_in_message,
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
