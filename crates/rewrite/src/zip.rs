//! The ZIP variant (`inline_format = "zip"`): the attachment parts replaced by one plain ZIP
//! (no password) holding every file, for sites that want a single file per message.

use std::io::Write;

/// One file to put in the ZIP.
#[derive(Debug, Clone, Copy)]
pub struct ZipEntry<'a> {
    /// The name as the sender gave it; made safe for an archive here.
    pub name: &'a str,
    /// Its content.
    pub bytes: &'a [u8],
}

/// A name safe inside a ZIP: no directories, no control characters, no leading dots, unique.
fn entry_name(name: &str, taken: &[String]) -> String {
    let base: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !sekisho_policy::text::hidden(*c))
        .collect();
    let base = base.trim_start_matches('.').trim();
    let base = if base.is_empty() { "attachment" } else { base };
    let mut candidate = base.to_string();
    let mut n = 2;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        candidate = match base.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
            _ => format!("{base} ({n})"),
        };
        n += 1;
    }
    candidate
}

/// Writes a plain ZIP (no password) to any writer, one entry at a time, each under a safe,
/// unique name: in memory for the ZIP variant, streamed for the portal's "download all".
pub struct ZipBuilder<W: Write> {
    zip: zip::ZipWriter<zip::write::StreamWriter<W>>,
    options: zip::write::SimpleFileOptions,
    taken: Vec<String>,
}

impl<W: Write> ZipBuilder<W> {
    /// A ZIP written to `out`, its entries deflated or stored.
    pub fn new(out: W, deflate: bool) -> ZipBuilder<W> {
        let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        ZipBuilder { zip: zip::ZipWriter::new_stream(out), options, taken: Vec::new() }
    }

    /// Adds a file of `size` bytes read from `content`, named after `name`.
    pub fn add(&mut self, name: &str, size: u64, content: &mut dyn std::io::Read) -> std::io::Result<()> {
        let name = entry_name(name, &self.taken);
        let options = self.options.large_file(size >= u32::MAX as u64);
        self.zip.start_file(name.as_str(), options).map_err(std::io::Error::other)?;
        std::io::copy(content, &mut self.zip)?;
        self.taken.push(name);
        Ok(())
    }

    /// Writes the central directory; returns the writer.
    pub fn finish(self) -> std::io::Result<W> {
        Ok(self.zip.finish().map_err(std::io::Error::other)?.into_inner())
    }
}

/// A plain ZIP (deflated) of `entries`, in memory.
pub fn zip_archive(entries: &[ZipEntry<'_>]) -> std::io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(Vec::new(), true);
    for e in entries {
        zip.add(e.name, e.bytes.len() as u64, &mut { e.bytes })?;
    }
    zip.finish()
}

/// The ZIP as a MIME part (headers, empty line, base64 body) named `name`.
pub fn zip_part(zip: &[u8], name: &str) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: application/zip; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&crate::attachment::base64_lines(zip));
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn every_file_is_in_the_zip_under_a_safe_unique_name() {
        let zip = zip_archive(&[
            ZipEntry { name: "報告書.pdf", bytes: b"%PDF-1" },
            ZipEntry { name: "../../etc/passwd", bytes: b"root" },
            ZipEntry { name: "報告書.pdf", bytes: b"%PDF-2" },
            ZipEntry { name: ".\u{202e}fdp.exe", bytes: b"MZ" },
        ])
        .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut sorted: Vec<String> = archive.file_names().map(|n| n.unwrap().into_owned()).collect();
        sorted.sort();
        assert_eq!(sorted, ["fdp.exe", "passwd", "報告書 (2).pdf", "報告書.pdf"]);
        let mut second = String::new();
        archive.by_name("報告書 (2).pdf").unwrap().read_to_string(&mut second).unwrap();
        assert_eq!(second, "%PDF-2");
        assert!(!archive.by_index(0).unwrap().encrypted(), "no password");
    }

    #[test]
    fn the_part_is_base64_in_short_lines() {
        let part = zip_part(&[0u8; 200], "attachments.zip");
        let text = String::from_utf8(part).unwrap();
        assert!(text.starts_with("Content-Type: application/zip; name=\"attachments.zip\"\r\n"));
        assert!(text.split("\r\n").all(|l| l.len() <= 78));
    }
}
