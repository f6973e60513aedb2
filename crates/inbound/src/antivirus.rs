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

/// ClamAV's clamd: every error (unavailable, timed out, a limit clamd stopped at) is
/// [`Scan::Failed`] with clamd's reason.
impl Antivirus for sekisho_antivirus::Clamd {
    fn name(&self) -> String {
        format!("clamd at {}", self.settings().address)
    }

    fn scan(&self, bytes: std::sync::Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Scan> + Send + '_>> {
        Box::pin(async move {
            match sekisho_antivirus::Clamd::scan(self, &bytes).await {
                Ok(sekisho_antivirus::Verdict::Clean) => Scan::Clean,
                Ok(sekisho_antivirus::Verdict::Found { signature }) => Scan::Found(signature),
                Err(e) => Scan::Failed(e.to_string()),
            }
        })
    }
}

/// The antivirus `[antivirus]` configures, or [`NoAntivirus`].
pub fn configured(config: &sekisho_config::AntivirusConfig) -> std::sync::Arc<dyn Antivirus> {
    match config.settings() {
        Some(settings) => std::sync::Arc::new(sekisho_antivirus::Clamd::new(settings)),
        None => std::sync::Arc::new(NoAntivirus),
    }
}
