//! Configuration errors that name the file, the line and the key. Lines come from the TOML
//! parser's spans: a key is found by its whole path (`delivery.port`, `listener.1.address`),
//! so a key that appears in several tables points at the right one.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{ImDocument, Item, TableLike};

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
    /// A parse or type error, named by the key the parser's span falls in.
    pub(crate) fn from_toml(path: &Path, text: &str, e: &toml::de::Error) -> Self {
        let message = e.message().trim().replace("unknown field", "unknown key").replace('\n', " ");
        let Some(span) = e.span() else {
            return ConfigError::Invalid { path: path.to_path_buf(), line: 0, message };
        };
        let line = line_of_offset(text, span.start);
        let message = match key_at(text, span.start) {
            // An unknown key's span is the key itself: the message names it already.
            // `[outbound.tls]` where `[[outbound.tls]]` (a list of tables) is meant.
            Some(key) if message.starts_with("invalid type: map, expected a sequence") => {
                format!("{key}: {message}: it is a list of tables, written [[{key}]] with double brackets")
            }
            Some(key) if !message.starts_with("unknown key") => format!("{key}: {message}"),
            _ => message,
        };
        ConfigError::Invalid { path: path.to_path_buf(), line, message }
    }

    /// A value that parsed but is not acceptable. `key` is its dotted path from the top of the
    /// file (`delivery.port`, `listener.1.address`, `dns.static."example.com"`); the line is
    /// where that key is written, or 0 when it only has its default.
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

/// The segments of a dotted key path; a quoted segment may hold dots.
fn segments(key: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The line where the key at `path` is written, or 0.
fn line_of_key(text: &str, path: &str) -> usize {
    let Ok(doc) = ImDocument::parse(text) else { return 0 };
    let mut item: &Item = doc.as_item();
    let mut span: Option<Range<usize>> = None;
    for seg in segments(path) {
        let next = match seg.parse::<usize>() {
            Ok(i) => item.get(i).map(|it| (it, it.span())),
            Err(_) => item
                .as_table_like()
                .and_then(|t| t.get_key_value(&seg))
                .map(|(k, it)| (it, k.span().or_else(|| it.span()))),
        };
        let Some((next, s)) = next else { break };
        item = next;
        span = s.or(span);
    }
    span.map_or(0, |s| line_of_offset(text, s.start))
}

/// The dotted path of the innermost key whose key or value covers `offset`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = ImDocument::parse(text).ok()?;
    let mut path = Vec::new();
    find_in_table(doc.as_table(), offset, &mut path).then(|| path.join("."))
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn find_in_table(table: &dyn TableLike, offset: usize, path: &mut Vec<String>) -> bool {
    for (name, _) in table.iter() {
        let Some((key, item)) = table.get_key_value(name) else { continue };
        let shown = if name.contains(['.', ' ', '"']) || name.is_empty() { format!("\"{name}\"") } else { name.into() };
        path.push(shown);
        if find_in_item(item, offset, path) || covers(key.span(), offset) || covers(item.span(), offset) {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_item(item: &Item, offset: usize, path: &mut Vec<String>) -> bool {
    if let Some(tables) = item.as_array_of_tables() {
        for (i, t) in tables.iter().enumerate() {
            path.push(i.to_string());
            if find_in_table(t, offset, path) {
                return true;
            }
            path.pop();
        }
        return false;
    }
    item.as_table_like().is_some_and(|t| find_in_table(t, offset, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[smtp]\nmax_connections = 5\n\n[delivery]\nport = 2525\nmax_connections = 0\n\n\
                        [[listener]]\naddress = \"127.0.0.1:25\"\n\n[[listener]]\naddress = \"127.0.0.1:26\"\n\
                        [dns.static]\n\"example.com\" = [\"MX 10 mx\"]\n";

    #[test]
    fn a_key_in_several_tables_is_found_in_the_right_one() {
        assert_eq!(line_of_key(TEXT, "smtp.max_connections"), 2);
        assert_eq!(line_of_key(TEXT, "delivery.max_connections"), 6);
        assert_eq!(line_of_key(TEXT, "delivery.port"), 5);
        assert_eq!(line_of_key(TEXT, "listener.1.address"), 12);
        assert_eq!(line_of_key(TEXT, "listener.0.address"), 9);
        assert_eq!(line_of_key(TEXT, "dns.static.\"example.com\""), 14);
        assert_eq!(line_of_key(TEXT, "mta_sts.port"), 0, "a key left at its default has no line");
    }

    #[test]
    fn an_offset_names_its_key_path() {
        let offset = TEXT.find("2525").unwrap();
        assert_eq!(key_at(TEXT, offset).as_deref(), Some("delivery.port"));
        let offset = TEXT.find("127.0.0.1:26").unwrap();
        assert_eq!(key_at(TEXT, offset).as_deref(), Some("listener.1.address"));
        let offset = TEXT.find("MX 10").unwrap();
        assert_eq!(key_at(TEXT, offset).as_deref(), Some("dns.static.\"example.com\""));
    }
}

/// Why one value of the configuration is not what its key takes (the sentence names the
/// value; the caller adds the key and line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
