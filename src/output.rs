//! Command output on stdout that survives `sekisho ... | head`.
//!
//! `println!` panics when the reader has gone (EPIPE: Rust ignores SIGPIPE). Every command
//! prints through `out!` and `outln!` instead: when stdout is a closed pipe the process ends
//! at once, quietly, with status 141 (128 + SIGPIPE, what a shell shows for `yes | head`), as
//! other Unix tools do. Any other write error ends it with status 1 and one line on stderr.

use std::io::Write;

/// Exit status when the reader of stdout went away: 128 + SIGPIPE.
pub(crate) const BROKEN_PIPE_STATUS: i32 = 141;

/// Writes to stdout; never returns on a write error.
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE_STATUS);
        }
        let _ = writeln!(std::io::stderr(), "sekisho: cannot write output: {e}");
        std::process::exit(1);
    }
}

/// `print!` that ends the process quietly when stdout's reader is gone.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that ends the process quietly when stdout's reader is gone.
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// Writes to stdout, ignoring errors: for `serve`'s start-up lines, which must never stop the
/// gateway because nobody reads them.
pub(crate) fn announce(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush());
}
