//! Log output: one line per event on stderr, or appended to `[log] file` (reopened on SIGHUP,
//! so logrotate can move it away), text or JSON, filtered by `[log] level` or RUST_LOG. Lines
//! are handed to a writer thread (`crate::log_writer`), so a delivery or session task never
//! waits on the stderr lock or its write: the thread is woken by the first line after it went
//! idle, lets the lines of the next few milliseconds gather and writes them with one system
//! call; when it falls behind by megabytes, tasks wait for it rather than lose a line. A panic
//! first has the lines queued before it written (waiting at most 100 ms); at exit sekisho waits
//! at most a second for the writer (stderr may be a pipe nobody reads), then leaves it behind.
//!
//! Many values come from outsiders (HELO names, addresses, user names, file names, a remote
//! server's replies): in text lines every field and message is written with its control and
//! bidirectional formatting characters escaped (`sekisho_policy::text::Escaped`), here, once for
//! every logging site, so no value can start a line of its own. JSON escapes them itself.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sekisho_config::{LogConfig, LogFormat};
use sekisho_policy::text::Escaped;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

use crate::log_writer::{self, Guard};

/// Installs the global subscriber, writing to `[log] file` when set (the returned [`LogFile`]
/// reopens it), else stderr; the guard writes what is waiting when dropped, so it lives as
/// long as the command. Fails when the file cannot be opened or the writer thread not started.
pub(crate) fn init(config: &LogConfig) -> std::io::Result<(Guard, Option<LogFile>)> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let (file, (writer, guard), ansi) = match &config.file {
        Some(path) => {
            let file = LogFile::open(path)?;
            let writer = log_writer::start(FileWriter(file.file.clone()), "sekisho-log")?;
            (Some(file), writer, false)
        }
        None => (None, log_writer::start(std::io::stderr(), "sekisho-log")?, std::io::stderr().is_terminal()),
    };
    log_writer::flush_on_panic(&writer);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).fmt_fields(escaped_fields()).try_init(),
    };
    Ok((guard, file))
}

/// `[log] file`, open for appending; [`LogFile::reopen`] starts writing to whatever file is at
/// its path now (a new one after logrotate renamed the old).
#[derive(Clone)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl LogFile {
    fn open(path: &Path) -> std::io::Result<LogFile> {
        Ok(LogFile { path: path.to_path_buf(), file: Arc::new(Mutex::new(append(path)?)) })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again and writes there from the next line on; on error the old file
    /// stays in use.
    pub(crate) fn reopen(&self) -> std::io::Result<()> {
        let fresh = append(&self.path)?;
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.flush();
        *file = fresh;
        Ok(())
    }
}

/// Opens `path` for appending, creating it (0600: sekisho's umask) when missing.
fn append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot open the log file {}: {e}", path.display())))
}

/// The writer thread's end of a [`LogFile`].
struct FileWriter(Arc<Mutex<File>>);

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// Text fields as `name=value` separated by spaces (the message bare), each value escaped as
/// it is written into the line (no copy of the value first).
fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(
        |w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
            use std::fmt::Write as _;
            if field.name() != "message" {
                w.write_str(field.name())?;
                w.write_char('=')?;
            }
            write!(Escaping(w), "{value:?}")
        },
    )
    .delimited(" ")
}

/// Writes what it is given with `hidden` characters escaped ([`Escaped`]): every piece a value
/// formats itself into is whole characters, so escaping piece by piece escapes the value.
struct Escaping<'a, W: std::fmt::Write>(&'a mut W);

impl<W: std::fmt::Write> std::fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Printable ASCII (most of every line) has nothing to escape.
        if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            self.0.write_str(s)
        } else {
            write!(self.0, "{}", Escaped(s))
        }
    }
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

    #[test]
    fn a_reopened_log_file_writes_where_the_path_points_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sekisho.log");
        let log = LogFile::open(&path).unwrap();
        let mut w = FileWriter(log.file.clone());
        w.write_all(b"before\n").unwrap();
        std::fs::rename(&path, dir.path().join("sekisho.log.1")).unwrap();
        w.write_all(b"still the old file\n").unwrap();
        log.reopen().unwrap();
        w.write_all(b"after\n").unwrap();
        let old = std::fs::read_to_string(dir.path().join("sekisho.log.1")).unwrap();
        assert_eq!(old, "before\nstill the old file\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
        let gone = LogFile::open(&dir.path().join("gone/sekisho.log")).err().unwrap();
        assert!(gone.to_string().starts_with("cannot open the log file "), "{gone}");
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
