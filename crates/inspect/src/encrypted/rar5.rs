//! RAR 5 headers, from the RAR 5.0 archive format description (rarlab.com, "RAR 5.0 archive
//! format"): signature `Rar!\x1A\x07\x01\x00`, then blocks of CRC32, vint header size, vint
//! type, vint flags, optional extra and data sizes.

use super::bytes::Reader;
use super::error::FormatError;
use super::rar::{RarFile, Scan};

/// The signature: blocks start after it.
pub(crate) const SIGNATURE_LEN: usize = 8;
const MAIN: u64 = 1;
const FILE: u64 = 2;
const SERVICE: u64 = 3;
const ENCRYPTION: u64 = 4;
const END: u64 = 5;

const HAS_EXTRA: u64 = 0x0001;
const HAS_DATA: u64 = 0x0002;
const SPLIT_BEFORE: u64 = 0x0008;
const SPLIT_AFTER: u64 = 0x0010;
const MAIN_VOLUME: u64 = 0x0001;
const FILE_DIRECTORY: u64 = 0x0001;
const FILE_HAS_MTIME: u64 = 0x0002;
const FILE_HAS_CRC: u64 = 0x0004;
const EXTRA_ENCRYPTION: u64 = 0x01;

/// Reads the block at `pos`; returns where the next one starts, or `None` to stop (end block,
/// or an encryption header: the headers after it are encrypted).
pub(crate) fn block(data: &[u8], pos: usize, scan: &mut Scan) -> Result<Option<usize>, FormatError> {
    let mut r = Reader::at(data, pos);
    r.u32()?; // header CRC32
    let size = vint(&mut r)?;
    let header = r.take_u64(size)?;
    let header_end = r.pos();
    let mut h = Reader::new(header);
    let kind = vint(&mut h)?;
    let flags = vint(&mut h)?;
    let extra_size = if flags & HAS_EXTRA != 0 { vint(&mut h)? } else { 0 };
    let data_size = if flags & HAS_DATA != 0 { vint(&mut h)? } else { 0 };
    let data_start = header_end;
    let data_end = u64::try_from(data_start)
        .ok()
        .and_then(|s| s.checked_add(data_size))
        .and_then(|e| usize::try_from(e).ok())
        .ok_or(FormatError::Truncated { at: data.len() as u64 })?;
    match kind {
        MAIN => {
            let archive_flags = vint(&mut h)?;
            scan.multi_volume |= archive_flags & MAIN_VOLUME != 0;
        }
        ENCRYPTION => {
            scan.headers_encrypted = true;
            return Ok(None);
        }
        END => return Ok(None),
        FILE | SERVICE => {
            let extra_at =
                usize::try_from(size.checked_sub(extra_size).ok_or_else(|| FormatError::invalid("extra area"))?)
                    .map_err(|_| FormatError::invalid("extra area"))?;
            let mut file = file_header(&mut h, kind == SERVICE)?;
            file.encrypted = has_encryption_record(&header[extra_at..])?;
            file.split = flags & (SPLIT_BEFORE | SPLIT_AFTER) != 0;
            if data_end <= data.len() {
                file.data = data_start..data_end;
            }
            scan.files.push(file);
        }
        _ => {}
    }
    if data_end > data.len() {
        return Err(FormatError::Truncated { at: data.len() as u64 });
    }
    Ok(Some(data_end))
}

fn file_header(h: &mut Reader<'_>, service: bool) -> Result<RarFile, FormatError> {
    let file_flags = vint(h)?;
    let unpacked_size = vint(h)?;
    vint(h)?; // attributes
    if file_flags & FILE_HAS_MTIME != 0 {
        h.u32()?;
    }
    if file_flags & FILE_HAS_CRC != 0 {
        h.u32()?;
    }
    let compression = vint(h)?;
    vint(h)?; // host OS
    let name_len = vint(h)?;
    let name = String::from_utf8_lossy(h.take_u64(name_len)?).into_owned();
    Ok(RarFile {
        name,
        encrypted: false,
        // Bits 7..9 of the compression information: method, 0 = store.
        stored: (compression >> 7) & 0x07 == 0,
        split: false,
        directory: file_flags & FILE_DIRECTORY != 0,
        service,
        unpacked_size,
        data: 0..0,
    })
}

/// True when the extra area holds a file encryption record.
fn has_encryption_record(extra: &[u8]) -> Result<bool, FormatError> {
    let mut r = Reader::new(extra);
    while r.remaining() > 0 {
        let size = vint(&mut r)?;
        let record = r.take_u64(size)?;
        let mut rec = Reader::new(record);
        if vint(&mut rec)? == EXTRA_ENCRYPTION {
            return Ok(true);
        }
    }
    Ok(false)
}

/// RAR 5's variable-length integer: 7 bits a byte, low first, high bit set while more follow.
pub(crate) fn vint(r: &mut Reader<'_>) -> Result<u64, FormatError> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = r.u8()?;
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FormatError::invalid("vint longer than 10 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints() {
        let v = |bytes: &[u8]| vint(&mut Reader::new(bytes));
        assert_eq!(v(&[0x05]), Ok(5));
        assert_eq!(v(&[0x80, 0x01]), Ok(128));
        assert!(v(&[0x80]).is_err());
        assert!(v(&[0xFF; 11]).is_err());
    }
}
