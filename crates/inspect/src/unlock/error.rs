//! Why an archive could not be opened with a password.

use crate::encrypted::Reason;

/// Why [`unlock`](super::unlock) gave no entries. Each message is written for the recipient
/// who typed the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnlockError {
    /// The password does not decrypt the archive: the check value, then the CRC (ZipCrypto,
    /// 7z) or the HMAC (WinZip AES) of the decrypted data disagreed. A damaged encrypted
    /// entry looks the same and is reported this way too.
    #[error("the password is wrong")]
    WrongPassword,
    /// The file is encrypted in a way sekisho cannot open.
    #[error("{why}")]
    Unsupported {
        /// The format, in words ("RAR archive").
        format: String,
        /// Why, for the recipient ("RAR archives cannot be opened by sekisho").
        why: String,
    },
    /// The file is an archive sekisho can open, but nothing in it is password-protected: the
    /// password has nothing to open.
    #[error("this file is not password-protected")]
    NotEncrypted,
    /// A bound of [`Limits`](crate::encrypted::Limits) was reached: too many entries, an
    /// entry or the total too large. No entry is returned.
    #[error("the archive cannot be opened: {0}")]
    Limit(Reason),
    /// Two different passwords carried by the message each open the archive: one ciphertext
    /// that decrypts validly under two keys is built to show a scanner something else than
    /// the recipient. Only [`try_candidates`](super::try_candidates) returns it.
    #[error("more than one password opens this archive, each to different content")]
    Ambiguous {
        /// The passwords that opened it, in the order tried.
        passwords: Vec<String>,
    },
    /// The bytes are not a valid archive, or the archive was damaged after the password was
    /// shown right.
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
}

impl UnlockError {
    pub(crate) fn unsupported(format: &str, why: &str) -> Self {
        UnlockError::Unsupported { format: format.to_owned(), why: why.to_owned() }
    }

    pub(crate) fn corrupt(detail: impl ToString) -> Self {
        UnlockError::Corrupt(detail.to_string())
    }
}
