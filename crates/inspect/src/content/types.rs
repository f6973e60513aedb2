//! What a file is by its bytes: a magic-number table of our own (the formats a mail gateway
//! meets, with the hazards they carry), never the name. `file-format` was considered; the few
//! dozen signatures here are what the hazards need, with no dependency to audit.

use crate::encrypted::Format;
use crate::encrypted::bytes::{find, le32};

/// What the bytes of a file are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sniffed {
    /// A label for people: "PDF document", "Windows executable (PE)".
    pub(crate) label: String,
    /// The family a name's extension is compared with (`NameMismatch`), when the type is
    /// recognised confidently.
    pub(crate) family: Option<&'static str>,
    /// A native executable: "PE", "ELF", "Mach-O".
    pub(crate) executable: Option<&'static str>,
    /// A disk image Windows mounts: "iso", "vhd", "vhdx", "img".
    pub(crate) disk_image: Option<&'static str>,
    /// A format that runs embedded content: "OneNote", "CHM".
    pub(crate) active: Option<&'static str>,
    /// A Windows shortcut (.lnk).
    pub(crate) shortcut: bool,
}

impl Sniffed {
    fn new(label: &str, family: Option<&'static str>) -> Self {
        Sniffed { label: label.to_string(), family, executable: None, disk_image: None, active: None, shortcut: false }
    }
}

const LNK: &[u8] = b"\x4C\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46";
const ONENOTE: &[u8] = b"\xE4\x52\x5C\x7B\x8C\xD8\xA7\x4D\xAE\xB1\x53\x78\xD0\x29\x96\xD3";

/// The native executable format of `bytes`, if it is one.
pub(crate) fn executable(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"MZ") {
        let pe = le32(bytes, 0x3C).map(|o| o as usize);
        return match pe {
            Some(o) if bytes.get(o..o + 4) == Some(b"PE\0\0") => Some("PE"),
            // A DOS program, or a PE whose header lies beyond what we have: still a program.
            _ => Some("MZ"),
        };
    }
    if bytes.starts_with(b"\x7FELF") {
        return Some("ELF");
    }
    let magic = bytes.get(..4)?;
    if [b"\xFE\xED\xFA\xCE", b"\xFE\xED\xFA\xCF", b"\xCE\xFA\xED\xFE", b"\xCF\xFA\xED\xFE"].iter().any(|m| magic == *m)
    {
        return Some("Mach-O");
    }
    // A universal binary; Java class files share the magic but have a version >= 45 there.
    if magic == b"\xCA\xFE\xBA\xBE"
        && bytes.get(4..8).is_some_and(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) < 20)
    {
        return Some("Mach-O");
    }
    None
}

