//! One file per subcommand.

pub(crate) mod approvals;
pub(crate) mod check;
pub(crate) mod config;
pub(crate) mod dkim;
pub(crate) mod dmarc;
pub(crate) mod hold;
pub(crate) mod key;
pub(crate) mod links;
pub(crate) mod originals;
pub(crate) mod partners;
pub(crate) mod quarantine;
pub(crate) mod queue;
pub(crate) mod reports;
pub(crate) mod rules;
pub(crate) mod sender_record;
pub(crate) mod serve;
pub(crate) mod smime;
pub(crate) mod store;
pub(crate) mod tlsrpt;
pub(crate) mod user;

use sekisho_config::Config;
use sekisho_store::{QueueControl, Stores};

use crate::Failure;
use crate::config_file::ConfigSource;
use crate::output::outln;

/// Whether a command may create the data directory: only `user add` does (besides `serve`).
/// Every other command reads or changes what `serve` made, and on a directory that does not
/// exist it says so instead of reporting an empty queue from a new, empty one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataDir {
    /// Create it if it does not exist.
    Create,
    /// Exit 1 with a sentence naming the directory and the configuration if it does not exist.
    MustExist,
}

/// Opens the store of the configured data directory: its roles and the queue's control.
pub(crate) async fn open_store(
    config: &Config,
    source: &ConfigSource,
    data_dir: DataDir,
) -> Result<(Stores, QueueControl), Failure> {
    let path = &config.store.path;
    if data_dir == DataDir::MustExist && !path.is_dir() {
        return Err(Failure::Failed(format!(
            "the data directory {} does not exist (configuration: {source}); give the configuration \
             the gateway runs with (--config or {}), or start `sekisho serve` with it first",
            path.display(),
            crate::config_file::ENV
        )));
    }
    sekisho_store::open_store_on(path, &crate::object_storage::database(config, false).await?)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Failed(e.to_string()))?;
    outln!("{text}");
    Ok(())
}

/// Unix seconds as "YYYY-MM-DD HH:MM:SS" in the configured `time_zone`.
pub(crate) fn format_time(zone: &sekisho_config::TimeZone, unix: i64) -> String {
    zone.at(unix).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| unix.to_string())
}
