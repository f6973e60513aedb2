//! `sekisho config check FILE`.

use std::path::PathBuf;

use clap::Subcommand;

use crate::Failure;
use crate::output::{out, outln};

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Check a configuration file; prints every problem with its line, exits 2 on error.
    Check {
        /// The file (default: --config, then $SEKISHO_CONFIG, ./sekisho.toml,
        /// /etc/sekisho/sekisho.toml).
        file: Option<PathBuf>,
    },
    /// Print the embedded default configuration.
    Default,
}

pub(crate) fn run(command: ConfigCommand, global: Option<PathBuf>) -> Result<(), Failure> {
    match command {
        ConfigCommand::Default => {
            out!("{}", sekisho_config::DEFAULT_TOML);
            Ok(())
        }
        ConfigCommand::Check { file } => {
            let source = crate::config_file::locate_here(file.or(global));
            let Some(path) = source.path() else {
                return Err(Failure::Usage(format!("no configuration file to check: {source}")));
            };
            let config = crate::config_file::load_checked(&source).map_err(|e| Failure::Usage(e.to_string()))?;
            outln!(
                "{}: ok ({} listener{}, data in {})",
                path.display(),
                config.listeners.len(),
                if config.listeners.len() == 1 { "" } else { "s" },
                config.store.path.display()
            );
            Ok(())
        }
    }
}
