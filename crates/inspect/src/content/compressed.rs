//! gzip, bzip2 and xz: one compressed stream holding one file (often a tar), decompressed in
//! memory within the walk's limits (per entry, total and ratio), then opened in turn.

use std::io::Read;

use bzip2::read::MultiBzDecoder;
use flate2::read::MultiGzDecoder;
use lzma_rust2::XzReader;

use crate::encrypted::Format;
use crate::encrypted::walker::{Walker, child, guard};

/// Opens the compressed stream `bytes` of `format` found at `path`.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8], format: Format) {
    if let Err(reason) = w.count_entries(1) {
        return w.obstacle(path, reason);
    }
    let name = inner_name(path.last().map_or("", String::as_str), bytes, format);
    let memory_kb = u32::try_from(w.limits.max_decoder_memory / 1024).unwrap_or(u32::MAX);
    let read = guard(|| {
        let mut reader: Box<dyn Read + '_> = match format {
            Format::Gzip => Box::new(MultiGzDecoder::new(bytes)),
            Format::Bzip2 => Box::new(MultiBzDecoder::new(bytes)),
            _ => Box::new(XzReader::new_mem_limit(bytes, true, memory_kb)),
        };
        w.read_entry(&mut reader, 0, format)
    });
    let entry_path = child(path, name);
    match read {
        Ok(Ok(data)) => {
            w.inspect_owned(&entry_path, data);
        }
        Ok(Err(reason)) => w.obstacle(&entry_path, reason),
        Err(panic) => w.corrupt(path, format, panic),
    }
}

/// The inner file's name: the name a gzip header records, else the outer name without its
/// compression suffix (`.tgz` gives `.tar`).
fn inner_name(outer: &str, bytes: &[u8], format: Format) -> String {
    if format == Format::Gzip
        && let Some(name) = gzip_name(bytes)
    {
        return name;
    }
    let lower = outer.to_ascii_lowercase();
    for (suffix, replacement) in [
        (".tgz", ".tar"),
        (".tbz2", ".tar"),
        (".tbz", ".tar"),
        (".txz", ".tar"),
        (".gz", ""),
        (".bz2", ""),
        (".xz", ""),
    ] {
        if lower.ends_with(suffix) && outer.len() > suffix.len() {
            return format!("{}{replacement}", &outer[..outer.len() - suffix.len()]);
        }
    }
    format!("{outer} (decompressed)")
}

/// The FNAME field of a gzip header (RFC 1952 2.3.1), if set.
fn gzip_name(bytes: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    let flags = *bytes.get(3)?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let len = u16::from_le_bytes([*bytes.get(10)?, *bytes.get(11)?]);
        pos = 12 + usize::from(len);
    }
    let rest = bytes.get(pos..)?;
    let end = rest.iter().take(1024).position(|&b| b == 0)?;
    let name = String::from_utf8_lossy(&rest[..end]);
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    (!base.is_empty()).then(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_inner_file() {
        assert_eq!(inner_name("a.tar.gz", b"\x1f\x8b\x08\x00", Format::Gzip), "a.tar");
        assert_eq!(inner_name("a.TGZ", b"\x1f\x8b\x08\x00", Format::Gzip), "a.tar");
        assert_eq!(inner_name("x.bz2", b"", Format::Bzip2), "x");
        assert_eq!(inner_name("blob", b"", Format::Xz), "blob (decompressed)");
        let mut named = b"\x1f\x8b\x08\x08\0\0\0\0\0\x03".to_vec();
        named.extend_from_slice(b"dir/report.docx\0rest");
        assert_eq!(inner_name("whatever.gz", &named, Format::Gzip), "report.docx");
    }
}
