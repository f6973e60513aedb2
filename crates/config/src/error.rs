//! Configuration errors that name the file, the line and the key.

use std::path::{Path, PathBuf};

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Syntax error, unknown key or bad value.
    #[error("{}:{line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
}

impl ConfigError {
    pub(crate) fn from_toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let line = e.span().map_or(0, |s| line_of_offset(text, s.start));
        let message = e.message().trim().replace("unknown field", "unknown key").replace('\n', " ");
        ConfigError::Invalid { path: path.to_path_buf(), line, message }
    }

    pub(crate) fn invalid(path: &Path, text: &str, key: &str, message: String) -> Self {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of_key(text, key),
            message: format!("{key}: {message}"),
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `key` is assigned, or 0 when the key is only implied by a default.
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}
