//! Inbound mail with an inspection record, as it leaves for the internal server: the spooled
//! body with sekisho's summary field on top (and the Subject tagged when `[inbound]
//! subject_tag` is set and a file is not Safe). Only the header block is read and rewritten;
//! the body streams from the spool as it is.

use std::io::Read as _;
use std::path::Path;

use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, InspectionRecord};
use sekisho_rewrite::inbound::{header_end, inbound_header, summary};

use crate::variants::Data;

/// How much of the spooled body is read to find the end of its header block, beyond `[smtp]
/// max_header_size` (the Received field sekisho wrote in front of it).
const HEADER_SLACK: usize = 64 << 10;

/// The data for inbound mail inspected as `record`, spooled at `path`.
pub(crate) async fn headed(config: &Config, record: &InspectionRecord, path: &Path) -> std::io::Result<Data> {
    let limit = config.smtp.max_header_size.saturating_add(HEADER_SLACK);
    let path = path.to_path_buf();
    let prefix = tokio::task::spawn_blocking(move || {
        let mut prefix = Vec::new();
        std::fs::File::open(&path)?.take(limit as u64).read_to_end(&mut prefix)?;
        Ok::<_, std::io::Error>(prefix)
    })
    .await
    .map_err(std::io::Error::other)??;
    let field = summary(record, &config.hostname);
    let tag = Some(config.inbound.subject_tag.as_str()).filter(|t| !t.is_empty() && record.worst() != FileClass::Safe);
    // A message that is all header (no empty line) was read whole when it is shorter than the
    // limit; a longer header than that cannot be, and gets the field in front only.
    let end = header_end(&prefix).or((prefix.len() < limit).then_some(prefix.len()));
    Ok(match end {
        Some(end) => Data::Headed { head: inbound_header(&prefix[..end], &field, tag), resume_at: end as u64 },
        None => Data::Headed { head: inbound_header(b"", &field, None), resume_at: 0 },
    })
}
