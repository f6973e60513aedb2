//! ZIP: every central directory entry and every local header is checked for encryption
//! (they can disagree), the archive's shape for bombs (overlapping entries, too many entries,
//! sizes), and each plain entry is decompressed with the `zip` crate, within the limits, and
//! inspected in turn.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;

use ::zip::ZipArchive;
use ::zip::result::ZipError;

use super::odf;
use super::report::{Kind, Reason, ZipMethod};
use super::sniff::Format;
use super::walker::{Walker, child, guard};
use super::zip_raw::{self, Directory, DirectoryError, FLAG_ENCRYPTED, FLAG_STRONG, Header, Local, METHOD_AES};

/// Inspects one ZIP; returns its format refined by the entry names.
pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) -> Format {
    let dir = read_directory(w, path, bytes);
    let lowest_local = dir.as_ref().and_then(|d| d.entries.iter().map(|e| e.local_offset).min());
    let walk_start = zip_raw::starts_like_zip(bytes)
        .or_else(|| lowest_local.and_then(|offset| usize::try_from(offset).ok()))
        .or_else(|| zip_raw::first_local(bytes, 0).filter(|_| dir.is_none()));
    let locals = match walk_start {
        Some(start) => zip_raw::walk_locals(bytes, start, dir.as_ref(), w.entries_left().max(1)),
        None => vec![],
    };
    let Some(dir) = dir else {
        // No usable directory: what the local headers say is all there is.
        for local in &locals {
            if let Some(method) = encryption(&local.header) {
                let entry_path = child(path, local.header.display_name());
                w.finding(&entry_path, Kind::Zip(method));
                w.sized(&entry_path, local.header.uncompressed);
            }
        }
        return Format::Zip;
    };
    let format = refine(&dir);
    let mut plain = Vec::new();
    let mut sound = true;
    for (index, entry) in dir.entries.iter().enumerate() {
        let name = entry.header.display_name();
        let local = usize::try_from(entry.local_offset).ok().and_then(|o| zip_raw::read_local(bytes, o).ok());
        let method = encryption(&entry.header).or_else(|| local.as_ref().and_then(|l| encryption(&l.header)));
        if let Some(method) = method {
            let entry_path = child(path, name);
            w.finding(&entry_path, Kind::Zip(method));
            w.sized(&entry_path, entry.header.uncompressed);
            continue;
        }
        match local {
            Some(local) => plain.push((index, local)),
            None => {
                w.corrupt(&child(path, name), Format::Zip, "no local header where the central directory says");
                sound = false;
            }
        }
    }
    let listed: HashSet<u64> = dir.entries.iter().map(|e| e.local_offset).collect();
    for local in &locals {
        if !listed.contains(&(local.offset as u64)) {
            if let Some(method) = encryption(&local.header) {
                w.finding(&child(path, local.header.display_name()), Kind::Zip(method));
            }
            w.obstacle(path, Reason::HiddenLocalEntry { offset: local.offset as u64 });
            sound = false;
        }
    }
    if !sound {
        return format;
    }
    if let Err(reason) = check_layout(bytes, &dir, &plain) {
        w.obstacle(path, reason);
        return format;
    }
    decompress(w, path, bytes, &dir, &plain);
    format
}

/// Finds and reads the central directory, reporting why when it cannot.
fn read_directory(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) -> Option<Directory> {
    let Some(end) = zip_raw::find_end(bytes) else {
        w.corrupt(path, Format::Zip, "no end of central directory record");
        return None;
    };
    if end.multi_volume {
        w.obstacle(path, Reason::MultiVolume);
    }
    match zip_raw::read_directory(bytes, &end, w.entries_left()) {
        Ok(dir) => match w.count_entries(dir.entries.len()) {
            Ok(()) => Some(dir),
            Err(reason) => {
                w.obstacle(path, reason);
                None
            }
        },
        Err(DirectoryError::TooMany) => {
            w.obstacle(path, Reason::TooManyEntries { max: w.limits.max_entries });
            None
        }
        Err(DirectoryError::Format(e)) => {
            w.corrupt(path, Format::Zip, e);
            None
        }
    }
}

/// How a header says its entry is encrypted, if it does.
fn encryption(h: &Header) -> Option<ZipMethod> {
    if h.method == METHOD_AES || h.aes.is_some() {
        Some(ZipMethod::Aes { bits: h.aes.and_then(|a| a.bits) })
    } else if h.flags & FLAG_STRONG != 0 {
        Some(ZipMethod::Strong)
    } else if h.flags & FLAG_ENCRYPTED != 0 {
        Some(ZipMethod::ZipCrypto)
    } else {
        None
    }
}

