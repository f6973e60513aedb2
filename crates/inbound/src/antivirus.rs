//! The seam to the antivirus: one call per file, whose every failure is a [`Scan::Failed`]
//! (the file is then Error, never Safe).

use std::future::Future;
use std::pin::Pin;

/// What the antivirus said of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Scanned, nothing found.
    Clean,
    /// A signature matched: its name ("Eicar-Test-Signature").
    Found(String),
    /// Not scanned: why ("clamd at /run/clamav/clamd.ctl is unavailable", "timed out").
    Failed(String),
}

/// A scanner of files' bytes.
pub trait Antivirus: Send + Sync {
    /// What scans, for the record ("clamd 127.0.0.1:3310").
    fn name(&self) -> String;

    /// Scans `bytes`.
    fn scan(&self, bytes: std::sync::Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Scan> + Send + '_>>;
}

/// No antivirus configured: every file is "not scanned".
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAntivirus;

impl Antivirus for NoAntivirus {
    fn name(&self) -> String {
        "none configured ([antivirus] clamd is unset)".into()
    }

    fn scan(&self, _bytes: std::sync::Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Scan> + Send + '_>> {
        Box::pin(async { Scan::Failed("no antivirus is configured".into()) })
    }
}
