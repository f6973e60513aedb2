//! OpenDocument encryption: the ZIP is plain, but META-INF/manifest.xml gives the entries it
//! encrypted an `<manifest:encryption-data>` element.

use super::bytes::find;

/// True when the manifest has an `encryption-data` element (any namespace prefix).
pub(crate) fn manifest_declares_encryption(manifest: &[u8]) -> bool {
    let needle = b"encryption-data";
    let mut from = 0;
    while let Some(at) = find(manifest, needle, from) {
        from = at + needle.len();
        let after = manifest.get(from).copied().unwrap_or(b'>');
        if !(after.is_ascii_whitespace() || after == b'>' || after == b'/') {
            continue;
        }
        // Back over an optional `prefix:` to the `<` that opens the element.
        let mut i = at;
        if i > 0 && manifest[i - 1] == b':' {
            i -= 1;
            while i > 0 && (manifest[i - 1].is_ascii_alphanumeric() || b"_-.".contains(&manifest[i - 1])) {
                i -= 1;
            }
        }
        if i > 0 && manifest[i - 1] == b'<' {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_element_not_the_word() {
        assert!(manifest_declares_encryption(
            b"<manifest:file-entry><manifest:encryption-data manifest:checksum=\"x\">"
        ));
        assert!(manifest_declares_encryption(b"<encryption-data/>"));
        assert!(!manifest_declares_encryption(b"<manifest:file-entry manifest:full-path=\"encryption-data.txt\"/>"));
        assert!(!manifest_declares_encryption(b"no encryption-data here"));
    }
}