/// OOXML and OpenDocument are ZIPs with known entry names.
fn refine(dir: &Directory) -> Format {
    let has = |name: &[u8]| dir.entries.iter().any(|e| e.header.name == name);
    if has(b"[Content_Types].xml") {
        Format::Ooxml
    } else if has(b"mimetype") && has(b"META-INF/manifest.xml") {
        Format::OpenDocument
    } else {
        Format::Zip
    }
}

/// Every entry's bytes (local header to end of data) must lie inside the input and belong to
/// it alone: overlapping entries are how a small file decompresses to a huge one.
fn check_layout(bytes: &[u8], dir: &Directory, plain: &[(usize, Local)]) -> Result<(), Reason> {
    let locals: HashMap<u64, &Local> = plain.iter().map(|(_, l)| (l.offset as u64, l)).collect();
    let mut ranges = Vec::with_capacity(dir.entries.len());
    for entry in &dir.entries {
        let local = locals.get(&entry.local_offset).copied();
        let data_start = match local {
            Some(local) => local.data_start as u64,
            None => entry.local_offset + 30,
        };
        let size = entry.header.compressed.max(local.map_or(0, |l| l.header.compressed));
        let end = data_start.checked_add(size).filter(|&end| end <= bytes.len() as u64);
        let Some(end) = end else {
            return Err(Reason::Corrupt {
                format: Format::Zip,
                detail: format!("entry {} extends past the end of the file", entry.header.display_name()),
            });
        };
        ranges.push((entry.local_offset, end));
    }
    ranges.sort_unstable();
    if ranges.windows(2).any(|pair| pair[1].0 < pair[0].1) {
        return Err(Reason::OverlappingEntries);
    }
    Ok(())
}

/// Compression methods the `zip` crate decodes as built here: stored, Deflate, Deflate64,
/// BZIP2, LZMA, XZ, PPMd. Any other is unsupported, not corrupt.
const DECODED_METHODS: [u16; 7] = [0, 8, 9, 12, 14, 95, 98];

/// Decompresses each plain entry with the `zip` crate and inspects what comes out.
fn decompress(w: &mut Walker<'_>, path: &[String], bytes: &[u8], dir: &Directory, plain: &[(usize, Local)]) {
    let todo: Vec<usize> = plain.iter().map(|(index, _)| *index).filter(|&i| !dir.entries[i].header.is_dir()).collect();
    if todo.is_empty() {
        return;
    }
    let mut archive = match guard(|| ZipArchive::new(Cursor::new(bytes))) {
        Ok(Ok(archive)) => archive,
        Ok(Err(e)) => return w.corrupt(path, Format::Zip, e),
        Err(panic) => return w.corrupt(path, Format::Zip, panic),
    };
    if archive.has_duplicate_names() {
        return w.obstacle(path, Reason::DuplicateNames);
    }
    if archive.len() != dir.entries.len() {
        return w.corrupt(path, Format::Zip, "the zip crate sees a different number of entries");
    }
    for index in todo {
        let header = &dir.entries[index].header;
        let entry_path = child(path, header.display_name());
        if !DECODED_METHODS.contains(&header.method) {
            w.obstacle(&entry_path, Reason::UnsupportedMethod { method: header.method });
            continue;
        }
        if let Err(reason) = w.check_declared(header.uncompressed) {
            let stop = reason.stops_the_walk();
            w.obstacle(&entry_path, reason);
            w.sized(&entry_path, header.uncompressed);
            if stop {
                return;
            }
            continue;
        }
        let read = guard(|| -> Result<Result<Vec<u8>, Reason>, ZipError> {
            let mut file = archive.by_index(index)?;
            if file.name_raw() != header.name.as_slice() {
                return Err(ZipError::InvalidArchive("central directory order differs".into()));
            }
            Ok(w.read_entry(&mut file, header.uncompressed, Format::Zip))
        });
        match read {
            Ok(Ok(Ok(data))) => {
                if header.name == b"META-INF/manifest.xml" && odf::manifest_declares_encryption(&data) {
                    w.finding(path, Kind::OpenDocument);
                }
                w.inspect_owned(&entry_path, data);
            }
            Ok(Ok(Err(reason))) => {
                let stop = reason.stops_the_walk();
                w.obstacle(&entry_path, reason);
                if stop {
                    return;
                }
            }
            Ok(Err(ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_))) => {
                w.obstacle(&entry_path, Reason::UnsupportedMethod { method: header.method })
            }
            Ok(Err(e)) => w.corrupt(&entry_path, Format::Zip, e),
            Err(panic) => w.corrupt(&entry_path, Format::Zip, panic),
        }
    }
}
