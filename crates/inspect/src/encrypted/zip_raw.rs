//! The raw structures of a ZIP file, parsed by hand so that every candidate is seen: the end
//! records, every central directory entry, every local header (the two can disagree), the
//! byte range of each entry. The `zip` crate is used only to decompress.

use std::collections::HashMap;

use super::bytes::{Reader, find};
use super::error::FormatError;

const LOCAL: &[u8; 4] = b"PK\x03\x04";
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
const END: &[u8; 4] = b"PK\x05\x06";
const END64: &[u8; 4] = b"PK\x06\x06";
const LOCATOR64: &[u8; 4] = b"PK\x06\x07";
const DESCRIPTOR: &[u8; 4] = b"PK\x07\x08";
/// The single-segment markers some writers put before the first local header.
const SPAN_MARKERS: [&[u8; 4]; 2] = [b"PK\x07\x08", b"PK00"];
const END_LEN: usize = 22;
const MAX_COMMENT: usize = 0xFFFF;

/// General purpose flag bit 0: the entry is encrypted.
pub(crate) const FLAG_ENCRYPTED: u16 = 0x0001;
/// Bit 3: sizes and CRC follow the data in a data descriptor.
const FLAG_DESCRIPTOR: u16 = 0x0008;
/// Bit 6: PKWARE strong encryption.
pub(crate) const FLAG_STRONG: u16 = 0x0040;
/// Compression method 99: WinZip AES, the real method is in the 0x9901 extra field.
pub(crate) const METHOD_AES: u16 = 99;

/// The end of central directory record (ZIP64 values applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    /// Where the central directory region ends: the ZIP64 end record, else the end record.
    pub(crate) pos: usize,
    pub(crate) entries: u64,
    pub(crate) cd_size: u64,
    pub(crate) cd_offset: u64,
    pub(crate) multi_volume: bool,
}

/// The WinZip AES extra field (0x9901).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AesExtra {
    pub(crate) bits: Option<u16>,
}

/// What the central directory and local headers have in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u16,
    pub(crate) method: u16,
    pub(crate) compressed: u64,
    pub(crate) uncompressed: u64,
    pub(crate) aes: Option<AesExtra>,
    /// The Info-ZIP Unicode Path extra field (0x7075), when present and valid UTF-8.
    pub(crate) unicode_name: Option<String>,
}

impl Header {
    /// A header from its fixed fields, before the extra field is applied.
    fn new(name: Vec<u8>, flags: u16, method: u16, compressed: u32, uncompressed: u32) -> Self {
        Header {
            name,
            flags,
            method,
            compressed: compressed.into(),
            uncompressed: uncompressed.into(),
            aes: None,
            unicode_name: None,
        }
    }
}

/// A central directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) header: Header,
    /// Absolute position of the local header in the input.
    pub(crate) local_offset: u64,
}

/// A local file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Local {
    pub(crate) offset: usize,
    pub(crate) header: Header,
    pub(crate) data_start: usize,
}

/// The parsed central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directory {
    pub(crate) entries: Vec<Entry>,
    /// Bytes before the archive proper (a self-extractor stub, or data a ZIP was appended to).
    pub(crate) archive_offset: u64,
}

impl Header {
    /// The name to report: the Unicode Path extra field if any, else the raw name.
    pub(crate) fn display_name(&self) -> String {
        match &self.unicode_name {
            Some(name) => name.clone(),
            None => String::from_utf8_lossy(&self.name).into_owned(),
        }
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.name.last() == Some(&b'/') && self.uncompressed == 0
    }
}

/// Where the first local header is expected when the input starts like a ZIP: after a
/// single-segment marker if one is there.
pub(crate) fn starts_like_zip(data: &[u8]) -> Option<usize> {
    if data.starts_with(LOCAL) || data.starts_with(END) {
        return Some(0);
    }
    SPAN_MARKERS.iter().any(|m| data.starts_with(*m) && data[4..].starts_with(LOCAL)).then_some(4)
}

