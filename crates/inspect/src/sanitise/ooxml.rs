//! An Office Open XML document without its VBA project: the ZIP rewritten in memory with the
//! `vbaProject.bin`, `vbaData.xml` and signature parts left out, `[Content_Types].xml` and the
//! `.rels` parts no longer naming them, the macro-enabled main content type replaced by the
//! macro-free one, and the name changed to match (.docm → .docx). Every other part is copied
//! as it is stored (not decompressed), so the copy is the same bytes each time.

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};

use zip::ZipArchive;
use zip::write::{SimpleFileOptions, ZipWriter};

use super::xml::{Edit, attribute, edit_elements};
use super::{SanitiseError, SanitiseLimits};

/// A sanitised copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitised {
    /// Its name: the original's with the macro-free extension.
    pub name: String,
    /// Its MIME type, by that extension.
    pub content_type: &'static str,
    /// The document's bytes.
    pub bytes: Vec<u8>,
    /// The parts left out.
    pub removed: Vec<String>,
    /// What was done, in words: "VBA project removed".
    pub done: &'static str,
}

/// Parts of a VBA project, by their file name (lower case).
const VBA_PARTS: &[&str] = &[
    "vbaproject.bin",
    "vbadata.xml",
    "vbaprojectsignature.bin",
    "vbaprojectsignatureagile.bin",
    "vbaprojectsignaturev3.bin",
];

