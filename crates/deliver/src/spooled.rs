//! The header block of a spooled message, read once for every step that rewrites only the
//! header (inbound summary, Authentication-Results, a copy naming only its recipient).

use std::io::Read as _;
use std::path::Path;

use sekisho_config::Config;
use sekisho_rewrite::inbound::header_end;

/// How much more than `[smtp] max_header_size` is read to find the header's end (the Received
/// field sekisho wrote in front of it).
const HEADER_SLACK: usize = 64 << 10;

/// The first bytes of the message spooled at `path`, and where its header block ends in them:
/// all of them for a message that is all header and shorter than the limit; None for a header
/// longer than can be read.
pub(crate) async fn spooled_header(config: &Config, path: &Path) -> std::io::Result<(Vec<u8>, Option<usize>)> {
    let limit = config.smtp.max_header_size.saturating_add(HEADER_SLACK);
    let path = path.to_path_buf();
    let prefix =
        tokio::task::spawn_blocking(move || read_header(&path, limit)).await.map_err(std::io::Error::other)??;
    let end = header_end(&prefix).or((prefix.len() < limit).then_some(prefix.len()));
    Ok((prefix, end))
}

/// The bytes read first, then twice as many each time the header has not ended yet.
const FIRST_READ: u64 = 16 << 10;

/// The first bytes of the file at `path`, up to the empty line that ends its header block, its
/// end or `limit` bytes, whichever comes first: read a block at a time (a header is a few
/// kilobytes; the body after it is not read).
fn read_header(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?.take(limit as u64);
    let mut prefix = Vec::new();
    let mut block = FIRST_READ;
    loop {
        prefix.reserve(usize::try_from(block).unwrap_or(usize::MAX).min(limit - prefix.len()));
        let read = (&mut file).take(block).read_to_end(&mut prefix)?;
        if (read as u64) < block || header_end(&prefix).is_some() {
            return Ok(prefix);
        }
        block *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reading the whole limit gave: the same header end, wherever it falls.
    #[test]
    fn the_header_ends_where_reading_the_whole_limit_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let field = |n: usize| format!("X-F: {}\r\n", "v".repeat(n));
        let cases = [
            (format!("{}\r\nbody\r\n", field(10)), 100_000),
            (format!("{}\r\n{}", field(40_000), "b".repeat(200_000)), 100_000),
            (format!("{}{}\n\n{}", field(16_370), field(3), "b".repeat(50_000)), 100_000),
            (field(30_000), 100_000),
            (field(30_000), 20_000),
            (format!("{}\r\nbody", field(30_000)), 30_010),
            (String::new(), 100),
        ];
        for (message, limit) in cases {
            std::fs::write(&path, &message).unwrap();
            let mut whole = Vec::new();
            std::fs::File::open(&path).unwrap().take(limit as u64).read_to_end(&mut whole).unwrap();
            let prefix = read_header(&path, limit).unwrap();
            let want = header_end(&whole).or((whole.len() < limit).then_some(whole.len()));
            let got = header_end(&prefix).or((prefix.len() < limit).then_some(prefix.len()));
            assert_eq!(got, want, "{} bytes, limit {limit}", message.len());
            if let Some(end) = want {
                assert_eq!(prefix[..end], whole[..end]);
            }
            assert!(prefix.len() <= whole.len());
        }
    }
}
