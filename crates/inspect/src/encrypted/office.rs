//! Compound File (CFB/OLE2) documents, opened with the `cfb` crate: encrypted OOXML
//! (EncryptionInfo + EncryptedPackage), the legacy formats' encryption marks, and every other
//! stream inspected in turn (attachments of an Outlook .msg, embedded packages).

use std::io::{Cursor, Read};

use cfb::CompoundFile;

use super::legacy::{doc_encrypted, ppt_encrypted, xls_encrypted};
use super::report::{Kind, LegacyFormat, OoxmlScheme};
use super::sniff::Format;
use super::walker::{Walker, child, guard};

type Cfb<'a> = CompoundFile<Cursor<&'a [u8]>>;

pub(crate) fn inspect(w: &mut Walker<'_>, path: &[String], bytes: &[u8]) {
    let opened = guard(|| CompoundFile::open(Cursor::new(bytes)));
    let mut cf = match opened {
        Ok(Ok(cf)) => cf,
        Ok(Err(e)) => return w.corrupt(path, Format::Cfb, e),
        Err(panic) => return w.corrupt(path, Format::Cfb, panic),
    };
    match guard(|| encryption(&mut cf)) {
        Ok(Ok(Some(kind))) => return w.finding(path, kind),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => return w.corrupt(path, Format::Cfb, e),
        Err(panic) => return w.corrupt(path, Format::Cfb, panic),
    }
    streams(w, path, &mut cf);
}

/// How the document is encrypted, if it is.
fn encryption(cf: &mut Cfb<'_>) -> std::io::Result<Option<Kind>> {
    if cf.is_stream("/EncryptionInfo") && cf.is_stream("/EncryptedPackage") {
        let mut version = [0u8; 4];
        cf.open_stream("/EncryptionInfo")?.read_exact(&mut version)?;
        let major = u16::from_le_bytes([version[0], version[1]]);
        let minor = u16::from_le_bytes([version[2], version[3]]);
        let scheme = match (major, minor) {
            (4, 4) => OoxmlScheme::Agile,
            (2..=4, 2) => OoxmlScheme::Standard,
            (3 | 4, 3) => OoxmlScheme::Extensible,
            _ => OoxmlScheme::Other { major, minor },
        };
        return Ok(Some(Kind::OfficeOoxml { scheme }));
    }
    if cf.is_stream("/WordDocument") {
        let mut fib = Vec::new();
        cf.open_stream("/WordDocument")?.take(32).read_to_end(&mut fib)?;
        if doc_encrypted(&fib) {
            return Ok(Some(Kind::OfficeLegacy { format: LegacyFormat::Doc }));
        }
    }
    for name in ["/Workbook", "/Book"] {
        if cf.is_stream(name) && xls_encrypted(&mut cf.open_stream(name)?)? {
            return Ok(Some(Kind::OfficeLegacy { format: LegacyFormat::Xls }));
        }
    }
    if cf.is_stream("/PowerPoint Document") {
        let mut current_user = Vec::new();
        if cf.is_stream("/Current User") {
            cf.open_stream("/Current User")?.take(64).read_to_end(&mut current_user)?;
        }
        let summary = cf.is_stream("/EncryptedSummary");
        if ppt_encrypted((!current_user.is_empty()).then_some(&current_user[..]), summary) {
            return Ok(Some(Kind::OfficeLegacy { format: LegacyFormat::Ppt }));
        }
    }
    Ok(None)
}

/// Inspects every stream's bytes: a file can hide anywhere in a compound file.
fn streams(w: &mut Walker<'_>, path: &[String], cf: &mut Cfb<'_>) {
    let names: Vec<(String, u64)> = match guard(|| {
        cf.walk().filter(|e| e.is_stream()).map(|e| (e.path().to_string_lossy().into_owned(), e.len())).collect()
    }) {
        Ok(names) => names,
        Err(panic) => return w.corrupt(path, Format::Cfb, panic),
    };
    if let Err(reason) = w.count_entries(names.len()) {
        return w.obstacle(path, reason);
    }
    for (name, len) in names {
        let stream_path = child(path, name.trim_start_matches('/'));
        if let Err(reason) = w.check_declared(len) {
            w.obstacle(&stream_path, reason);
            continue;
        }
        let read = guard(|| cf.open_stream(&name).map(|mut s| w.read_entry(&mut s, len, Format::Cfb)));
        match read {
            Ok(Ok(Ok(data))) => match crate::content::ole_native::unwrap(&name, &data) {
                Some((label, file)) => {
                    let file = file.to_vec();
                    w.inspect_owned(&child(path, label), file);
                }
                None => {
                    w.inspect_owned(&stream_path, data);
                }
            },
            Ok(Ok(Err(reason))) => w.obstacle(&stream_path, reason),
            Ok(Err(e)) => w.corrupt(&stream_path, Format::Cfb, e),
            Err(panic) => w.corrupt(&stream_path, Format::Cfb, panic),
        }
    }
}
