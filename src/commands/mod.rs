//! One file per subcommand.

pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod links;
pub(crate) mod queue;
pub(crate) mod serve;
pub(crate) mod user;

use crate::Failure;
use crate::output::outln;

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Failed(e.to_string()))?;
    outln!("{text}");
    Ok(())
}

/// Unix seconds as "YYYY-MM-DD HH:MM:SS" in local time.
pub(crate) fn format_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| unix.to_string())
}
