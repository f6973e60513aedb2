//! A list file of existing addresses, read again when it changes: its modification time and
//! size are looked at no more often than every `check_interval`, so no watcher thread is
//! needed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// The addresses of one list: full addresses, and local parts that hold for every domain of
/// the rule.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Entries {
    addresses: HashSet<String>,
    local_parts: HashSet<String>,
}

impl Entries {
    /// Parses the list: one entry a line, `#` to the end of a line is a comment, blank lines
    /// are ignored, case does not matter.
    pub(crate) fn parse(text: &str) -> Entries {
        let mut e = Entries::default();
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim().to_lowercase();
            if entry.is_empty() {
                continue;
            }
            match entry.rsplit_once('@') {
                Some((local, domain)) => {
                    e.addresses.insert(format!("{local}@{}", domain.trim_end_matches('.')));
                }
                None => {
                    e.local_parts.insert(entry);
                }
            }
        }
        e
    }

    /// True when the list names `local@domain` (or `local` alone).
    pub(crate) fn contains(&self, local: &str, domain: &str) -> bool {
        let (local, domain) = (local.to_lowercase(), domain.trim_end_matches('.').to_lowercase());
        self.local_parts.contains(&local) || self.addresses.contains(&format!("{local}@{domain}"))
    }
}

#[derive(Debug)]
struct Loaded {
    entries: Option<Entries>,
    stamp: Option<(SystemTime, u64)>,
    checked: Option<Instant>,
}

/// One list file and what was last read from it.
#[derive(Debug)]
pub(crate) struct ListFile {
    path: PathBuf,
    check_interval: Duration,
    state: Mutex<Loaded>,
}

impl ListFile {
    /// A list read from `path` on first use.
    pub(crate) fn new(path: &Path, check_interval: Duration) -> ListFile {
        ListFile {
            path: path.to_path_buf(),
            check_interval,
            state: Mutex::new(Loaded { entries: None, stamp: None, checked: None }),
        }
    }

    /// Whether the list names the address; `None` when it has never been readable. A list that
    /// becomes unreadable keeps its last contents (and a warning is logged).
    pub(crate) fn lookup(&self, local: &str, domain: &str) -> Option<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if state.checked.is_none_or(|t| now.duration_since(t) >= self.check_interval) {
            state.checked = Some(now);
            self.refresh(&mut state);
        }
        state.entries.as_ref().map(|e| e.contains(local, domain))
    }

    fn refresh(&self, state: &mut Loaded) {
        let stamp = std::fs::metadata(&self.path).map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        match stamp {
            Ok(stamp) if state.stamp == Some(stamp) && state.entries.is_some() => {}
            Ok(stamp) => match std::fs::read_to_string(&self.path) {
                Ok(text) => {
                    let entries = Entries::parse(&text);
                    tracing::info!(list = %self.path.display(), "recipient list read");
                    state.entries = Some(entries);
                    state.stamp = Some(stamp);
                }
                Err(e) => {
                    tracing::warn!(list = %self.path.display(), error = %e, "recipient list unreadable; the last one read stays in use")
                }
            },
            Err(e) => {
                tracing::warn!(list = %self.path.display(), error = %e, "recipient list unreadable; the last one read stays in use")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_addresses_or_local_parts_without_case() {
        let e = Entries::parse("# staff\nAlice@Corp.test\n  bob  # the boss\n\ncarol@other.test.\n");
        assert!(e.contains("alice", "corp.test"));
        assert!(e.contains("ALICE", "CORP.TEST."));
        assert!(e.contains("bob", "corp.test") && e.contains("bob", "sub.corp.test"));
        assert!(!e.contains("alice", "sub.corp.test"));
        assert!(e.contains("carol", "other.test"));
        assert!(!e.contains("mallory", "corp.test"));
        assert!(!e.contains("#", "corp.test") && !e.contains("", "corp.test"));
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_removed_one_keeps_its_last_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.txt");
        std::fs::write(&path, "alice@corp.test\n").unwrap();
        let list = ListFile::new(&path, Duration::ZERO);
        assert_eq!(list.lookup("alice", "corp.test"), Some(true));
        assert_eq!(list.lookup("dave", "corp.test"), Some(false));
        std::fs::write(&path, "alice@corp.test\ndave@corp.test\n").unwrap();
        assert_eq!(list.lookup("dave", "corp.test"), Some(true), "the size changed: read again");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(list.lookup("dave", "corp.test"), Some(true));
        let missing = ListFile::new(&dir.path().join("none.txt"), Duration::ZERO);
        assert_eq!(missing.lookup("alice", "corp.test"), None);
    }
}
