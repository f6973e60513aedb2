//! 7z with AES-256: content only (names readable), or the headers too (`-mhe=on`), decrypted
//! with `sevenz-rust2`.
//!
//! 7z has no password check value: a wrong key only shows as a decoder failure or a CRC
//! mismatch. So every entry in an encrypted block must carry a CRC, and the password is right
//! only once one has been verified (or the encrypted headers decoded, which their CRC
//! verifies). An archive whose encrypted entries carry no CRC is refused: any password would
//! seem to open it.

use std::collections::HashSet;
use std::io::{Cursor, Read};

use sevenz_rust2::{Archive, ArchiveEntry, ArchiveReader, EncoderMethod, Error, Password};

use super::budget::{Budget, ReadFailure};
use super::{UnlockError, Unlocked, entry_path, guarded};

/// 7-Zip's default key derivation: 2^19 SHA-256 rounds.
pub(crate) const DEFAULT_KDF_POWER: u8 = 19;

/// Key derivation work one unlock may do for the content, in default derivations (2^19
/// SHA-256 rounds, about 12 ms here: BENCHMARKS.md). 7-Zip derives once for a whole archive;
/// a hostile one could give each of thousands of blocks its own salt and 2^24 rounds.
pub(crate) const MAX_KDF_WORK: u64 = 64;

pub(crate) fn unlock(bytes: &[u8], password: &str, budget: &mut Budget<'_>) -> Result<Vec<Unlocked>, UnlockError> {
    let memory_kb = usize::try_from(budget.limits.max_decoder_memory / 1024).unwrap_or(usize::MAX);
    let (archive, headers_verified) = match read(bytes, &Password::empty(), memory_kb)? {
        Ok(archive) => (archive, false),
        Err(Error::PasswordRequired) => {
            if password.is_empty() {
                return Err(UnlockError::WrongPassword);
            }
            match read(bytes, &Password::new(password), memory_kb)? {
                Ok(archive) => (archive, true),
                Err(Error::MaxMemLimited { .. }) => return Err(memory()),
                // The encrypted header did not decode to a valid, CRC-checked header.
                Err(_) => return Err(UnlockError::WrongPassword),
            }
        }
        Err(Error::MaxMemLimited { .. }) => return Err(memory()),
        Err(e) => return Err(UnlockError::corrupt(e)),
    };
    budget.check_entries(archive.files.len()).map_err(UnlockError::Limit)?;
    let encrypted: Vec<usize> = (0..archive.files.len()).filter(|&i| archive.is_file_encrypted(i)).collect();
    if encrypted.is_empty() && !headers_verified {
        return Err(UnlockError::NotEncrypted);
    }
    if encrypted.iter().any(|&i| archive.files[i].has_stream && !archive.files[i].has_crc) {
        return Err(UnlockError::unsupported(
            "7z archive",
            "this 7z archive carries no checksums, so sekisho cannot tell whether a password is right",
        ));
    }
    let aes = archive.blocks.iter().flat_map(|b| b.coders.iter());
    let aes = aes.filter(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256);
    if kdf_work(aes.map(|c| c.properties())) > MAX_KDF_WORK {
        return Err(UnlockError::unsupported(
            "7z archive",
            "this 7z archive asks for more key derivation work than sekisho allows",
        ));
    }
    // Checked up front: in a solid block, skipping an entry would still decode it.
    let mut total = 0u64;
    for file in archive.files.iter().filter(|f| f.has_stream) {
        budget.check_declared(file.size).map_err(UnlockError::Limit)?;
        total = total.saturating_add(file.size);
    }
    if total > budget.left() {
        return Err(UnlockError::Limit(crate::encrypted::Reason::TotalTooLarge {
            max: budget.limits.max_total_uncompressed,
        }));
    }
    if password.is_empty() {
        return Err(UnlockError::WrongPassword);
    }
    decode(bytes, archive, password, &encrypted, headers_verified, budget)
}

/// Reads the archive's headers, a panic of the parser made an error.
fn read(bytes: &[u8], password: &Password, memory_kb: usize) -> Result<Result<Archive, Error>, UnlockError> {
    guarded(|| Archive::read_with_memory_limit(&mut Cursor::new(bytes), password, memory_kb))
}

fn memory() -> UnlockError {
    UnlockError::unsupported("7z archive", "this 7z archive needs more memory to decode than sekisho allows")
}