/// The last end of central directory record whose comment fits in the input.
pub(crate) fn find_end(data: &[u8]) -> Option<End> {
    if data.len() < END_LEN {
        return None;
    }
    let lowest = data.len().saturating_sub(END_LEN + MAX_COMMENT);
    // Candidates from the last possible position backwards: a SIMD search for `P`, then the
    // other three bytes (faster than a reverse substring search over 64 KiB of data).
    let mut upto = data.len() - END_LEN + 1;
    while let Some(found) = memchr::memrchr(b'P', &data[lowest..upto]) {
        let pos = lowest + found;
        if &data[pos..pos + 4] != END {
            upto = pos;
            continue;
        }
        let comment = usize::from(u16::from_le_bytes([data[pos + 20], data[pos + 21]]));
        if pos + END_LEN + comment <= data.len()
            && let Ok(end) = parse_end(data, pos)
        {
            return Some(end);
        }
        upto = pos;
    }
    None
}

fn parse_end(data: &[u8], pos: usize) -> Result<End, FormatError> {
    let mut r = Reader::at(data, pos + 4);
    let disk = r.u16()?;
    let cd_disk = r.u16()?;
    let on_disk = r.u16()?;
    let entries = r.u16()?;
    let cd_size = r.u32()?;
    let cd_offset = r.u32()?;
    let mut end = End {
        pos,
        entries: u64::from(entries),
        cd_size: u64::from(cd_size),
        cd_offset: u64::from(cd_offset),
        multi_volume: disk != 0 || cd_disk != 0 || on_disk != entries,
    };
    let needs64 = entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF;
    if pos >= 20 && &data[pos - 20..pos - 16] == LOCATOR64 {
        if let Some(end64) = parse_end64(data, pos - 20)? {
            end = end64;
        } else if needs64 {
            return Err(FormatError::invalid("ZIP64 end record not found"));
        }
    } else if needs64 && entries == 0xFFFF && cd_size != 0xFFFF_FFFF && cd_offset != 0xFFFF_FFFF {
        // 65535 entries exactly, without ZIP64: the values stand.
    } else if needs64 {
        return Err(FormatError::invalid("ZIP64 values without a ZIP64 locator"));
    }
    Ok(end)
}

fn parse_end64(data: &[u8], locator: usize) -> Result<Option<End>, FormatError> {
    let mut r = Reader::at(data, locator + 8);
    let claimed = r.u64()?;
    // Usually right before the locator; else where the locator says.
    let candidates = [locator.checked_sub(56), usize::try_from(claimed).ok()];
    let Some(pos) = candidates.into_iter().flatten().find(|&p| data.get(p..p + 4) == Some(END64)) else {
        return Ok(None);
    };
    let mut r = Reader::at(data, pos + 16);
    let disk = r.u32()?;
    let cd_disk = r.u32()?;
    let on_disk = r.u64()?;
    let entries = r.u64()?;
    let cd_size = r.u64()?;
    let cd_offset = r.u64()?;
    Ok(Some(End { pos, entries, cd_size, cd_offset, multi_volume: disk != 0 || cd_disk != 0 || on_disk != entries }))
}

/// Why the central directory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectoryError {
    /// More entries than the caller allows.
    TooMany,
    Format(FormatError),
}

impl From<FormatError> for DirectoryError {
    fn from(e: FormatError) -> Self {
        DirectoryError::Format(e)
    }
}

/// Reads every central directory entry up to the end record: the count in the end record is
/// checked against what is there, not trusted.
pub(crate) fn read_directory(data: &[u8], end: &End, max_entries: usize) -> Result<Directory, DirectoryError> {
    if end.entries > max_entries as u64 {
        return Err(DirectoryError::TooMany);
    }
    let archive_offset = archive_offset(data, end)?;
    let start = usize::try_from(archive_offset + end.cd_offset).map_err(|_| FormatError::invalid("offset"))?;
    let mut r = Reader::at(data, start);
    let mut entries = Vec::new();
    while r.pos() + 4 <= end.pos && data[r.pos()..].starts_with(CENTRAL) {
        if entries.len() >= max_entries {
            return Err(DirectoryError::TooMany);
        }
        entries.push(read_central(&mut r, archive_offset)?);
    }
    if entries.len() as u64 != end.entries {
        return Err(FormatError::invalid(format!(
            "central directory holds {} entries, the end record says {}",
            entries.len(),
            end.entries
        ))
        .into());
    }
    Ok(Directory { entries, archive_offset })
}

/// The bytes before the archive proper: where the central directory really is, minus where
/// the end record says it is.
fn archive_offset(data: &[u8], end: &End) -> Result<u64, FormatError> {
    let at = |pos: u64| usize::try_from(pos).ok().and_then(|p| data.get(p..)).is_some_and(|d| d.starts_with(CENTRAL));
    if end.entries == 0 || at(end.cd_offset) {
        return Ok(0);
    }
    let actual = (end.pos as u64).checked_sub(end.cd_size);
    match actual {
        Some(actual) if actual >= end.cd_offset && at(actual) => Ok(actual - end.cd_offset),
        _ => Err(FormatError::invalid("central directory not found where the end record says")),
    }
}

