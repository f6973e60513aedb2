//! Trying a message's password candidates on its archive, within a bounded amount of work.
//!
//! A try costs what the format's key derivation costs: next to nothing for ZipCrypto, PBKDF2
//! with 1000 HMAC-SHA1 rounds per AES entry, and 2^19 SHA-256 rounds for 7z by default (an
//! archive may ask for up to 2^24, which `sevenz-rust2` caps). Tries are counted, and 7z tries
//! are counted by their cost: see BENCHMARKS.md for the measured figures.

use crate::encrypted::{Format, Limits, sniff};

use super::sevenz::{self, DEFAULT_KDF_POWER};
use super::{UnlockError, Unlocked, unlock};

/// How many candidates [`try_candidates`] may try on one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLimits {
    /// Tries on a ZIP (every candidate tried counts one).
    pub max_tries: usize,
    /// Tries on a 7z, in units of 7-Zip's default key derivation (2^19 SHA-256 rounds): an
    /// archive that asks for 2^20 rounds costs two units a try. When the headers are encrypted
    /// the rounds cannot be read before a try and each try counts one unit.
    pub max_sevenz_work: u64,
}

impl Default for TryLimits {
    fn default() -> Self {
        TryLimits { max_tries: 20, max_sevenz_work: 4 }
    }
}

/// The candidate that opened an archive, and what it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The password, as given among the candidates.
    pub password: String,
    /// Every file in the archive, as [`unlock`] returns them.
    pub entries: Vec<Unlocked>,
}

/// Tries `candidates` in order on the archive `bytes` (called `name`) and returns the first
/// that opens it (verified by CRC or HMAC, so a wrong candidate never "opens" it).
///
/// `Ok(None)`: no candidate within `tries` opened it. `Err`: no password can help, and
/// trying stops at once: [`UnlockError::Unsupported`] (RAR, encrypted Office or PDF...),
/// [`UnlockError::NotEncrypted`], [`UnlockError::Limit`] (a bomb behind the password, say)
/// or [`UnlockError::Corrupt`]. Never `WrongPassword`.
pub fn try_candidates(
    name: &str,
    bytes: &[u8],
    candidates: &[String],
    limits: &Limits,
    tries: &TryLimits,
) -> Result<Option<Found>, UnlockError> {
    let max = match sniff(bytes) {
        Format::SevenZip => {
            let power = sevenz::kdf_power(bytes).unwrap_or(DEFAULT_KDF_POWER);
            let cost = 1u64 << power.saturating_sub(DEFAULT_KDF_POWER).min(63);
            tries.max_sevenz_work / cost
        }
        _ => tries.max_tries as u64,
    };
    for candidate in candidates.iter().take(usize::try_from(max).unwrap_or(usize::MAX)) {
        match unlock(name, bytes, candidate, limits) {
            Ok(entries) => return Ok(Some(Found { password: candidate.clone(), entries })),
            Err(UnlockError::WrongPassword) => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}
