//! The header block of a spooled message, read once for every step that rewrites only the
//! header (inbound summary, Authentication-Results, a copy naming only its recipient).

use std::io::Read as _;
use std::path::Path;

use sekisho_config::Config;

/// How much more than `[smtp] max_header_size` is read to find the header's end (the Received
/// field sekisho wrote in front of it).
const HEADER_SLACK: usize = 64 << 10;

/// The first bytes of the message spooled at `path`, and where its header block ends in them:
/// all of them for a message that is all header and shorter than the limit; None for a header
/// longer than can be read.
pub(crate) async fn spooled_header(config: &Config, path: &Path) -> std::io::Result<(Vec<u8>, Option<usize>)> {
    let limit = config.smtp.max_header_size.saturating_add(HEADER_SLACK);
    let path = path.to_path_buf();
    let prefix = tokio::task::spawn_blocking(move || {
        let mut prefix = Vec::new();
        std::fs::File::open(&path)?.take(limit as u64).read_to_end(&mut prefix)?;
        Ok::<_, std::io::Error>(prefix)
    })
    .await
    .map_err(std::io::Error::other)??;
    let end = sekisho_rewrite::inbound::header_end(&prefix).or((prefix.len() < limit).then_some(prefix.len()));
    Ok((prefix, end))
}
