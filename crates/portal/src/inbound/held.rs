//! Archives opened with a password, held in memory for the portal session that opened them:
//! the classified entries (shown on the page) and the bytes of the Safe ones (the only ones
//! downloadable). Never written to disk; the password is not kept at all. Bounded: at most
//! `MAX_HELD` bytes over every session, a session's archives dropped when it expires (and all
//! of them when the portal restarts: the recipient types the password again).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sekisho_policy::inbound::ClassifiedFile;

/// The most bytes of opened entries held at once, over every session.
pub const MAX_HELD: usize = 256 << 20;

/// One entry of an opened archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its class, with its path inside the archive as its name.
    pub file: ClassifiedFile,
    /// Its bytes, when it is Safe (nothing else is ever sent).
    pub bytes: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Session {
    /// Unix seconds.
    expires_at: i64,
    /// By the archive's number among the message's files.
    archives: BTreeMap<usize, Vec<Entry>>,
}

impl Session {
    fn bytes(&self) -> usize {
        self.archives.values().flatten().filter_map(|e| e.bytes.as_ref()).map(|b| b.len()).sum()
    }
}

/// No room for more opened entries now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the portal holds as many opened archives as it may")]
pub struct Full;

/// The opened archives of every session, keyed by the SHA-256 of the session cookie.
#[derive(Debug)]
pub struct Held {
    sessions: Mutex<HashMap<String, Session>>,
    max: usize,
}

impl Default for Held {
    fn default() -> Self {
        Held::with_limit(MAX_HELD)
    }
}

impl Held {
    /// Holding at most `max` bytes.
    pub fn with_limit(max: usize) -> Held {
        Held { sessions: Mutex::new(HashMap::new()), max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `entries` as archive `n` of `session` (valid until `expires_at`), in place of any
    /// earlier opening of it; refused when the bytes would pass the bound.
    pub fn put(&self, session: &str, expires_at: i64, n: usize, entries: Vec<Entry>, now: i64) -> Result<(), Full> {
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expires_at > now);
        let new: usize = entries.iter().filter_map(|e| e.bytes.as_ref()).map(|b| b.len()).sum();
        let replaced: usize = sessions
            .get(session)
            .and_then(|s| s.archives.get(&n))
            .map_or(0, |es| es.iter().filter_map(|e| e.bytes.as_ref()).map(|b| b.len()).sum());
        let total: usize = sessions.values().map(Session::bytes).sum::<usize>() - replaced;
        if total + new > self.max {
            return Err(Full);
        }
        let s = sessions.entry(session.to_string()).or_default();
        s.expires_at = expires_at;
        s.archives.insert(n, entries);
        Ok(())
    }

    /// The classified entries of every archive `session` opened.
    pub fn classified(&self, session: &str, now: i64) -> BTreeMap<usize, Vec<ClassifiedFile>> {
        let sessions = self.lock();
        match sessions.get(session).filter(|s| s.expires_at > now) {
            Some(s) => s.archives.iter().map(|(n, es)| (*n, es.iter().map(|e| e.file.clone()).collect())).collect(),
            None => BTreeMap::new(),
        }
    }

    /// The entries of archive `n` opened in `session`.
    pub fn entries(&self, session: &str, n: usize, now: i64) -> Option<Vec<Entry>> {
        let sessions = self.lock();
        sessions.get(session).filter(|s| s.expires_at > now).and_then(|s| s.archives.get(&n)).cloned()
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.lock().values().map(Session::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_policy::inbound::FileClass;

    fn entry(size: usize, safe: bool) -> Entry {
        Entry {
            file: ClassifiedFile {
                name: "e".into(),
                size: size as u64,
                file_type: "text".into(),
                class: if safe { FileClass::Safe } else { FileClass::Danger },
                reason: String::new(),
                sha256: None,
                children: Vec::new(),
            },
            bytes: safe.then(|| Arc::new(vec![0; size])),
        }
    }

    #[test]
    fn bounded_per_portal_replaced_per_archive_and_gone_with_the_session() {
        let held = Held::with_limit(100);
        held.put("s1", 50, 0, vec![entry(60, true), entry(1000, false)], 10).unwrap();
        assert_eq!(held.held(), 60, "only Safe bytes are held");
        assert_eq!(held.put("s2", 50, 0, vec![entry(50, true)], 10), Err(Full));
        held.put("s1", 50, 0, vec![entry(90, true)], 10).unwrap();
        assert_eq!(held.held(), 90, "opening an archive again replaces it");
        assert_eq!(held.classified("s1", 10)[&0].len(), 1);
        assert!(held.entries("s2", 0, 10).is_none(), "one session never sees another's");
        assert!(held.classified("s1", 50).is_empty(), "expired with its session");
        held.put("s2", 100, 1, vec![entry(100, true)], 60).unwrap();
        assert_eq!(held.held(), 100, "an expired session's bytes are freed");
    }
}
