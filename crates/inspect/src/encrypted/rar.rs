//! RAR 4 and RAR 5: headers parsed here (no unrar code, no licence question). Encrypted
//! headers or files are findings; stored (uncompressed) entries are inspected in turn; RAR
//! compression is not decoded, which the report notes.

use std::ops::Range;

use super::error::FormatError;
use super::report::{Kind, Reason};
use super::sniff::Format;
use super::walker::{Walker, child};
use super::{rar4, rar5};

/// One file (or service) header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RarFile {
    pub(crate) name: String,
    pub(crate) encrypted: bool,
    /// Stored without compression: the data is the file itself.
    pub(crate) stored: bool,
    /// Continued from or in another volume.
    pub(crate) split: bool,
    pub(crate) directory: bool,
    /// A service header (comment, quick-open data), not a file.
    pub(crate) service: bool,
    pub(crate) unpacked_size: u64,
    pub(crate) data: Range<usize>,
}

/// What a scan of the headers saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Headers after the archive (main) header are encrypted: nothing more is readable.
    pub(crate) headers_encrypted: bool,
    pub(crate) multi_volume: bool,
    pub(crate) files: Vec<RarFile>,
    /// Set when the scan stopped early on bad bytes; what came before stands.
    pub(crate) error: Option<FormatError>,
}

/// Reads one block at a position and returns where the next one starts, or `None` to stop.
type Block = fn(&[u8], usize, &mut Scan) -> Result<Option<usize>, FormatError>;

/// Reads blocks from `start` with `block` until it says stop, the data ends, bad bytes or more
/// than `max_files` files.
fn scan(data: &[u8], start: usize, max_files: usize, block: Block) -> Scan {
    let mut scan = Scan::default();
    let mut pos = start;
    while pos < data.len() && scan.files.len() <= max_files {
        match block(data, pos, &mut scan) {
            Ok(Some(next)) => pos = next,
            Ok(None) => break,
            Err(e) => {
                scan.error = Some(e);
                break;
            }
        }
    }
    scan
}

pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8], format: Format) {
    let (version, scan) = match format {
        Format::Rar4 => (4, scan(bytes, rar4::MARKER_LEN, w.entries_left(), rar4::block)),
        _ => (5, scan(bytes, rar5::SIGNATURE_LEN, w.entries_left(), rar5::block)),
    };
    if scan.headers_encrypted {
        w.finding(path, Kind::Rar { version, headers_encrypted: true });
    }
    if let Err(reason) = w.count_entries(scan.files.len()) {
        w.obstacle(path, reason);
    }
    if scan.multi_volume {
        w.obstacle(path, Reason::MultiVolume);
    }
    if let Some(e) = &scan.error {
        w.corrupt(path, format, e);
    }
    let kind = Kind::Rar { version, headers_encrypted: false };
    let mut compressed = 0;
    for file in &scan.files {
        let file_path = child(path, file.name.clone());
        if file.encrypted {
            w.finding(if file.service { path } else { &file_path }, kind);
            if !file.service {
                w.sized(&file_path, file.unpacked_size);
            }
        } else if file.service || file.directory || file.split {
            continue;
        } else if file.stored {
            let data = &bytes[file.data.clone()];
            if let Err(reason) = w.check_declared(data.len() as u64) {
                w.obstacle(&file_path, reason);
                continue;
            }
            w.inspect(&file_path, data);
        } else if file.unpacked_size > 0 {
            compressed += 1;
            let why = "compressed RAR entry: listed, not opened (no RAR decoder)".to_string();
            w.listed(&file_path, file.unpacked_size, crate::content::State::Unreadable { why });
        }
    }
    if compressed > 0 {
        w.note(path, format!("{compressed} compressed RAR entries not opened (no RAR decoder)"));
    }
}