/// Macro-enabled main content types and their macro-free forms.
const MAIN_TYPES: &[(&str, &str)] = &[
    (
        "application/vnd.ms-word.document.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    ),
    (
        "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    ),
    (
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    ),
    (
        "application/vnd.ms-excel.template.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    ),
    (
        "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    ),
    (
        "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
    ),
    (
        "application/vnd.ms-powerpoint.template.macroEnabled.main+xml",
        "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
    ),
];

/// Macro-enabled extensions, their macro-free forms and the MIME type of those.
const NAMES: &[(&str, &str, &str)] = &[
    ("docm", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("dotm", "dotx", "application/vnd.openxmlformats-officedocument.wordprocessingml.template"),
    ("xlsm", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("xltm", "xltx", "application/vnd.openxmlformats-officedocument.spreadsheetml.template"),
    ("pptm", "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    ("ppsm", "ppsx", "application/vnd.openxmlformats-officedocument.presentationml.slideshow"),
    ("potm", "potx", "application/vnd.openxmlformats-officedocument.presentationml.template"),
];

const CONTENT_TYPES: &str = "[Content_Types].xml";

/// `bytes` (a document named `name`) without its VBA project, within `limits`.
pub fn remove_macros(name: &str, bytes: &[u8], limits: &SanitiseLimits) -> Result<Sanitised, SanitiseError> {
    if bytes.len() as u64 > limits.max_size {
        return Err(SanitiseError::TooLarge { max: limits.max_size });
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(SanitiseError::Legacy);
    }
    if !bytes.starts_with(b"PK") {
        return Err(SanitiseError::NotOoxml);
    }
    let damaged = |e: zip::result::ZipError| SanitiseError::Damaged(e.to_string());
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    if archive.len() > limits.max_entries {
        return Err(SanitiseError::TooManyParts { max: limits.max_entries });
    }
    let mut names = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(damaged)?;
        if entry.encrypted() {
            return Err(SanitiseError::Encrypted);
        }
        names.push(String::from_utf8_lossy(entry.name_raw()).into_owned());
    }
    if !names.iter().any(|n| n == CONTENT_TYPES) {
        return Err(SanitiseError::NotOoxml);
    }
    if names.iter().any(|n| n.to_ascii_lowercase().starts_with("xl/macrosheets/")) {
        return Err(SanitiseError::Unremovable("an Excel 4.0 macro sheet"));
    }
    // The package's XML parts, read once, each and all together bounded.
    let mut xml: Vec<Option<String>> = vec![None; names.len()];
    let mut total = 0u64;
    for (i, part) in names.iter().enumerate() {
        if part == CONTENT_TYPES || part.to_ascii_lowercase().ends_with(".rels") {
            let text = read_part(&mut archive, i, part, limits)?;
            total += text.len() as u64;
            if total > limits.max_xml_total {
                return Err(SanitiseError::XmlTooLarge { max: limits.max_xml_total });
            }
            xml[i] = Some(text);
        }
    }
    let lower = vba_parts(&names, &xml)?;
    let removed: Vec<String> = names.iter().filter(|n| lower.contains(&n.to_ascii_lowercase())).cloned().collect();

    let mut rewritten: Vec<Option<Vec<u8>>> = vec![None; names.len()];
    let mut main_type = false;
    for (i, part) in names.iter().enumerate() {
        let Some(text) = xml[i].take().filter(|_| !lower.contains(&part.to_ascii_lowercase())) else { continue };
        let edited = if part == CONTENT_TYPES {
            let (xml, mapped) = content_types(&text, &lower)?;
            main_type |= mapped;
            xml
        } else {
            relationships(&text, part, &lower)?
        };
        rewritten[i] = edited.map(String::into_bytes);
    }
    if removed.is_empty() && !main_type {
        return Err(SanitiseError::NoMacros);
    }

    let mut out = ZipWriter::new(Cursor::new(Vec::with_capacity(bytes.len())));
    for (i, part) in names.iter().enumerate() {
        if lower.contains(&part.to_ascii_lowercase()) {
            continue;
        }
        let entry = archive.by_index_raw(i).map_err(damaged)?;
        match rewritten[i].take() {
            None => out.raw_copy_file(entry).map_err(damaged)?,
            Some(xml) => {
                let mut options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
                if let Some(time) = entry.last_modified() {
                    options = options.last_modified_time(time);
                }
                drop(entry);
                out.start_file(part.as_str(), options).map_err(damaged)?;
                out.write_all(&xml).map_err(|e| SanitiseError::Damaged(e.to_string()))?;
            }
        }
    }
    let bytes = out.finish().map_err(damaged)?.into_inner();
    let (name, content_type) = macro_free_name(name);
    Ok(Sanitised { name, content_type, bytes, removed, done: "VBA project removed" })
}

/// The VBA project's parts (lower case): by their names (any part whose name ends like one),
/// by the content types `[Content_Types].xml` gives them, and by the relationships that load
/// them (Office finds the project through its relationship, whatever its name); and the
/// relationship parts of all those. `xml`: the package's XML parts, by entry.
fn vba_parts(names: &[String], xml: &[Option<String>]) -> Result<HashSet<String>, SanitiseError> {
    let mut parts: HashSet<String> =
        names.iter().map(|n| n.to_ascii_lowercase()).filter(|n| VBA_PARTS.iter().any(|p| n.ends_with(p))).collect();
    for (name, text) in names.iter().zip(xml).filter_map(|(n, t)| t.as_ref().map(|t| (n, t))) {
        let mut found = Vec::new();
        if name == CONTENT_TYPES {
            edit_elements(text, "Override", |a| {
                if attribute(a, "ContentType").is_some_and(vba_type) {
                    found.push(attribute(a, "PartName").unwrap_or_default().trim_start_matches('/').to_string());
                }
                Edit::Keep
            })
            .map_err(|_| malformed(CONTENT_TYPES))?;
        } else {
            let base = name.rsplit_once("_rels/").map_or("", |(dir, _)| dir);
            edit_elements(text, "Relationship", |a| {
                let external = attribute(a, "TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External"));
                if attribute(a, "Type").is_some_and(vba_type) && !external {
                    found.push(resolve(base, attribute(a, "Target").unwrap_or_default()));
                }
                Edit::Keep
            })
            .map_err(|_| malformed(name))?;
        }
        parts.extend(found.into_iter().map(|p| p.to_ascii_lowercase()).filter(|p| !p.is_empty()));
    }
    let rels: Vec<String> = parts
        .iter()
        .map(|n| match n.rsplit_once('/') {
            Some((dir, file)) => format!("{dir}/_rels/{file}.rels"),
            None => format!("_rels/{n}.rels"),
        })
        .collect();
    parts.extend(rels);
    // The package's own parts never go, whatever a relationship says.
    parts.retain(|p| p != &CONTENT_TYPES.to_ascii_lowercase() && p != "_rels/.rels");
    Ok(parts)
}

/// Entry `i` (`name`) decompressed as text, at most [`SanitiseLimits::max_part`] bytes.
fn read_part(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    i: usize,
    name: &str,
    limits: &SanitiseLimits,
) -> Result<String, SanitiseError> {
    let entry = archive.by_index(i).map_err(|e| SanitiseError::Damaged(e.to_string()))?;
    let mut text = Vec::new();
    entry
        .take(limits.max_part + 1)
        .read_to_end(&mut text)
        .map_err(|e| SanitiseError::Damaged(format!("{name}: {e}")))?;
    if text.len() as u64 > limits.max_part {
        return Err(SanitiseError::PartTooLarge { name: name.to_string(), max: limits.max_part });
    }
    String::from_utf8(text).map_err(|_| SanitiseError::Damaged(format!("{name} is not UTF-8 text")))
}

fn malformed(part: &str) -> SanitiseError {
    SanitiseError::Damaged(format!("{part} is not well-formed"))
}

fn vba_type(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    t.contains("vbaproject") || t.contains("vbadata")
}

/// `[Content_Types].xml` without the VBA project's types and parts, the main type macro-free
/// (None: unchanged), and whether a macro-enabled main type was found.
fn content_types(xml: &str, removed: &HashSet<String>) -> Result<(Option<String>, bool), SanitiseError> {
    let (xml, defaults) = edit_elements(xml, "Default", |a| {
        if attribute(a, "ContentType").is_some_and(vba_type) { Edit::Drop } else { Edit::Keep }
    })
    .map_err(|_| malformed(CONTENT_TYPES))?;
    let mut main_type = false;
    let mut addin = false;
    let (xml, overrides) = edit_elements(&xml, "Override", |a| {
        let part = attribute(a, "PartName").unwrap_or_default().trim_start_matches('/').to_ascii_lowercase();
        let kind = attribute(a, "ContentType").unwrap_or_default();
        if removed.contains(&part) || vba_type(kind) {
            return Edit::Drop;
        }
        if kind.to_ascii_lowercase().contains(".addin.macroenabled") {
            addin = true;
        }
        match MAIN_TYPES.iter().find(|(from, _)| from.eq_ignore_ascii_case(kind)) {
            Some((_, to)) => {
                main_type = true;
                Edit::Replace(kind.to_string(), (*to).to_string())
            }
            None => Edit::Keep,
        }
    })
    .map_err(|_| malformed(CONTENT_TYPES))?;
    if addin {
        return Err(SanitiseError::NoMacroFreeForm("add-in"));
    }
    Ok(((defaults || overrides).then_some(xml), main_type))
}

/// A `.rels` part (`name`) without the relationships to the VBA project (by type, or by a
/// target among `removed`); None: unchanged.
fn relationships(xml: &str, name: &str, removed: &HashSet<String>) -> Result<Option<String>, SanitiseError> {
    // "word/_rels/document.xml.rels" speaks of parts relative to "word/".
    let base = name.rsplit_once("_rels/").map_or("", |(dir, _)| dir);
    let (xml, changed) = edit_elements(xml, "Relationship", |a| {
        let kind = attribute(a, "Type").unwrap_or_default();
        let external = attribute(a, "TargetMode").is_some_and(|m| m.eq_ignore_ascii_case("External"));
        let target = attribute(a, "Target").unwrap_or_default();
        if vba_type(kind) || (!external && removed.contains(&resolve(base, target).to_ascii_lowercase())) {
            Edit::Drop
        } else {
            Edit::Keep
        }
    })
    .map_err(|_| malformed(name))?;
    Ok(changed.then_some(xml))
}

/// The part a relationship's `target` names, relative to `base` ("word/") unless absolute.
pub(super) fn resolve(base: &str, target: &str) -> String {
    let joined = match target.strip_prefix('/') {
        Some(absolute) => absolute.to_string(),
        None => format!("{base}{target}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// `name` with the macro-free extension, and the MIME type of that.
fn macro_free_name(name: &str) -> (String, &'static str) {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let lower = ext.to_ascii_lowercase();
    if let Some((_, free, mime)) = NAMES.iter().find(|(m, _, _)| *m == lower) {
        return (format!("{stem}.{free}"), mime);
    }
    let mime = NAMES.iter().find(|(_, free, _)| *free == lower).map_or("application/octet-stream", |(_, _, m)| m);
    (name.to_string(), mime)
}
