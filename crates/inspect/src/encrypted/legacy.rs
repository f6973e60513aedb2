//! Encryption marks of the legacy binary Office formats, read from their CFB streams:
//! [MS-DOC] FIB flag fEncrypted, [MS-XLS] FILEPASS record, [MS-PPT] CurrentUserAtom token.

use std::io::{self, Read};

use super::bytes::{le16, le32};

/// [MS-DOC] 2.5.2 FibBase: wIdent at 0, the flags word at 0x0A, fEncrypted is bit 8.
pub(crate) fn doc_encrypted(word_document: &[u8]) -> bool {
    let ident = le16(word_document, 0);
    let flags = le16(word_document, 0x0A).unwrap_or(0);
    matches!(ident, Some(0xA5EC | 0xA5DC)) && flags & 0x0100 != 0
}

const BOF: [u16; 4] = [0x0809, 0x0409, 0x0209, 0x0009];
const EOF: u16 = 0x000A;
const FILEPASS: u16 = 0x002F;
/// Records looked at before giving up on finding the end of the globals substream.
const MAX_RECORDS: usize = 100_000;

/// [MS-XLS] 2.4.117 FilePass: present in the workbook globals substream (between its BOF and
/// EOF records) when the workbook is encrypted.
pub(crate) fn xls_encrypted(workbook: &mut dyn Read) -> io::Result<bool> {
    for index in 0..MAX_RECORDS {
        let mut head = [0u8; 4];
        if read_full(workbook, &mut head)? < 4 {
            return Ok(false);
        }
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = u16::from_le_bytes([head[2], head[3]]);
        if index == 0 && !BOF.contains(&kind) {
            return Ok(false);
        }
        match kind {
            FILEPASS => return Ok(true),
            EOF => return Ok(false),
            _ => {
                io::copy(&mut workbook.take(len.into()), &mut io::sink())?;
            }
        }
    }
    Ok(false)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// [MS-PPT] 2.3.2 CurrentUserAtom: headerToken 0xF3D1C4DF means an encrypted document (0xE391C05F
/// a plain one); an encrypted document also has an "EncryptedSummary" stream.
pub(crate) fn ppt_encrypted(current_user: Option<&[u8]>, has_encrypted_summary: bool) -> bool {
    has_encrypted_summary || current_user.and_then(|cu| le32(cu, 12)) == Some(0xF3D1_C4DF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_flag() {
        let mut fib = vec![0u8; 32];
        fib[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
        assert!(!doc_encrypted(&fib));
        fib[0x0B] = 0x01;
        assert!(doc_encrypted(&fib));
        fib[0] = 0;
        assert!(!doc_encrypted(&fib), "not a FIB");
    }

    #[test]
    fn xls_filepass_only_in_globals() {
        let rec = |kind: u16, body: &[u8]| {
            let mut r = kind.to_le_bytes().to_vec();
            r.extend_from_slice(&(body.len() as u16).to_le_bytes());
            r.extend_from_slice(body);
            r
        };
        let plain = [rec(0x0809, &[0; 16]), rec(0x00E1, &[0; 2]), rec(EOF, &[]), rec(FILEPASS, &[0; 4])].concat();
        assert!(!xls_encrypted(&mut &plain[..]).unwrap());
        let encrypted = [rec(0x0809, &[0; 16]), rec(FILEPASS, &[0; 4]), rec(EOF, &[])].concat();
        assert!(xls_encrypted(&mut &encrypted[..]).unwrap());
        let not_biff = [rec(0x1234, &[]), rec(FILEPASS, &[])].concat();
        assert!(!xls_encrypted(&mut &not_biff[..]).unwrap());
    }

    #[test]
    fn ppt_token() {
        let mut cu = vec![0u8; 20];
        cu[12..16].copy_from_slice(&0xE391_C05Fu32.to_le_bytes());
        assert!(!ppt_encrypted(Some(&cu), false));
        cu[12..16].copy_from_slice(&0xF3D1_C4DFu32.to_le_bytes());
        assert!(ppt_encrypted(Some(&cu), false));
        assert!(ppt_encrypted(None, true));
    }
}
