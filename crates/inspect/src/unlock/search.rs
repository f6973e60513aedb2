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
        TryLimits { max_tries: 20, max_sevenz_work: 8 }
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

/// Tries `candidates` in order on the archive `bytes` (called `name`) and returns the one
/// that opens it (verified by CRC or HMAC, so a wrong candidate never "opens" it).
///
/// The candidates after it are tried too, within `tries`: a hostile archive can be built so
/// that a decoy password in the mail decrypts it, validly, to harmless bytes while the real
/// one gives the recipient something else. Then [`UnlockError::Ambiguous`]. So a search
/// costs its whole budget even when the first candidate opens the archive.
///
/// `Ok(None)`: no candidate within `tries` opened it. `Err`: no password can help, and
/// trying stops at once: [`UnlockError::Unsupported`] (RAR, encrypted Office or PDF...),
/// [`UnlockError::NotEncrypted`], [`UnlockError::Limit`] (a bomb behind the password, say)
/// or [`UnlockError::Corrupt`]; or [`UnlockError::Ambiguous`]. Never `WrongPassword`.
pub fn try_candidates(
    name: &str,
    bytes: &[u8],
    candidates: &[String],
    limits: &Limits,
    tries: &TryLimits,
) -> Result<Option<Found>, UnlockError> {
    let max = match sniff(bytes) {
        Format::SevenZip => tries.max_sevenz_work / sevenz::cost(sevenz::kdf_power(bytes).unwrap_or(DEFAULT_KDF_POWER)),
        _ => tries.max_tries as u64,
    };
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    search(candidates, max, |candidate| unlock(name, bytes, candidate, limits))
}

/// The search itself: `open` tries one password.
fn search(
    candidates: &[String],
    max: usize,
    mut open: impl FnMut(&str) -> Result<Vec<Unlocked>, UnlockError>,
) -> Result<Option<Found>, UnlockError> {
    let mut found: Option<Found> = None;
    for candidate in candidates.iter().take(max) {
        match open(candidate) {
            Ok(entries) => match &found {
                None => found = Some(Found { password: candidate.clone(), entries }),
                Some(first) if first.entries == entries => {}
                Some(first) => {
                    return Err(UnlockError::Ambiguous { passwords: vec![first.password.clone(), candidate.clone()] });
                }
            },
            Err(UnlockError::WrongPassword) => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn content(bytes: &[u8]) -> Vec<Unlocked> {
        vec![Unlocked { path: vec!["a.txt".into()], bytes: bytes.to_vec() }]
    }

    #[test]
    fn two_passwords_that_open_one_archive_differently_are_refused() {
        let candidates = strings(&["decoy", "other", "real"]);
        let open = |pw: &str| match pw {
            "decoy" => Ok(content(b"harmless")),
            "real" => Ok(content(b"MZ payload")),
            _ => Err(UnlockError::WrongPassword),
        };
        assert_eq!(
            search(&candidates, 10, open),
            Err(UnlockError::Ambiguous { passwords: strings(&["decoy", "real"]) })
        );
        // Beyond the tries, the second opening is not seen.
        assert_eq!(search(&candidates, 2, open).unwrap().unwrap().password, "decoy");
    }

    #[test]
    fn the_first_opening_wins_and_wrong_passwords_are_skipped() {
        let candidates = strings(&["a", "b", "c"]);
        let open = |pw: &str| if pw == "b" { Ok(content(b"x")) } else { Err(UnlockError::WrongPassword) };
        assert_eq!(search(&candidates, 10, open), Ok(Some(Found { password: "b".into(), entries: content(b"x") })));
        assert_eq!(search(&candidates, 1, open), Ok(None));
        let stop = |_: &str| Err(UnlockError::NotEncrypted);
        assert_eq!(search(&candidates, 10, stop), Err(UnlockError::NotEncrypted));
    }
}
