//! RAR 4 (RAR 1.5 to 4.x) headers, from the RAR 4.x technote (TechNote.txt shipped with
//! WinRAR): a marker block `Rar!\x1A\x07\x00`, then blocks of HEAD_CRC, HEAD_TYPE, HEAD_FLAGS,
//! HEAD_SIZE and, when flag 0x8000 is set, ADD_SIZE bytes of data after the header.

use super::bytes::Reader;
use super::error::FormatError;
use super::rar::{RarFile, Scan};

/// The marker block: blocks start after it.
pub(crate) const MARKER_LEN: usize = 7;
const MAIN: u8 = 0x73;
const FILE: u8 = 0x74;
const NEW_SUB: u8 = 0x7A;
const END: u8 = 0x7B;

const LONG_BLOCK: u16 = 0x8000;
const MAIN_VOLUME: u16 = 0x0001;
/// MHD_PASSWORD: block headers are encrypted.
const MAIN_PASSWORD: u16 = 0x0080;
const FILE_SPLIT_BEFORE: u16 = 0x0001;
const FILE_SPLIT_AFTER: u16 = 0x0002;
/// LHD_PASSWORD: the file is encrypted.
const FILE_PASSWORD: u16 = 0x0004;
const FILE_DIRECTORY: u16 = 0x00E0;
const FILE_LARGE: u16 = 0x0100;
const FILE_UNICODE: u16 = 0x0200;
const METHOD_STORE: u8 = 0x30;

/// Reads the block at `pos`; returns where the next one starts, or `None` to stop (end block,
/// or a main header saying the block headers are encrypted).
pub(crate) fn block(data: &[u8], pos: usize, scan: &mut Scan) -> Result<Option<usize>, FormatError> {
    let mut r = Reader::at(data, pos);
    r.u16()?; // HEAD_CRC
    let kind = r.u8()?;
    let flags = r.u16()?;
    let head_size = usize::from(r.u16()?);
    if head_size < 7 {
        return Err(FormatError::invalid(format!("block header of {head_size} bytes")));
    }
    let add_size = if flags & LONG_BLOCK != 0 { u64::from(r.u32()?) } else { 0 };
    let header = data.get(pos..pos + head_size).ok_or(FormatError::Truncated { at: data.len() as u64 })?;
    let data_start = pos + head_size;
    let mut data_size = add_size;
    match kind {
        MAIN => {
            scan.multi_volume |= flags & MAIN_VOLUME != 0;
            if flags & MAIN_PASSWORD != 0 {
                scan.headers_encrypted = true;
                return Ok(None);
            }
        }
        FILE | NEW_SUB => {
            let (file, size) = file_header(header, flags, kind == NEW_SUB)?;
            data_size = size;
            let end = u64::try_from(data_start).ok().and_then(|s| s.checked_add(size));
            match end.and_then(|e| usize::try_from(e).ok()).filter(|&e| e <= data.len()) {
                Some(end) => scan.files.push(RarFile { data: data_start..end, ..file }),
                None => {
                    scan.files.push(file);
                    return Err(FormatError::Truncated { at: data.len() as u64 });
                }
            }
        }
        END => return Ok(None),
        _ => {}
    }
    let next = u64::try_from(data_start)
        .ok()
        .and_then(|s| s.checked_add(data_size))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(FormatError::Truncated { at: data.len() as u64 })?;
    Ok(Some(next))
}

/// Parses a file header; returns it (without its data range) and its packed size.
fn file_header(header: &[u8], flags: u16, service: bool) -> Result<(RarFile, u64), FormatError> {
    let mut r = Reader::at(header, 7);
    let pack_size = r.u32()?;
    let unp_size = r.u32()?;
    r.skip(1 + 4 + 4 + 1)?; // host OS, file CRC, time, version needed
    let method = r.u8()?;
    let name_size = r.u16()?;
    r.skip(4)?; // attributes
    let (mut packed, mut unpacked) = (u64::from(pack_size), u64::from(unp_size));
    if flags & FILE_LARGE != 0 {
        packed |= u64::from(r.u32()?) << 32;
        unpacked |= u64::from(r.u32()?) << 32;
    }
    let raw = r.take(name_size.into())?;
    // With LHD_UNICODE the name is "ASCII name \0 encoded Unicode name": report the first part.
    let raw = if flags & FILE_UNICODE != 0 { raw.split(|&b| b == 0).next().unwrap_or(raw) } else { raw };
    let file = RarFile {
        name: String::from_utf8_lossy(raw).into_owned(),
        encrypted: flags & FILE_PASSWORD != 0,
        stored: method == METHOD_STORE,
        split: flags & (FILE_SPLIT_BEFORE | FILE_SPLIT_AFTER) != 0,
        directory: flags & FILE_DIRECTORY == FILE_DIRECTORY,
        service,
        unpacked_size: unpacked,
        data: 0..0,
    };
    Ok((file, packed))
}
