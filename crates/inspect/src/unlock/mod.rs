//! Opening a password-protected archive with its password, in memory.
//!
//! The attack this serves: a password-protected ZIP whose password is in the mail body, so no
//! gateway can look inside. sekisho tries the passwords the message itself carries
//! ([`password_candidates`], [`try_candidates`]) and lets the recipient type one; [`unlock`]
//! decrypts, and the entries it returns are opened and scanned by the rest of inspection.
//!
//! Formats: ZIP with ZipCrypto or WinZip AES-128/192/256 (as Info-ZIP `zip -P` and 7-Zip
//! `-tzip -mem=AES256` write them) and 7z with AES-256 (content only, or headers too with
//! `-mhe=on`). Anything else encrypted is [`UnlockError::Unsupported`], in words a recipient
//! understands. A password is reported right only once the data it decrypts has been verified
//! (CRC for ZipCrypto and 7z, HMAC for AES), never on a check value alone. Pure functions over
//! bytes, bounded by [`Limits`]; a parser's panic on hostile input becomes an error.

mod budget;
mod candidates;
mod error;
mod search;
mod sevenz;
mod zip;

use crate::encrypted::{self, Format, Kind, Limits};

use budget::Budget;
pub use candidates::{MAX_CANDIDATES, password_candidates};
pub use error::UnlockError;
pub use search::{Found, TryLimits, try_candidates};

/// One file taken out of an unlocked archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlocked {
    /// The entry's path inside the archive, one element per folder and the file's name last
    /// (`docs/a.txt` is `["docs", "a.txt"]`), as the archive writes it.
    pub path: Vec<String>,
    /// The entry's decrypted, decompressed bytes, verified by their CRC or HMAC.
    pub bytes: Vec<u8>,
}

/// Opens `bytes`, the file called `name`, with `password`, and returns every file inside:
/// the encrypted entries decrypted and the unencrypted entries of a mixed archive as they
/// are, in the archive's order (directories are left out). Nested archives are not opened.
///
/// Errors (nothing is returned with any of them):
/// - [`UnlockError::WrongPassword`]: the password does not decrypt the archive (verified by
///   CRC or HMAC, never by a check byte alone);
/// - [`UnlockError::Unsupported`]: RAR, encrypted Office and PDF files, PKWARE strong
///   encryption; a 7z whose encrypted entries carry no CRC (any password would seem right)
///   or that asks for more than 64 times 7-Zip's own key derivation work;
/// - [`UnlockError::NotEncrypted`]: nothing in the archive needs a password;
/// - [`UnlockError::Limit`]: the entries, one entry or the total decompressed would pass
///   `limits`, or a ZIP has more than 1000 encrypted entries (each costs a key derivation);
/// - [`UnlockError::Corrupt`]: damaged bytes.
///
/// ```
/// use sekisho_inspect::encrypted::Limits;
/// use sekisho_inspect::unlock::{UnlockError, unlock};
///
/// let rar = b"Rar!\x1A\x07\x01\x00rest";
/// let error = unlock("invoice.rar", rar, "secret", &Limits::default()).unwrap_err();
/// assert_eq!(error.to_string(), "RAR archives cannot be opened by sekisho");
/// ```
pub fn unlock(name: &str, bytes: &[u8], password: &str, limits: &Limits) -> Result<Vec<Unlocked>, UnlockError> {
    let mut budget = Budget::new(limits);
    match encrypted::sniff(bytes) {
        Format::Zip | Format::Ooxml | Format::OpenDocument => match zip::unlock(bytes, password, &mut budget) {
            Err(UnlockError::NotEncrypted) => Err(not_zip_encrypted(name, bytes, limits)),
            other => other,
        },
        Format::SevenZip => sevenz::unlock(bytes, password, &mut budget),
        Format::Rar4 | Format::Rar5 => {
            Err(UnlockError::unsupported("RAR archive", "RAR archives cannot be opened by sekisho"))
        }
        Format::Cfb => Err(UnlockError::unsupported(
            "Office document",
            "password-protected Office documents cannot be opened by sekisho",
        )),
        Format::Pdf => {
            Err(UnlockError::unsupported("PDF document", "password-protected PDF files cannot be opened by sekisho"))
        }
        // Wrappers (gzip, tar...) and other files: a password opens what is inside them, if anything.
        _ => Err(UnlockError::unsupported(
            "file",
            "this file is not an archive sekisho can open with a password (ZIP or 7z)",
        )),
    }
}

/// A ZIP without encrypted entries may still be an OpenDocument file encrypted its own way.
fn not_zip_encrypted(name: &str, bytes: &[u8], limits: &Limits) -> UnlockError {
    let shallow = Limits { max_depth: 0, ..limits.clone() };
    let report = encrypted::inspect(name, bytes, &shallow);
    if report.findings.iter().any(|f| f.kind == Kind::OpenDocument && f.path.len() == 1) {
        return UnlockError::unsupported(
            "OpenDocument file",
            "password-protected OpenDocument files cannot be opened by sekisho",
        );
    }
    UnlockError::NotEncrypted
}

/// An entry's name as a path: split at `/` (and `\`, which some Windows tools write), empty
/// parts dropped. Nothing is extracted to disk, so `..` is kept as the name it is.
fn entry_path(name: &str) -> Vec<String> {
    let parts: Vec<String> = name.split(['/', '\\']).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if parts.is_empty() { vec![name.to_owned()] } else { parts }
}

/// Runs a third-party parser so that a panic on hostile input becomes
/// [`UnlockError::Corrupt`], not a crash.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, UnlockError> {
    crate::encrypted::walker::guard(f).map_err(|p| UnlockError::Corrupt(format!("the decoder failed: {p}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_become_paths() {
        assert_eq!(entry_path("docs/a.txt"), ["docs", "a.txt"]);
        assert_eq!(entry_path("docs\\a.txt"), ["docs", "a.txt"]);
        assert_eq!(entry_path("/x//y"), ["x", "y"]);
        assert_eq!(entry_path("a.txt"), ["a.txt"]);
    }

    #[test]
    fn a_panic_is_an_error() {
        assert_eq!(guarded(|| 1), Ok(1));
        assert!(matches!(guarded(|| -> u8 { panic!("boom") }), Err(UnlockError::Corrupt(t)) if t.contains("boom")));
    }

    #[test]
    fn other_formats_say_why_in_words() {
        let limits = Limits::default();
        let why = |bytes: &[u8]| unlock("f", bytes, "pw", &limits).unwrap_err().to_string();
        assert_eq!(why(b"Rar!\x1A\x07\x00rest"), "RAR archives cannot be opened by sekisho");
        assert_eq!(why(b"%PDF-1.7\n"), "password-protected PDF files cannot be opened by sekisho");
        assert_eq!(
            why(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"),
            "password-protected Office documents cannot be opened by sekisho"
        );
        assert_eq!(why(b"hello"), "this file is not an archive sekisho can open with a password (ZIP or 7z)");
    }
}
