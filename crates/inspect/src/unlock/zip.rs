//! ZIP: ZipCrypto and WinZip AES (AE-1 and AE-2, 128, 192 and 256 bits) entries decrypted with
//! the `zip` crate, plain entries of the same archive read as they are.
//!
//! A password is right only once an encrypted entry has been read to its end: the `zip` crate
//! checks the CRC there (ZipCrypto's check byte alone lets 1 wrong password in 256 through)
//! and the HMAC for AES (its 2-byte check value lets 1 in 65536 through).

use std::io::Cursor;

use ::zip::ZipArchive;
use ::zip::result::ZipError;

use super::budget::{Budget, ReadFailure};
use super::{UnlockError, Unlocked, entry_path, guarded};
use crate::encrypted::Reason;

/// General purpose flag bit 6: PKWARE strong encryption.
const FLAG_STRONG: u16 = 0x40;

/// Encrypted entries opened in one archive. Each WinZip AES entry has its own salt, so each
/// costs a PBKDF2 derivation (about 1 ms, BENCHMARKS.md): 10,000 entries, within
/// [`Limits::max_entries`](crate::encrypted::Limits::max_entries), would cost 10 s.
pub(crate) const MAX_ENCRYPTED_ENTRIES: usize = 1000;

/// Whether one entry is encrypted, and how a failure to read it is reported.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Plain,
    Encrypted,
}

pub(crate) fn unlock(bytes: &[u8], password: &str, budget: &mut Budget<'_>) -> Result<Vec<Unlocked>, UnlockError> {
    let mut archive = guarded(|| ZipArchive::new(Cursor::new(bytes)))?.map_err(UnlockError::corrupt)?;
    budget.check_entries(archive.len()).map_err(UnlockError::Limit)?;
    if archive.has_duplicate_names() {
        return Err(UnlockError::corrupt("the archive names the same file twice"));
    }
    let mut kinds = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(UnlockError::corrupt)?;
        if entry.flags().as_u16() & FLAG_STRONG != 0 {
            return Err(UnlockError::unsupported(
                "ZIP archive",
                "this ZIP archive uses PKWARE strong encryption, which sekisho cannot open",
            ));
        }
        kinds.push(if entry.encrypted() { Entry::Encrypted } else { Entry::Plain });
    }
    match kinds.iter().filter(|&&k| k == Entry::Encrypted).count() {
        0 => return Err(UnlockError::NotEncrypted),
        n if n > MAX_ENCRYPTED_ENTRIES => {
            return Err(UnlockError::Limit(Reason::TooManyEntries { max: MAX_ENCRYPTED_ENTRIES }));
        }
        _ => {}
    }
    // Smallest encrypted entry first: a wrong password is then found at the least cost.
    let mut order: Vec<usize> = (0..archive.len()).collect();
    order.sort_by_key(|&i| {
        (kinds[i] == Entry::Plain, archive.by_index_data(i).map_or(u64::MAX, |e| e.compressed_size()))
    });
    let mut verified = false;
    let mut out: Vec<(usize, Unlocked)> = Vec::with_capacity(order.len());
    for index in order {
        let kind = kinds[index];
        let (name, is_dir, declared) = {
            let entry = archive.by_index_data(index).map_err(UnlockError::corrupt)?;
            (entry.name().map_err(UnlockError::corrupt)?.into_owned(), entry.is_dir(), entry.size())
        };
        if is_dir {
            continue;
        }
        budget.check_declared(declared).map_err(UnlockError::Limit)?;
        let read = guarded(|| -> Result<Result<Vec<u8>, ReadFailure>, ZipError> {
            let mut file = match kind {
                Entry::Encrypted => archive.by_index_decrypt(index, password.as_bytes())?,
                Entry::Plain => archive.by_index(index)?,
            };
            Ok(budget.read(&mut file, declared))
        })?;
        let data = match read {
            Ok(Ok(data)) => data,
            Ok(Err(ReadFailure::Limit(reason))) => return Err(UnlockError::Limit(reason)),
            Ok(Err(ReadFailure::Failed(e))) => return Err(failure(kind, verified, &name, e)),
            Err(ZipError::InvalidPassword) => return Err(UnlockError::WrongPassword),
            Err(ZipError::UnsupportedArchive(why)) => {
                return Err(UnlockError::Unsupported { format: "ZIP archive".into(), why: unsupported(&name, why) });
            }
            Err(ZipError::CompressionMethodNotSupported(_)) => {
                return Err(UnlockError::Unsupported {
                    format: "ZIP archive".into(),
                    why: format!("{name} is compressed with a method sekisho cannot open"),
                });
            }
            Err(e) => return Err(failure(kind, verified, &name, e)),
        };
        verified |= kind == Entry::Encrypted;
        out.push((index, Unlocked { path: entry_path(&name), bytes: data }));
    }
    out.sort_by_key(|(index, _)| *index);
    Ok(out.into_iter().map(|(_, entry)| entry).collect())
}

/// A read that failed. Before any encrypted entry has been verified, the failure of an
/// encrypted one (a CRC or HMAC mismatch, a garbled stream) means the password is wrong;
/// after, the archive is damaged.
fn failure(kind: Entry, verified: bool, name: &str, e: impl std::fmt::Display) -> UnlockError {
    match kind {
        Entry::Encrypted if !verified => UnlockError::WrongPassword,
        _ => UnlockError::Corrupt(format!("{name}: {e}")),
    }
}

fn unsupported(name: &str, why: &str) -> String {
    format!("{name} cannot be opened by sekisho ({why})")
}