/// What `bytes` are, given the format the walk found (refined: OOXML, OpenDocument).
pub(crate) fn sniff(bytes: &[u8], format: Format, office: Option<&str>) -> Sniffed {
    if let Some(exe) = executable(bytes) {
        let label = match exe {
            "PE" => "Windows executable (PE)",
            "MZ" => "DOS/Windows executable (MZ)",
            "ELF" => "ELF executable",
            _ => "Mach-O executable",
        };
        let mut s = Sniffed::new(label, Some(if exe == "MZ" { "pe" } else { exe_family(exe) }));
        s.executable = Some(if exe == "MZ" { "PE" } else { exe });
        return s;
    }
    match format {
        Format::Zip => return Sniffed::new("ZIP archive", Some("zip")),
        Format::Ooxml => return Sniffed::new(office.unwrap_or("Office Open XML document"), Some("zip")),
        Format::OpenDocument => return Sniffed::new(office.unwrap_or("OpenDocument file"), Some("zip")),
        Format::SevenZip => return Sniffed::new("7z archive", Some("7z")),
        Format::Rar4 | Format::Rar5 => return Sniffed::new("RAR archive", Some("rar")),
        Format::Cfb => return Sniffed::new(office.unwrap_or("Compound File (OLE2)"), Some("cfb")),
        Format::Pdf => return Sniffed::new("PDF document", Some("pdf")),
        Format::Gzip => return Sniffed::new("gzip compressed data", Some("gzip")),
        Format::Bzip2 => return Sniffed::new("bzip2 compressed data", Some("bzip2")),
        Format::Xz => return Sniffed::new("xz compressed data", Some("xz")),
        Format::Tar => return Sniffed::new("tar archive", Some("tar")),
        Format::Tnef => return Sniffed::new("TNEF attachment container (winmail.dat)", Some("tnef")),
        Format::BinHex => return Sniffed::new("BinHex 4.0 encoded file", None),
        Format::Message => return Sniffed::new("email message", None),
        Format::Other => {}
    }
    if bytes.starts_with(LNK) {
        let mut s = Sniffed::new("Windows shortcut (.lnk)", Some("lnk"));
        s.shortcut = true;
        return s;
    }
    if bytes.starts_with(ONENOTE) {
        let mut s = Sniffed::new("OneNote document", Some("one"));
        s.active = Some("OneNote");
        return s;
    }
    if bytes.starts_with(b"ITSF") {
        let mut s = Sniffed::new("compiled HTML help (CHM)", Some("chm"));
        s.active = Some("CHM");
        return s;
    }
    if let Some(image) = disk_image(bytes) {
        let label = match image {
            "iso" => "ISO 9660 disk image",
            "vhd" => "virtual hard disk (VHD)",
            "vhdx" => "virtual hard disk (VHDX)",
            _ => "disk image (FAT)",
        };
        let mut s = Sniffed::new(label, Some(image));
        s.disk_image = Some(image);
        return s;
    }
    let table: [(&[u8], &str, &'static str); 9] = [
        (b"\x89PNG\r\n\x1A\n", "PNG image", "png"),
        (b"\xFF\xD8\xFF", "JPEG image", "jpeg"),
        (b"GIF87a", "GIF image", "gif"),
        (b"GIF89a", "GIF image", "gif"),
        (b"{\\rtf", "RTF document", "rtf"),
        (b"II*\x00", "TIFF image", "tiff"),
        (b"MM\x00*", "TIFF image", "tiff"),
        (b"\x00asm", "WebAssembly module", "wasm"),
        (b"OggS", "Ogg media", "ogg"),
    ];
    for (magic, label, family) in table {
        if bytes.starts_with(magic) {
            return Sniffed::new(label, Some(family));
        }
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Sniffed::new("WebP image", Some("webp"));
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return Sniffed::new("MP4/QuickTime media", None);
    }
    text_type(bytes)
}

fn exe_family(exe: &str) -> &'static str {
    match exe {
        "PE" => "pe",
        "ELF" => "elf",
        _ => "macho",
    }
}

/// The disk image format of `bytes`, if it is one Windows mounts.
fn disk_image(bytes: &[u8]) -> Option<&'static str> {
    if [0x8001, 0x8801, 0x9001].iter().any(|&at| bytes.get(at..at + 5) == Some(b"CD001")) {
        return Some("iso");
    }
    if bytes.starts_with(b"vhdxfile") {
        return Some("vhdx");
    }
    if bytes.starts_with(b"conectix") || (bytes.len() >= 512 && bytes[bytes.len() - 512..].starts_with(b"conectix")) {
        return Some("vhd");
    }
    // A FAT boot sector: jump, boot signature, and "FAT" where FAT12/16 or FAT32 put it.
    let boot = bytes.len() >= 512 && bytes[510] == 0x55 && bytes[511] == 0xAA && matches!(bytes[0], 0xEB | 0xE9);
    if boot && (bytes.get(54..57) == Some(b"FAT") || bytes.get(82..85) == Some(b"FAT")) {
        return Some("img");
    }
    None
}

/// Text-like content: HTML, XML, a script's shebang, plain text, or data.
fn text_type(bytes: &[u8]) -> Sniffed {
    let head = &bytes[..bytes.len().min(4096)];
    if head.is_empty() {
        return Sniffed::new("empty", None);
    }
    let utf16 = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    // More than one byte in twenty a control character: data. Counted only until that is
    // known (random bytes tell within the first half of the head).
    let control = |&&b: &&u8| b == 0 || (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B));
    if !utf16 && head.iter().filter(control).nth(head.len() / 20).is_some() {
        return Sniffed::new("data", None);
    }
    if is_html(head) {
        return Sniffed::new("HTML document", Some("html"));
    }
    let trimmed = head.trim_ascii_start();
    let trimmed = trimmed.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(trimmed);
    if trimmed.starts_with(b"<?xml") {
        if find(head, b"<svg", 0).is_some() {
            return Sniffed::new("SVG image", Some("svg"));
        }
        return Sniffed::new("XML document", None);
    }
    if trimmed.starts_with(b"<svg") {
        return Sniffed::new("SVG image", Some("svg"));
    }
    if trimmed.starts_with(b"#!") {
        return Sniffed::new("script (#!)", None);
    }
    if trimmed.starts_with(b"[InternetShortcut]") {
        return Sniffed::new("internet shortcut (.url)", None);
    }
    Sniffed::new("text", None)
}