/// Decodes every entry (solid blocks decode in order), each within the budget.
fn decode(
    bytes: &[u8],
    archive: Archive,
    password: &str,
    encrypted: &[usize],
    mut verified: bool,
    budget: &mut Budget<'_>,
) -> Result<Vec<Unlocked>, UnlockError> {
    let mut reader = ArchiveReader::from_archive(archive, Cursor::new(bytes), Password::new(password));
    reader.set_thread_count(1);
    // The callback sees entries by reference: they are told apart by address.
    let files = &reader.archive().files;
    let secret: HashSet<usize> = encrypted.iter().map(|&i| &files[i] as *const ArchiveEntry as usize).collect();
    let mut out = Vec::new();
    let mut stop: Option<UnlockError> = None;
    let mut current_secret = false;
    let result = guarded(|| {
        reader.for_each_entries(|entry, data: &mut dyn Read| {
            current_secret = secret.contains(&(entry as *const ArchiveEntry as usize));
            if !entry.has_stream() || entry.is_directory() {
                return Ok(true);
            }
            match budget.read(data, entry.size()) {
                Ok(content) => {
                    verified |= current_secret;
                    out.push(Unlocked { path: entry_path(entry.name()), bytes: content });
                    Ok(true)
                }
                Err(ReadFailure::Limit(reason)) => {
                    stop = Some(UnlockError::Limit(reason));
                    Ok(false)
                }
                Err(ReadFailure::Failed(e)) => Err(Error::MaybeBadPassword(e)),
            }
        })
    })?;
    if let Some(error) = stop {
        return Err(error);
    }
    match result {
        Ok(()) => Ok(out),
        Err(Error::MaxMemLimited { .. }) => Err(memory()),
        Err(Error::UnsupportedCompressionMethod(method)) => Err(UnlockError::Unsupported {
            format: "7z archive".into(),
            why: format!("this 7z archive is compressed with a method sekisho cannot open ({method})"),
        }),
        Err(_) if current_secret && !verified => Err(UnlockError::WrongPassword),
        Err(e) => Err(UnlockError::corrupt(e)),
    }
}

/// The key derivation work decoding every block costs, in default derivations. The decoder
/// keeps the last key, so a block with the same parameters as the one before costs nothing.
/// `aes` are the properties of each block's AES coder, in order.
fn kdf_work<'a>(aes: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut work = 0u64;
    let mut last: Option<&[u8]> = None;
    for props in aes {
        if last != Some(props) {
            work = work.saturating_add(cost(props.first().map_or(DEFAULT_KDF_POWER, |p| p & 0x3F)));
        }
        last = Some(props);
    }
    work
}

/// One derivation of 2^`power` rounds, in default derivations (at least 1). The power 63
/// means a raw key, without derivation.
pub(crate) fn cost(power: u8) -> u64 {
    if power == RAW_KEY {
        return 1;
    }
    1u64 << power.saturating_sub(DEFAULT_KDF_POWER).min(62)
}

const RAW_KEY: u8 = 0x3F;

/// The key derivation work of the first encrypted block whose coder is readable without the
/// password (content-only encryption): 2 to this power SHA-256 rounds per try. `None` when
/// the headers are encrypted (7-Zip then uses its default, but a hostile archive may not).
pub(crate) fn kdf_power(bytes: &[u8]) -> Option<u8> {
    let archive = read(bytes, &Password::empty(), 64 << 10).ok()?.ok()?;
    archive
        .blocks
        .iter()
        .flat_map(|b| b.coders.iter())
        .find(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256)
        .and_then(|c| c.properties().first())
        .map(|p| p & 0x3F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_derivation_work_counts_each_new_salt_and_its_rounds() {
        // 7-Zip: one set of parameters for every block (power 19, no salt).
        let same = [[19u8, 0x00].as_slice(); 500];
        assert_eq!(kdf_work(same.iter().copied()), 1);
        // A salt of its own for each block: a derivation each.
        let salts: Vec<Vec<u8>> = (0..100u8).map(|i| vec![19 | 0x80, 0x00, i]).collect();
        assert_eq!(kdf_work(salts.iter().map(|p| p.as_slice())), 100);
        assert!(kdf_work(salts.iter().map(|p| p.as_slice())) > MAX_KDF_WORK);
        // 2^24 rounds cost 32 default derivations.
        assert_eq!(kdf_work([[24u8, 0x00].as_slice(), &[24, 0x10, 7]].into_iter()), 64);
        assert_eq!(cost(RAW_KEY), 1);
        assert_eq!(cost(10), 1);
    }
}
