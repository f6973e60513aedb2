//! Log output: one line per event on stderr, text or JSON, filtered by `[log] level` or
//! RUST_LOG. Lines are handed to a writer thread, so a delivery or session task never waits on
//! the stderr lock or its write; when the writer falls behind by more than `BUFFERED_LINES`,
//! tasks wait for it rather than lose a line.
//!
//! Many values come from outsiders (HELO names, addresses, user names, file names, a remote
//! server's replies): in text lines every field and message is written with its control and
//! bidirectional formatting characters escaped (`sekisho_policy::text::Escaped`), here, once for
//! every logging site, so no value can start a line of its own. JSON escapes them itself.

use std::io::IsTerminal;

use sekisho_config::{LogConfig, LogFormat};
use sekisho_policy::text::Escaped;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

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
        LogFormat::Text => builder.with_target(false).fmt_fields(escaped_fields()).try_init(),
    };
    guard
}

/// Text fields as `name=value` separated by spaces (the message bare), each value escaped.
fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(
        |w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
            let value = format!("{value:?}");
            match field.name() {
                "message" => write!(w, "{}", Escaped(&value)),
                name => write!(w, "{name}={}", Escaped(&value)),
            }
        },
    )
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn an_outsiders_value_cannot_forge_a_log_line() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .with_target(false)
            .fmt_fields(escaped_fields())
            .finish();
        let user = "mallory\n2026-12-04T00:00:00.000000Z  INFO console sign-in user=admin\r";
        let file = "invoice\u{202e}fdp.exe";
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(user = %user, file, "console sign-in refused for {user}");
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{202e}') && !text.contains('\r'), "{text}");
        assert!(
            text.contains("user=mallory\\u{a}2026-12-04T00:00:00.000000Z  INFO console sign-in user=admin\\u{d}"),
            "{text}"
        );
        assert!(text.contains("file=\"invoice\\u{202e}fdp.exe\""), "{text}");
        assert!(text.contains("refused for mallory\\u{a}2026"), "the message too: {text}");
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