fn read_central(r: &mut Reader<'_>, archive_offset: u64) -> Result<Entry, FormatError> {
    r.skip(4 + 2 + 2)?; // signature, version made by, version needed
    let flags = r.u16()?;
    let method = r.u16()?;
    r.skip(4 + 4)?; // time, date, crc
    let compressed = r.u32()?;
    let uncompressed = r.u32()?;
    let name_len = r.u16()?;
    let extra_len = r.u16()?;
    let comment_len = r.u16()?;
    r.skip(2 + 2 + 4)?; // disk, internal and external attributes
    let local_offset = r.u32()?;
    let name = r.take(name_len.into())?.to_vec();
    let extra = r.take(extra_len.into())?;
    r.skip(comment_len.into())?;
    let mut header = Header::new(name, flags, method, compressed, uncompressed);
    let mut local_offset = u64::from(local_offset);
    let wants = Zip64Wants {
        uncompressed: uncompressed == 0xFFFF_FFFF,
        compressed: compressed == 0xFFFF_FFFF,
        offset: local_offset == 0xFFFF_FFFF,
    };
    apply_extra(&mut header, extra, wants, Some(&mut local_offset))?;
    let local_offset = local_offset.checked_add(archive_offset).ok_or_else(|| FormatError::invalid("offset"))?;
    Ok(Entry { header, local_offset })
}

/// Which values a ZIP64 extra field carries: those whose 32-bit field is all ones.
#[derive(Debug, Clone, Copy)]
struct Zip64Wants {
    uncompressed: bool,
    compressed: bool,
    offset: bool,
}

