//! Why a file could not be scanned. Every one of these means "not scanned": the caller
//! classifies the file as an error, never as safe.

use std::fmt;
use std::time::Duration;

use crate::address::ClamdAddress;

/// The step that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Connecting to clamd (`connect_timeout`).
    Connect,
    /// Sending the file and waiting for clamd's answer (`scan_timeout`).
    Scan,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting to clamd",
            Stage::Scan => "waiting for clamd's answer",
        })
    }
}

/// A scan, ping or version request that did not get an answer sekisho can trust.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    /// Nothing listens at the address (connection refused, no socket file).
    #[error("clamd is not available at {address}: {source}")]
    Unavailable {
        /// The configured address.
        address: ClamdAddress,
        /// What connecting reported.
        source: std::io::Error,
    },
    /// A step took longer than its timeout.
    #[error("timed out after {after:?} {stage}")]
    Timeout {
        /// Which step.
        stage: Stage,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The file is larger than `max_stream`, or than clamd's `StreamMaxLength`
    /// (`INSTREAM size limit exceeded. ERROR`).
    #[error("the file is larger than clamd accepts in one stream (max_stream, clamd's StreamMaxLength)")]
    TooLarge,
    /// clamd stopped scanning at one of its limits (`MaxFileSize`, `MaxScanSize`, `MaxFiles`,
    /// `MaxRecursion`, `MaxScanTime`, ...): with `AlertExceedsMax yes` it answers
    /// `stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND`. The file was not scanned whole.
    /// (Without `AlertExceedsMax`, clamd answers `stream: OK` for such a file, which no client
    /// can tell from a clean one: set it.)
    #[error("clamd did not scan the whole file: {signature}")]
    LimitExceeded {
        /// clamd's name for the limit, e.g. `Heuristics.Limits.Exceeded.MaxFileSize`.
        signature: String,
    },
    /// clamd answered with an error, or with text this client does not know.
    #[error("clamd refused the request: {0}")]
    Refused(String),
    /// The conversation broke its rules (no terminating NUL, a reply too long, a session
    /// reply for another command, clamd closing before it answered).
    #[error("clamd protocol error: {0}")]
    Protocol(String),
    /// Reading the file, or the connection, failed.
    #[error("i/o error talking to clamd: {0}")]
    Io(#[from] std::io::Error),
    /// No memory file could be made for a file to pass as a descriptor (it is then streamed).
    #[error("no memory file for the descriptor: {0}")]
    NoMemoryFile(std::io::Error),
}
