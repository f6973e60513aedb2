//! Which configuration a command runs on. The first of these that is given or exists:
//! `--config FILE`, `SEKISHO_CONFIG`, `./sekisho.toml`, `/etc/sekisho/sekisho.toml`, and
//! otherwise the embedded default. A file named by `--config` or `SEKISHO_CONFIG` must exist.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use sekisho_config::Config;

use crate::Failure;

/// The environment variable naming the configuration file.
pub(crate) const ENV: &str = "SEKISHO_CONFIG";
/// The configuration file in the current directory.
pub(crate) const LOCAL: &str = "./sekisho.toml";
/// The system-wide configuration file.
pub(crate) const SYSTEM: &str = "/etc/sekisho/sekisho.toml";

/// Where the configuration came from, as error messages and `serve` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// `--config FILE`.
    Flag(PathBuf),
    /// `SEKISHO_CONFIG=FILE`.
    Env(PathBuf),
    /// `./sekisho.toml`.
    Local,
    /// `/etc/sekisho/sekisho.toml`.
    System,
    /// No file: the embedded default.
    Embedded,
}

impl ConfigSource {
    /// The file to read, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        match self {
            ConfigSource::Flag(p) | ConfigSource::Env(p) => Some(p),
            ConfigSource::Local => Some(Path::new(LOCAL)),
            ConfigSource::System => Some(Path::new(SYSTEM)),
            ConfigSource::Embedded => None,
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Flag(p) => write!(f, "{} (--config)", p.display()),
            ConfigSource::Env(p) => write!(f, "{} ({ENV})", p.display()),
            ConfigSource::Local => f.write_str(LOCAL),
            ConfigSource::System => f.write_str(SYSTEM),
            ConfigSource::Embedded => {
                write!(f, "the embedded default (no --config, no {ENV}, no {LOCAL}, no {SYSTEM})")
            }
        }
    }
}

/// Picks the configuration: `flag`, else `env` (when not empty), else the first of the local
/// and system files that `exists`, else the embedded default.
pub(crate) fn locate(flag: Option<PathBuf>, env: Option<OsString>, exists: impl Fn(&Path) -> bool) -> ConfigSource {
    if let Some(p) = flag {
        return ConfigSource::Flag(p);
    }
    if let Some(p) = env.filter(|v| !v.is_empty()) {
        return ConfigSource::Env(PathBuf::from(p));
    }
    if exists(Path::new(LOCAL)) {
        return ConfigSource::Local;
    }
    if exists(Path::new(SYSTEM)) {
        return ConfigSource::System;
    }
    ConfigSource::Embedded
}

/// Picks the configuration from `--config`, the environment and the file system.
pub(crate) fn locate_here(flag: Option<PathBuf>) -> ConfigSource {
    locate(flag, std::env::var_os(ENV), Path::exists)
}

/// Reads and checks the configuration `source` names (exit 2 on error).
pub(crate) fn load(source: &ConfigSource) -> Result<Config, Failure> {
    match source.path() {
        Some(p) => Config::load(p).map_err(|e| Failure::Usage(e.to_string())),
        None => Ok(Config::embedded()),
    }
}

/// Reads the configuration `source` names and checks it, with every file it names, the way
/// `sekisho config check` does and a reload (SIGHUP) does: the one place both go through.
pub(crate) fn load_checked(source: &ConfigSource) -> Result<Config, sekisho_config::ConfigError> {
    let config = match source.path() {
        Some(p) => Config::load(p)?,
        None => Config::embedded(),
    };
    crate::material::check(&config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(files: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |p| files.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn the_first_given_or_existing_place_wins() {
        let flag = Some(PathBuf::from("/srv/gw.toml"));
        let env = Some(OsString::from("/opt/gw.toml"));
        let all = only(&[LOCAL, SYSTEM]);
        assert_eq!(locate(flag.clone(), env.clone(), &all), ConfigSource::Flag("/srv/gw.toml".into()));
        assert_eq!(locate(None, env, &all), ConfigSource::Env("/opt/gw.toml".into()));
        assert_eq!(locate(None, None, &all), ConfigSource::Local);
        assert_eq!(locate(None, None, only(&[SYSTEM])), ConfigSource::System);
        assert_eq!(locate(None, None, only(&[])), ConfigSource::Embedded);
    }

    #[test]
    fn an_empty_environment_variable_counts_as_unset() {
        assert_eq!(locate(None, Some(OsString::new()), only(&[SYSTEM])), ConfigSource::System);
    }

    #[test]
    fn each_source_names_itself() {
        assert_eq!(ConfigSource::Env("/opt/gw.toml".into()).to_string(), "/opt/gw.toml (SEKISHO_CONFIG)");
        assert_eq!(ConfigSource::System.to_string(), "/etc/sekisho/sekisho.toml");
        assert!(ConfigSource::Embedded.to_string().starts_with("the embedded default"));
    }
}
