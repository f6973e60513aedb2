//! The error a format parser returns when the bytes are not what the format says.

/// Why a parser gave up on its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormatError {
    /// The input ends inside a structure.
    #[error("truncated at byte {at}")]
    Truncated { at: u64 },
    /// A structure is inconsistent or impossible.
    #[error("{0}")]
    Invalid(String),
}

impl FormatError {
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        FormatError::Invalid(what.into())
    }
}
