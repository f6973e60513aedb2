//! Log output: one line per event on stderr, text or JSON, filtered by `[log] level` or
//! RUST_LOG. Lines are handed to a writer thread, so a delivery or session task never waits on
//! the stderr lock or its write; when the writer falls behind by more than `BUFFERED_LINES`,
//! tasks wait for it rather than lose a line.

use std::io::IsTerminal;

use sekisho_config::{LogConfig, LogFormat};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines waiting for the writer thread before tasks wait for it.
const BUFFERED_LINES: usize = 65_536;

/// Installs the global subscriber; the guard flushes what is buffered when dropped, so it
/// lives as long as the command.
pub(crate) fn init(config: &LogConfig) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("sekisho-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
    guard
}
