//! Files a message carries outside attachment parts: uuencoded or BinHex-encoded in a text,
//! and bytes in a multipart's preamble or epilogue (which no standard reader shows, but some
//! mail programs and filters do). Each is returned as a name ("" when it has none) and bytes.

use crate::encrypted::sniff::candidates;

use super::transfer;

/// Shortest base64 run taken for a file in a preamble or epilogue.
const MIN_BASE64: usize = 64;

/// Files uuencoded or BinHex-encoded in `text`.
pub(super) fn in_text(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if text.starts_with(b"begin ") || memchr::memmem::find(text, b"\nbegin ").is_some() {
        out.extend(transfer::uuencoded(text));
    }
    if let Some((name, data)) = crate::content::binhex::decode(text) {
        out.push((name, data));
    }
    out
}

/// The bytes of a multipart's preamble: from the end of its header to its first delimiter.
pub(super) fn preamble(region: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let cut = if boundary.is_empty() { None } else { memchr::memmem::rfind(region, delimiter.as_bytes()) };
    region_files(&region[..cut.unwrap_or(region.len())])
}

/// The bytes of a multipart's epilogue: after its close delimiter.
pub(super) fn epilogue(region: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let close = format!("--{boundary}--");
    let start = match memchr::memmem::find(region, close.as_bytes()) {
        Some(at) => at + close.len(),
        None => 0,
    };
    region_files(&region[start..])
}

/// What a preamble or epilogue holds: a file in a known format as raw bytes, a base64 block
/// that decodes to one, or files encoded as in a text.
fn region_files(region: &[u8]) -> Vec<(String, Vec<u8>)> {
    let trimmed = region.trim_ascii();
    if trimmed.is_empty() {
        return Vec::new();
    }
    if known(trimmed) {
        return vec![(String::new(), trimmed.to_vec())];
    }
    let found = in_text(trimmed);
    if !found.is_empty() {
        return found;
    }
    let base64_like = trimmed.len() >= MIN_BASE64
        && trimmed.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'));
    if base64_like {
        let decoded = transfer::base64(trimmed);
        if known(&decoded) {
            return vec![(String::new(), decoded)];
        }
    }
    Vec::new()
}

/// A format the inspection opens, or an executable.
fn known(bytes: &[u8]) -> bool {
    !candidates(bytes).is_empty() || crate::content::is_executable(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_before_the_first_delimiter_is_no_file() {
        assert!(preamble(b"This is a multi-part message in MIME format.\r\n--B\r\n", "B").is_empty());
        assert!(epilogue(b"\r\n--B--\r\n", "B").is_empty());
    }

    #[test]
    fn a_zip_or_base64_exe_in_the_epilogue_is_a_file() {
        let found = epilogue(b"\r\n--B--\r\nPK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", "B");
        assert_eq!(found.len(), 1);
        assert!(found[0].1.starts_with(b"PK\x05\x06"));
        let mut pe = b"MZ".to_vec();
        pe.resize(0x80, 0);
        pe[0x3c] = 0x40;
        pe[0x40..0x44].copy_from_slice(b"PE\0\0");
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&pe);
        let found = preamble(format!("{text}\r\n--B\r\n").as_bytes(), "B");
        assert_eq!(found, vec![(String::new(), pe)]);
    }
}
