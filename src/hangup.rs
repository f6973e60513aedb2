//! SIGHUP in `sekisho serve`: a logrotate habit must not take mail down.
//!
//! Configuration reload does not exist yet, so a hangup changes nothing: the gateway logs a
//! warning saying so and keeps serving. Logs go to standard error (there is no log file of
//! sekisho's own to reopen); whoever redirects them owns that file and its rotation.

use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

/// The warning logged on every SIGHUP.
pub(crate) const WARNING: &str = "SIGHUP received: configuration reload is not supported; the gateway keeps serving with the configuration it started with";

/// Installs the SIGHUP handler (replacing the default action, which ends the process) and
/// answers every hangup with the warning until the returned task is aborted.
pub(crate) fn handle() -> std::io::Result<JoinHandle<()>> {
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::warn!("{WARNING}");
        }
    }))
}
