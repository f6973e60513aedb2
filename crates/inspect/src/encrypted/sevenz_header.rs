//! The 7z signature header and, when the real header is itself packed (kEncodedHeader), the
//! coders that pack it: enough to see encrypted headers (`7z -mhe=on`) without a password or
//! a decoder. Layout from 7-Zip's DOC/7zFormat.txt.

use super::bytes::Reader;
use super::error::FormatError;

/// The 7zAES coder (AES-256 + SHA-256 key derivation).
pub(crate) const AES_CODER: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
const SIGNATURE_HEADER: usize = 32;

const K_END: u8 = 0x00;
const K_HEADER: u8 = 0x01;
const K_PACK_INFO: u8 = 0x06;
const K_UNPACK_INFO: u8 = 0x07;
const K_SIZE: u8 = 0x09;
const K_CRC: u8 = 0x0A;
const K_FOLDER: u8 = 0x0B;
const K_ENCODED_HEADER: u8 = 0x17;

/// What the signature header points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextHeader {
    /// No header at all: an empty archive.
    Empty,
    /// A plain header (kHeader).
    Plain,
    /// A packed header (kEncodedHeader) and the method ids of the coders that pack it.
    Encoded { coders: Vec<Vec<u8>> },
}

impl NextHeader {
    pub(crate) fn encrypted(&self) -> bool {
        matches!(self, NextHeader::Encoded { coders } if coders.iter().any(|c| c == AES_CODER))
    }
}

/// Reads the signature header and the start of the header it points at.
pub(crate) fn next_header(data: &[u8]) -> Result<NextHeader, FormatError> {
    let mut r = Reader::at(data, 12);
    let offset = r.u64()?;
    let size = r.u64()?;
    if size == 0 {
        return Ok(NextHeader::Empty);
    }
    let start = (SIGNATURE_HEADER as u64)
        .checked_add(offset)
        .filter(|&s| s.checked_add(size).is_some_and(|end| end <= data.len() as u64))
        .ok_or(FormatError::Truncated { at: data.len() as u64 })?;
    let mut r = Reader::at(data, start as usize);
    match r.u8()? {
        K_HEADER => Ok(NextHeader::Plain),
        K_ENCODED_HEADER => Ok(NextHeader::Encoded { coders: streams_info_coders(&mut r)? }),
        other => Err(FormatError::invalid(format!("unknown header type {other:#04x}"))),
    }
}

/// The coder ids of every folder in a StreamsInfo (PackInfo, then UnpackInfo).
fn streams_info_coders(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>, FormatError> {
    let mut coders = Vec::new();
    loop {
        match r.u8()? {
            K_END => return Ok(coders),
            K_PACK_INFO => skip_pack_info(r)?,
            K_UNPACK_INFO => {
                expect(r, K_FOLDER)?;
                let folders = number(r)?;
                if r.u8()? != 0 {
                    return Err(FormatError::invalid("external folders"));
                }
                for _ in 0..folders {
                    read_folder(r, &mut coders)?;
                }
                // The unpack sizes and CRCs that follow say nothing about encryption.
                return Ok(coders);
            }
            other => return Err(FormatError::invalid(format!("unexpected property {other:#04x}"))),
        }
    }
}

fn skip_pack_info(r: &mut Reader<'_>) -> Result<(), FormatError> {
    number(r)?; // pack position
    let streams = number(r)?;
    loop {
        match r.u8()? {
            K_END => return Ok(()),
            K_SIZE => {
                for _ in 0..streams {
                    number(r)?;
                }
            }
            K_CRC => skip_digests(r, streams)?,
            other => return Err(FormatError::invalid(format!("unexpected pack property {other:#04x}"))),
        }
    }
}

fn skip_digests(r: &mut Reader<'_>, count: u64) -> Result<(), FormatError> {
    let defined = if r.u8()? != 0 {
        count
    } else {
        let bits = r.take_u64(count.div_ceil(8))?;
        bits.iter().map(|b| u64::from(b.count_ones())).sum()
    };
    r.skip(defined.checked_mul(4).ok_or(FormatError::Truncated { at: 0 })?)
}

fn read_folder(r: &mut Reader<'_>, coders: &mut Vec<Vec<u8>>) -> Result<(), FormatError> {
    let count = number(r)?;
    let (mut ins, mut outs) = (0u64, 0u64);
    for _ in 0..count {
        let flags = r.u8()?;
        coders.push(r.take(usize::from(flags & 0x0F))?.to_vec());
        if flags & 0x10 != 0 {
            ins = ins.saturating_add(number(r)?);
            outs = outs.saturating_add(number(r)?);
        } else {
            ins += 1;
            outs += 1;
        }
        if flags & 0x20 != 0 {
            let props = number(r)?;
            r.skip(props)?;
        }
    }
    let bind_pairs = outs.saturating_sub(1);
    for _ in 0..bind_pairs {
        number(r)?;
        number(r)?;
    }
    let packed = ins.saturating_sub(bind_pairs);
    if packed > 1 {
        for _ in 0..packed {
            number(r)?;
        }
    }
    Ok(())
}

fn expect(r: &mut Reader<'_>, id: u8) -> Result<(), FormatError> {
    match r.u8()? {
        got if got == id => Ok(()),
        got => Err(FormatError::invalid(format!("expected property {id:#04x}, found {got:#04x}"))),
    }
}

/// 7z's variable-length number: the leading one bits of the first byte count the bytes that
/// follow (little-endian), the rest of the first byte is the high part.
fn number(r: &mut Reader<'_>) -> Result<u64, FormatError> {
    let first = r.u8()?;
    let mut value = 0u64;
    for i in 0..8 {
        let mask = 0x80u8 >> i;
        if first & mask == 0 {
            let high = u64::from(first & mask.wrapping_sub(1));
            return Ok(value | (high << (8 * i)));
        }
        value |= u64::from(r.u8()?) << (8 * i);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let n = |bytes: &[u8]| number(&mut Reader::new(bytes));
        assert_eq!(n(&[0x05]), Ok(5));
        assert_eq!(n(&[0x80, 0xFF]), Ok(0xFF));
        assert_eq!(n(&[0x81, 0x02]), Ok(0x102));
        assert_eq!(n(&[0xC0, 0x34, 0x12]), Ok(0x1234));
        assert_eq!(n(&[0xFF, 1, 0, 0, 0, 0, 0, 0, 0]), Ok(1));
        assert!(n(&[0x80]).is_err());
    }

    #[test]
    fn truncated_or_empty() {
        let mut sig = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
        sig.extend_from_slice(&[0; 24]);
        assert_eq!(next_header(&sig), Ok(NextHeader::Empty));
        sig[20] = 10; // size 10, beyond the input
        assert!(next_header(&sig).is_err());
    }
}