/// HTML by its first tags (case-insensitive), as browsers sniff it.
pub(crate) fn is_html(head: &[u8]) -> bool {
    let lower = head[..head.len().min(1024)].to_ascii_lowercase();
    let t = lower.trim_ascii_start();
    let t = t.strip_prefix(b"\xef\xbb\xbf").unwrap_or(t);
    [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<script",
        b"<body",
        b"<iframe",
        b"<!--",
        b"<a ",
        b"<div",
        b"<p>",
        b"<table",
        b"<meta",
        b"<form",
        b"<title",
    ]
    .iter()
    .any(|tag| t.starts_with(tag))
        || find(&lower, b"<html", 0).is_some()
        || find(&lower, b"<script", 0).is_some()
}

/// The family a file name's extension claims, for the types recognised confidently.
pub(crate) fn claimed_family(ext: &str) -> Option<&'static [&'static str]> {
    Some(match ext {
        "pdf" => &["pdf"],
        "zip" | "docx" | "docm" | "xlsx" | "xlsm" | "pptx" | "pptm" | "odt" | "ods" | "odp" | "jar" | "apk"
        | "epub" => &["zip"],
        "doc" => &["cfb", "rtf"],
        "xls" | "ppt" | "msg" | "msi" => &["cfb"],
        "7z" => &["7z"],
        "rar" => &["rar"],
        "gz" | "tgz" => &["gzip"],
        "bz2" | "tbz2" => &["bzip2"],
        "xz" | "txz" => &["xz"],
        "tar" => &["tar"],
        "png" => &["png"],
        "jpg" | "jpeg" => &["jpeg"],
        "gif" => &["gif"],
        "tif" | "tiff" => &["tiff"],
        "webp" => &["webp"],
        "rtf" => &["rtf"],
        "exe" | "dll" | "scr" | "sys" | "cpl" | "ocx" => &["pe"],
        "lnk" => &["lnk"],
        "iso" => &["iso"],
        "vhd" => &["vhd"],
        "vhdx" => &["vhdx"],
        "one" => &["one"],
        "chm" => &["chm"],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe() -> Vec<u8> {
        let mut pe = b"MZ".to_vec();
        pe.resize(0x100, 0);
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe
    }

    #[test]
    fn executables_by_magic() {
        assert_eq!(executable(&pe()), Some("PE"));
        assert_eq!(executable(b"\x7FELF\x02\x01\x01"), Some("ELF"));
        assert_eq!(executable(b"\xCF\xFA\xED\xFE\x07\x00"), Some("Mach-O"));
        assert_eq!(executable(b"\xCA\xFE\xBA\xBE\x00\x00\x00\x02"), Some("Mach-O"));
        assert_eq!(executable(b"\xCA\xFE\xBA\xBE\x00\x00\x00\x34"), None, "a Java class");
        assert_eq!(executable(b"%PDF-1.4"), None);
    }

    #[test]
    fn labels() {
        assert_eq!(sniff(&pe(), Format::Other, None).label, "Windows executable (PE)");
        assert_eq!(sniff(b"%PDF-1.7", Format::Pdf, None).label, "PDF document");
        assert_eq!(sniff(b"<!DOCTYPE html><p>", Format::Other, None).label, "HTML document");
        assert_eq!(sniff(b"a,b,c\n1,2,3\n", Format::Other, None).label, "text");
        assert_eq!(sniff(&[0u8, 1, 2, 3, 0, 0], Format::Other, None).label, "data");
        // One control byte in twenty is still text; one more is data.
        let mut text = vec![b'a'; 100];
        text[..5].fill(1);
        assert_eq!(sniff(&text, Format::Other, None).label, "text");
        text[50] = 0;
        assert_eq!(sniff(&text, Format::Other, None).label, "data");
        text[..2].copy_from_slice(b"\xFF\xFE");
        assert_eq!(sniff(&text, Format::Other, None).label, "text", "UTF-16 is not counted");
        assert!(sniff(LNK, Format::Other, None).shortcut);
        assert_eq!(sniff(ONENOTE, Format::Other, None).active, Some("OneNote"));
        assert_eq!(sniff(b"ITSF\x03\x00", Format::Other, None).active, Some("CHM"));
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(sniff(&iso, Format::Other, None).disk_image, Some("iso"));
        assert_eq!(sniff(b"vhdxfile\0\0", Format::Other, None).disk_image, Some("vhdx"));
    }
}
