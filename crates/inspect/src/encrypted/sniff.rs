//! Which format a file is, by its bytes alone (the name is never consulted).

use super::bytes::find;
use super::zip_raw;

/// A format the inspection knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A ZIP archive (also one appended to other data, such as a self-extractor).
    Zip,
    /// A ZIP holding `[Content_Types].xml`: .docx, .xlsx, .pptx.
    Ooxml,
    /// A ZIP holding `mimetype` and `META-INF/manifest.xml`: .odt, .ods, .odp.
    OpenDocument,
    /// A 7z archive.
    SevenZip,
    /// A RAR archive, format 4 (RAR 1.5 to 4.x).
    Rar4,
    /// A RAR archive, format 5.
    Rar5,
    /// A Compound File (OLE2): legacy Office documents, encrypted OOXML, Outlook .msg.
    Cfb,
    /// A PDF (its header may follow up to 1024 bytes of junk).
    Pdf,
    /// A gzip stream (.gz, .tgz).
    Gzip,
    /// A bzip2 stream (.bz2).
    Bzip2,
    /// An xz stream (.xz).
    Xz,
    /// A POSIX (ustar) or GNU tar archive.
    Tar,
    /// A TNEF stream (`winmail.dat`): Outlook's wrapper of a message's attachments.
    Tnef,
    /// A BinHex 4.0 text (.hqx): a Macintosh file in printable characters.
    BinHex,
    /// A saved email message (.eml), recognised by its header.
    Message,
    /// Anything else: nothing inside to inspect.
    Other,
}

const SEVEN_Z: &[u8] = b"7z\xBC\xAF\x27\x1C";
const RAR5: &[u8] = b"Rar!\x1A\x07\x01\x00";
const RAR4: &[u8] = b"Rar!\x1A\x07\x00";
const CFB: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const GZIP: &[u8] = b"\x1F\x8B\x08";
const BZIP2_BLOCK: &[u8] = b"1AY&SY";
const XZ: &[u8] = b"\xFD7zXZ\x00";
const TNEF: &[u8] = b"\x78\x9F\x3E\x22";
/// PDF readers accept a header that starts within the first 1024 bytes.
const PDF_HEADER_WINDOW: usize = 1024;

/// The format of `bytes`. A ZIP refined to OOXML or OpenDocument needs its entry names, so
/// this says [`Format::Zip`] for those; the inspection's [`Report`](super::Report) refines it.
pub fn sniff(bytes: &[u8]) -> Format {
    candidates(bytes).first().copied().unwrap_or(Format::Other)
}

/// Every format `bytes` may be read as. A signature at the start decides alone; otherwise a
/// file can be both a PDF (header after junk) and a ZIP (directory at the end), and is
/// inspected as both.
pub(crate) fn candidates(bytes: &[u8]) -> Vec<Format> {
    if let Some(format) = by_signature(bytes) {
        return vec![format];
    }
    let mut out = Vec::new();
    if pdf_start(bytes).is_some() {
        out.push(Format::Pdf);
    }
    if zip_raw::has_directory(bytes) {
        out.push(Format::Zip);
    }
    if out.is_empty() && textual(bytes) {
        if crate::content::binhex::starts(bytes).is_some() {
            out.push(Format::BinHex);
        } else if crate::content::message::looks_like_message(bytes) {
            out.push(Format::Message);
        }
    }
    out
}

fn by_signature(bytes: &[u8]) -> Option<Format> {
    if zip_raw::starts_like_zip(bytes).is_some() {
        Some(Format::Zip)
    } else if bytes.starts_with(SEVEN_Z) {
        Some(Format::SevenZip)
    } else if bytes.starts_with(RAR5) {
        Some(Format::Rar5)
    } else if bytes.starts_with(RAR4) {
        Some(Format::Rar4)
    } else if bytes.starts_with(CFB) {
        Some(Format::Cfb)
    } else if bytes.starts_with(GZIP) {
        Some(Format::Gzip)
    } else if bytes.len() >= 10
        && bytes.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&bytes[3])
        && &bytes[4..10] == BZIP2_BLOCK
    {
        Some(Format::Bzip2)
    } else if bytes.starts_with(XZ) {
        Some(Format::Xz)
    } else if bytes.starts_with(TNEF) {
        Some(Format::Tnef)
    } else if crate::content::tar::is_tar(bytes) {
        Some(Format::Tar)
    } else {
        None
    }
}

/// True when `bytes` may be text (no NUL in their first KiB): only then are the formats
/// recognised by their words (BinHex, a message, HTML) looked for.
pub(crate) fn textual(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(1024)]).is_none()
}

/// Where `%PDF-` starts, if within the first 1024 bytes.
pub(crate) fn pdf_start(bytes: &[u8]) -> Option<usize> {
    let window = &bytes[..bytes.len().min(PDF_HEADER_WINDOW + 4)];
    find(window, b"%PDF-", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decide_not_names() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Format::Zip);
        assert_eq!(sniff(b"PK\x05\x06"), Format::Zip);
        assert_eq!(sniff(b"PK00PK\x03\x04"), Format::Zip);
        assert_eq!(sniff(b"PK\x07\x08PK\x03\x04"), Format::Zip);
        assert_eq!(sniff(b"7z\xBC\xAF\x27\x1C\x00\x04"), Format::SevenZip);
        assert_eq!(sniff(b"Rar!\x1A\x07\x01\x00"), Format::Rar5);
        assert_eq!(sniff(b"Rar!\x1A\x07\x00"), Format::Rar4);
        assert_eq!(sniff(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), Format::Cfb);
        assert_eq!(sniff(b"%PDF-1.7"), Format::Pdf);
        assert_eq!(sniff(b"hello"), Format::Other);
        assert_eq!(sniff(b""), Format::Other);
    }

    #[test]
    fn pdf_header_may_follow_junk_up_to_1024_bytes() {
        let mut late = vec![b'x'; 1023];
        late.extend_from_slice(b"%PDF-1.4");
        assert_eq!(sniff(&late), Format::Pdf);
        let mut too_late = vec![b'x'; 1025];
        too_late.extend_from_slice(b"%PDF-1.4");
        assert_eq!(sniff(&too_late), Format::Other);
    }
}
