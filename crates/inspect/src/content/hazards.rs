//! The hazards a file shows: by its bytes first, by its name where only the name decides what
//! Windows does with it (scripts, shortcuts), and the name that lies about the bytes.

use super::Hazard;
use super::smuggling;
use super::types::{Sniffed, claimed_family};

/// Extensions Windows runs as scripts or programs on a double click.
const SCRIPTS: [&str; 16] =
    ["js", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "ps1", "bat", "cmd", "scr", "pif", "com", "cpl", "msi", "vb"];
const DISK_IMAGES: [&str; 4] = ["iso", "img", "vhd", "vhdx"];

/// The extension of `name`, lower case, without the dot ("" when none). Trailing dots and
/// spaces, which Windows strips, are stripped first.
pub(crate) fn extension(name: &str) -> String {
    let name = name.trim_end_matches(['.', ' ']);
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() || !ext.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Every hazard of a file named `name` with `bytes`, sniffed as `sniffed`; `macros` says where
/// an Office container holds macros.
pub(crate) fn collect(name: &str, bytes: &[u8], sniffed: &Sniffed, macros: Option<String>) -> Vec<Hazard> {
    let ext = extension(name);
    let mut out = Vec::new();
    if let Some(exe) = sniffed.executable {
        out.push(Hazard::Executable(exe.to_string()));
    }
    if SCRIPTS.contains(&ext.as_str()) {
        out.push(Hazard::Script(ext.clone()));
    }
    if sniffed.shortcut || ext == "lnk" || ext == "url" {
        out.push(Hazard::Shortcut);
    }
    if let Some(image) = sniffed.disk_image {
        out.push(Hazard::DiskImage(image.to_string()));
    } else if DISK_IMAGES.contains(&ext.as_str()) {
        out.push(Hazard::DiskImage(ext.clone()));
    }
    if let Some(active) = sniffed.active {
        out.push(Hazard::ActiveContent(active.to_string()));
    } else if ext == "one" || ext == "chm" {
        out.push(Hazard::ActiveContent(if ext == "one" { "OneNote" } else { "CHM" }.to_string()));
    }
    if let Some(where_) = macros {
        out.push(Hazard::Macros(where_));
    } else if matches!(ext.as_str(), "docm" | "xlsm" | "pptm" | "dotm" | "xltm" | "potm" | "ppsm" | "xlam" | "ppam")
        && sniffed.family == Some("zip")
    {
        out.push(Hazard::Macros("macro-enabled format".into()));
    }
    let html_like = sniffed.family == Some("html")
        || (sniffed.label == "text" || sniffed.label == "SVG image")
            && matches!(ext.as_str(), "htm" | "html" | "xhtml" | "shtml" | "svg" | "mht" | "mhtml");
    if html_like && smuggling::assembles_a_file(bytes) {
        out.push(Hazard::HtmlSmuggling);
    }
    if let (Some(claimed), Some(actual)) = (claimed_family(&ext), sniffed.family)
        && !claimed.contains(&actual)
    {
        out.push(Hazard::NameMismatch { claimed: ext, actual: sniffed.label.clone() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::types::sniff;
    use crate::encrypted::Format;

    fn hazards(name: &str, bytes: &[u8]) -> Vec<Hazard> {
        collect(name, bytes, &sniff(bytes, Format::Other, None), None)
    }

    #[test]
    fn extensions_as_windows_reads_them() {
        assert_eq!(extension("a.PDF"), "pdf");
        assert_eq!(extension("invoice.pdf.js. "), "js");
        assert_eq!(extension("dir.x/README"), "");
        assert_eq!(extension("noext"), "");
    }

    #[test]
    fn scripts_by_name_and_no_alarm_on_plain_text() {
        assert_eq!(hazards("run.vbs", b"MsgBox 1"), [Hazard::Script("vbs".into())]);
        assert_eq!(hazards("a.HTA", b"<html>"), [Hazard::Script("hta".into())]);
        assert!(hazards("notes.txt", b"hello").is_empty());
        assert!(hazards("data.csv", b"a,b\n1,2\n").is_empty());
    }

    #[test]
    fn a_pe_named_pdf_is_an_executable_and_a_mismatch() {
        let mut pe = b"MZ".to_vec();
        pe.resize(0x100, 0);
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(
            hazards("invoice.pdf", &pe),
            [
                Hazard::Executable("PE".into()),
                Hazard::NameMismatch { claimed: "pdf".into(), actual: "Windows executable (PE)".into() }
            ]
        );
        assert_eq!(hazards("setup.exe", &pe), [Hazard::Executable("PE".into())], "no mismatch");
        assert_eq!(hazards("photo.jpg", b"\xFF\xD8\xFF\xE0"), []);
        assert_eq!(
            hazards("photo.jpg", b"\x89PNG\r\n\x1A\n"),
            [Hazard::NameMismatch { claimed: "jpg".into(), actual: "PNG image".into() }]
        );
        assert_eq!(hazards("letter.pdf", b"just some text"), [], "text is not recognised confidently");
    }

    #[test]
    fn shortcuts_images_onenote_chm_by_bytes_or_name() {
        assert_eq!(hazards("x.lnk", b"whatever"), [Hazard::Shortcut]);
        assert_eq!(hazards("x.url", b"[InternetShortcut]\r\nURL=http://x/"), [Hazard::Shortcut]);
        assert_eq!(hazards("disk.img", b"\0\0"), [Hazard::DiskImage("img".into())]);
        assert_eq!(hazards("x.one", b"\0"), [Hazard::ActiveContent("OneNote".into())]);
        let mut chm = b"ITSF".to_vec();
        chm.extend_from_slice(&[3, 0, 0, 0]);
        assert_eq!(
            hazards("help.txt", &chm),
            [Hazard::ActiveContent("CHM".into())],
            "by magic; .txt claims nothing confidently"
        );
    }
}
