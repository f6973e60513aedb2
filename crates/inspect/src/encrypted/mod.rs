//! Is an attachment, or anything nested inside it, password-protected or encrypted?
//!
//! [`inspect`] types a file by its bytes (never by its name), then looks for encryption the
//! way each format records it:
//! - ZIP: ZipCrypto (flag bit 0), WinZip AES (method 99 / extra field 0x9901, as 7-Zip writes
//!   into a `.zip`), PKWARE strong encryption; in the central directory and in every local
//!   header, which can disagree.
//! - 7z: AES in the coders of the packed header (`-mhe=on`: names hidden) or of the content.
//! - RAR 4 and 5: encrypted headers, encrypted files.
//! - Office: encrypted OOXML (EncryptionInfo + EncryptedPackage in a compound file), Word,
//!   Excel and PowerPoint 97-2003 encryption marks; OpenDocument's manifest encryption data.
//! - PDF: `/Encrypt` in a trailer or cross-reference stream dictionary.
//!
//! Archives (ZIP, plain 7z, stored RAR entries, tar, gzip, bzip2, xz), compound file streams,
//! files embedded in PDFs, TNEF and BinHex wrappers and saved messages are opened and what is
//! inside is inspected in turn, within [`Limits`] (the walk is shared with
//! [`crate::content`], which keeps the tree it builds). What cannot be opened (a limit reached,
//! a zip bomb shape, corrupt data) is reported as an [`Obstacle`], never silently passed.

pub(crate) mod bytes;
mod error;
mod legacy;
mod limits;
mod odf;
mod office;
mod pdf;
pub(crate) mod pdf_lex;
mod rar;
mod rar4;
mod rar5;
mod report;
mod sevenz;
mod sevenz_header;
pub(crate) mod sniff;
pub(crate) mod walker;
mod zip;
pub(crate) mod zip_raw;

pub use limits::Limits;
pub use report::{Finding, Kind, LegacyFormat, Note, Obstacle, OoxmlScheme, Reason, Report, Verdict, ZipMethod};
pub use sniff::{Format, sniff};

/// True when the PDF `bytes` name an encryption dictionary (their streams are then encrypted).
pub(crate) fn pdf_is_encrypted(bytes: &[u8]) -> bool {
    sniff::pdf_start(bytes).is_some_and(|start| pdf::is_encrypted(&bytes[start..]))
}

/// Inspects one attachment: `name` is used only in the report's paths, `bytes` is the whole
/// file. Never fails: what could not be inspected is in [`Report::obstacles`].
///
/// ```
/// use sekisho_inspect::encrypted::{Format, Limits, Verdict, inspect};
///
/// let report = inspect("notes.txt", b"just text", &Limits::default());
/// assert_eq!(report.format, Format::Other);
/// assert_eq!(report.verdict(), Verdict::Clean);
/// ```
pub fn inspect(name: &str, bytes: &[u8], limits: &Limits) -> Report {
    let mut walker = walker::Walker::new(limits, bytes.len() as u64, false);
    let format = walker.inspect(&[name.to_owned()], bytes);
    let mut report = walker.report;
    report.format = format;
    report
}