fn apply_extra(
    header: &mut Header,
    extra: &[u8],
    wants: Zip64Wants,
    offset: Option<&mut u64>,
) -> Result<(), FormatError> {
    let mut r = Reader::new(extra);
    let mut offset = offset;
    while r.remaining() >= 4 {
        let id = r.u16()?;
        let size = r.u16()?;
        let Ok(field) = r.take(size.into()) else {
            break; // a truncated last field: what came before stands
        };
        let mut f = Reader::new(field);
        match id {
            0x0001 => {
                if wants.uncompressed {
                    header.uncompressed = f.u64()?;
                }
                if wants.compressed {
                    header.compressed = f.u64()?;
                }
                if wants.offset
                    && let Some(offset) = offset.as_deref_mut()
                {
                    *offset = f.u64()?;
                }
            }
            0x9901 => {
                f.skip(2 + 2)?; // version, vendor "AE"
                let bits = match f.u8()? {
                    1 => Some(128),
                    2 => Some(192),
                    3 => Some(256),
                    _ => None,
                };
                header.aes = Some(AesExtra { bits });
            }
            0x7075 => {
                f.skip(1 + 4)?; // version, CRC of the raw name
                if let Ok(name) = std::str::from_utf8(f.take(f.remaining())?) {
                    header.unicode_name = Some(name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the local header at `offset`.
pub(crate) fn read_local(data: &[u8], offset: usize) -> Result<Local, FormatError> {
    if data.get(offset..offset.saturating_add(4)) != Some(LOCAL) {
        return Err(FormatError::invalid(format!("no local header at byte {offset}")));
    }
    let mut r = Reader::at(data, offset + 4);
    r.skip(2)?; // version needed
    let flags = r.u16()?;
    let method = r.u16()?;
    r.skip(4 + 4)?; // time, date, crc
    let compressed = r.u32()?;
    let uncompressed = r.u32()?;
    let name_len = r.u16()?;
    let extra_len = r.u16()?;
    let name = r.take(name_len.into())?.to_vec();
    let extra = r.take(extra_len.into())?;
    let mut header = Header::new(name, flags, method, compressed, uncompressed);
    let zip64 = compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF;
    let wants = Zip64Wants { uncompressed: zip64, compressed: zip64, offset: false };
    apply_extra(&mut header, extra, wants, None)?;
    Ok(Local { offset, header, data_start: r.pos() })
}

/// Follows local headers one after another from `start`, as a streaming reader would, until
/// something else comes (normally the central directory). Sizes hidden in a data descriptor
/// are taken from the central directory entry at the same offset; without one the walk stops.
pub(crate) fn walk_locals(data: &[u8], start: usize, dir: Option<&Directory>, max: usize) -> Vec<Local> {
    let central: HashMap<u64, u64> =
        dir.map(|d| d.entries.iter().map(|e| (e.local_offset, e.header.compressed)).collect()).unwrap_or_default();
    let mut locals = Vec::new();
    let mut pos = start;
    while locals.len() < max {
        let Ok(local) = read_local(data, pos) else { break };
        let mut size = local.header.compressed;
        let descriptor = local.header.flags & FLAG_DESCRIPTOR != 0;
        if descriptor && size == 0 {
            match central.get(&(pos as u64)) {
                Some(&compressed) => size = compressed,
                None => {
                    locals.push(local);
                    break;
                }
            }
        }
        let Some(mut next) = usize::try_from(size).ok().and_then(|s| local.data_start.checked_add(s)) else {
            locals.push(local);
            break;
        };
        if descriptor {
            next = skip_descriptor(data, next);
        }
        locals.push(local);
        if next <= pos || next > data.len() {
            break;
        }
        pos = next;
    }
    locals
}

/// Skips a data descriptor (optional signature, CRC, 32- or 64-bit sizes): the 64-bit form is
/// chosen when only it is followed by another ZIP signature.
fn skip_descriptor(data: &[u8], pos: usize) -> usize {
    let pos = if data.get(pos..pos + 4) == Some(DESCRIPTOR) { pos + 4 } else { pos };
    let signature_at = |p: usize| data.get(p..p + 2) == Some(b"PK");
    if !signature_at(pos + 12) && signature_at(pos + 20) { pos + 20 } else { pos + 12 }
}

/// True when `data` ends with a ZIP whose central directory is where its end record says:
/// a ZIP appended to something else (a self-extractor, an image).
pub(crate) fn has_directory(data: &[u8]) -> bool {
    find_end(data).is_some_and(|end| end.entries > 0 && archive_offset(data, &end).is_ok())
}

/// The first local header signature at or after `from`, for inputs without a directory.
pub(crate) fn first_local(data: &[u8], from: usize) -> Option<usize> {
    find(data, LOCAL, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored one-entry ZIP built by hand, so each field is known.
    fn tiny_zip(prefix: &[u8]) -> Vec<u8> {
        let mut z = prefix.to_vec();
        let local = z.len() as u32 - prefix.len() as u32;
        z.extend_from_slice(LOCAL);
        z.extend_from_slice(&[20, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]);
        z.extend_from_slice(b"aXY");
        let cd = z.len() as u32 - prefix.len() as u32;
        z.extend_from_slice(CENTRAL);
        z.extend_from_slice(&[20, 0, 20, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend_from_slice(&local.to_le_bytes());
        z.push(b'a');
        let cd_size = z.len() as u32 - prefix.len() as u32 - cd;
        z.extend_from_slice(END);
        z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend_from_slice(&cd_size.to_le_bytes());
        z.extend_from_slice(&cd.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    #[test]
    fn reads_directory_and_locals() {
        let z = tiny_zip(b"");
        let end = find_end(&z).unwrap();
        let dir = read_directory(&z, &end, 10).unwrap();
        assert_eq!(dir.archive_offset, 0);
        assert_eq!(dir.entries.len(), 1);
        assert_eq!(dir.entries[0].header.flags, FLAG_ENCRYPTED);
        let locals = walk_locals(&z, 0, Some(&dir), 10);
        assert_eq!(locals.len(), 1);
        assert_eq!(locals[0].header.name, b"a");
    }

    #[test]
    fn finds_an_archive_after_prepended_bytes() {
        let z = tiny_zip(b"junk before the archive");
        assert!(has_directory(&z));
        let end = find_end(&z).unwrap();
        let dir = read_directory(&z, &end, 10).unwrap();
        assert_eq!(dir.archive_offset, 23);
        assert_eq!(dir.entries[0].local_offset, 23);
        assert_eq!(read_directory(&z, &end, 0), Err(DirectoryError::TooMany));
    }

    #[test]
    fn rejects_a_count_that_disagrees() {
        let mut z = tiny_zip(b"");
        let n = z.len();
        z[n - 12] = 2; // total entries
        z[n - 14] = 2; // entries on this disk
        let end = find_end(&z).unwrap();
        assert!(matches!(read_directory(&z, &end, 10), Err(DirectoryError::Format(_))));
    }
}
