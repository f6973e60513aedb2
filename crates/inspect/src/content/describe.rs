//! A node's type and hazards, from its bytes and the format the walk found; and which entries
//! of a document are files of their own.

use std::io::{Cursor, Read};

use cfb::CompoundFile;

use super::types::{self, Sniffed};
use super::{Hazard, Node, State, hazards};
use crate::encrypted::Format;
use crate::encrypted::walker::guard;
use crate::encrypted::zip_raw;

/// Most central directory entries read to name an OOXML document's kind.
const MAX_NAMES: usize = 100_000;

/// Sets `node.file_type` and `node.hazards` from `bytes`, found to be `format`.
pub(crate) fn describe(node: &mut Node, format: Format, bytes: &[u8]) {
    let office = match format {
        Format::Ooxml | Format::OpenDocument => zip_document(bytes, format),
        Format::Cfb => compound_document(bytes),
        _ => Office::default(),
    };
    let sniffed: Sniffed = types::sniff(bytes, format, office.label.as_deref());
    node.file_type = sniffed.label.clone();
    let mut found = hazards::collect(&node.name, bytes, &sniffed, office.macros);
    if office.installer {
        found.insert(0, Hazard::Executable("MSI".into()));
    }
    for hazard in found {
        if !node.hazards.contains(&hazard) {
            node.hazards.push(hazard);
        }
    }
}

/// What an Office container says about itself.
#[derive(Debug, Default)]
struct Office {
    label: Option<String>,
    macros: Option<String>,
    /// A Windows Installer package (by its root CLSID).
    installer: bool,
}

impl Office {
    fn new(kind: &str, macros: Option<&str>) -> Self {
        let label = if macros.is_some() { format!("{kind} with macros") } else { kind.to_string() };
        Office { label: Some(label), macros: macros.map(str::to_string), installer: false }
    }
}

/// OOXML and OpenDocument kinds and macros, by entry names.
fn zip_document(bytes: &[u8], format: Format) -> Office {
    let Some(end) = zip_raw::find_end(bytes) else { return Office::default() };
    let Ok(dir) = zip_raw::read_directory(bytes, &end, MAX_NAMES) else { return Office::default() };
    let names: Vec<&[u8]> = dir.entries.iter().map(|e| e.header.name.as_slice()).collect();
    let has_prefix = |p: &[u8]| names.iter().any(|n| n.starts_with(p));
    let macros = if names.iter().any(|n| n.ends_with(b"vbaProject.bin")) {
        Some("vbaProject.bin")
    } else if has_prefix(b"xl/macrosheets/") {
        Some("XLM macro sheet")
    } else if format == Format::OpenDocument
        && has_prefix(b"Basic/")
        && names.iter().any(|n| {
            n.ends_with(b".xml")
                && n.starts_with(b"Basic/")
                && !n.ends_with(b"script-lc.xml")
                && !n.ends_with(b"script-lb.xml")
        })
    {
        Some("Basic macros")
    } else {
        None
    };
    match format {
        Format::Ooxml => {
            let kind = if has_prefix(b"word/") {
                "Word document"
            } else if has_prefix(b"xl/") {
                "Excel workbook"
            } else if has_prefix(b"ppt/") {
                "PowerPoint presentation"
            } else if has_prefix(b"visio/") {
                "Visio drawing"
            } else {
                "Office Open XML document"
            };
            Office::new(kind, macros)
        }
        Format::OpenDocument => Office::new("OpenDocument file", macros),
        _ => Office::default(),
    }
}

/// Legacy Office, Outlook and Installer files, and VBA projects, by their storages and streams.
fn compound_document(bytes: &[u8]) -> Office {
    let read = guard(|| -> Option<Office> {
        let mut cf = CompoundFile::open(Cursor::new(bytes)).ok()?;
        let clsid = cf.root_entry().clsid().to_string();
        let entries: Vec<(String, bool)> =
            cf.walk().map(|e| (e.path().to_string_lossy().into_owned(), e.is_storage())).collect();
        let has = |name: &str| entries.iter().any(|(p, _)| p == name);
        let storage_named = |name: &str| entries.iter().any(|(p, s)| *s && p.rsplit('/').next() == Some(name));
        let mut macros = if storage_named("VBA") || storage_named("_VBA_PROJECT_CUR") || storage_named("Macros") {
            Some("VBA storage")
        } else {
            None
        };
        let kind = if has("/EncryptedPackage") {
            "encrypted Office document"
        } else if has("/WordDocument") {
            "Word 97-2003 document"
        } else if has("/Workbook") || has("/Book") {
            if macros.is_none() && xlm_sheets(&mut cf) {
                macros = Some("XLM macro sheet");
            }
            "Excel 97-2003 workbook"
        } else if has("/PowerPoint Document") {
            "PowerPoint 97-2003 presentation"
        } else if has("/__properties_version1.0") {
            "Outlook message"
        } else if clsid.eq_ignore_ascii_case("000c1084-0000-0000-c000-000000000046") {
            // An installer runs code on a double click, whatever its name says.
            return Some(Office { label: Some("Windows Installer package".into()), macros: None, installer: true });
        } else if has("/PROJECT") && storage_named("VBA") {
            return Some(Office {
                label: Some("VBA project".into()),
                macros: Some("VBA storage".into()),
                installer: false,
            });
        } else {
            "Compound File (OLE2)"
        };
        Some(Office::new(kind, macros))
    });
    read.ok().flatten().unwrap_or_default()
}

/// Excel 97-2003: a BOUNDSHEET record (0x0085) of a macro sheet (type 1) in the workbook
/// globals.
fn xlm_sheets(cf: &mut CompoundFile<Cursor<&[u8]>>) -> bool {
    let name = if cf.is_stream("/Workbook") { "/Workbook" } else { "/Book" };
    let Ok(stream) = cf.open_stream(name) else { return false };
    let mut globals = Vec::new();
    if stream.take(1 << 20).read_to_end(&mut globals).is_err() {
        return false;
    }
    let mut pos = 0;
    while pos + 4 <= globals.len() {
        let kind = u16::from_le_bytes([globals[pos], globals[pos + 1]]);
        let len = usize::from(u16::from_le_bytes([globals[pos + 2], globals[pos + 3]]));
        let data = globals.get(pos + 4..pos + 4 + len).unwrap_or_default();
        if kind == 0x0085 && data.get(5) == Some(&1) {
            return true;
        }
        // EOF of the globals substream.
        if kind == 0x000A {
            return false;
        }
        pos += 4 + len;
    }
    false
}

/// Keeps, among a document's entries, those that are files of their own: embedded objects
/// and attachments, anything encrypted, unreadable, hazardous or holding entries. The XML
/// parts, images and internal streams every document has are dropped from the tree (they were
/// inspected all the same).
pub(crate) fn keep_embedded(node: &mut Node) {
    node.children.retain(|c| {
        let plain = c.state == State::Open && c.hazards.is_empty() && c.children.is_empty();
        let embedded =
            c.name.contains("embeddings/") || c.name.contains("Ole10Native") || c.name.contains("ObjectPool");
        let boring = matches!(
            c.file_type.as_str(),
            "data" | "text" | "empty" | "XML document" | "PNG image" | "JPEG image" | "GIF image" | "TIFF image"
        ) || c.file_type.ends_with("(OLE2)");
        !plain || embedded || !boring
    });
}
