//! The callout's memory: an address's last definite answer until its time to live ends.
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Addresses remembered at most; when full, expired entries go, then everything.
const MAX_ENTRIES: usize = 100_000;

/// Known (`true`) and unknown (`false`) addresses with their expiry.
#[derive(Debug, Default)]
pub(crate) struct VerdictCache {
    entries: HashMap<String, (bool, Instant)>,
}

impl VerdictCache {
    /// The remembered answer for `address`, if it has not expired at `now`.
    pub(crate) fn get(&self, address: &str, now: Instant) -> Option<bool> {
        self.entries.get(&key(address)).filter(|(_, until)| now < *until).map(|(known, _)| *known)
    }

    /// Remembers `known` for `address` for `ttl` from `now`; a zero `ttl` forgets it.
    pub(crate) fn put(&mut self, address: &str, known: bool, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            self.entries.remove(&key(address));
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, (_, until)| now < *until);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries.insert(key(address), (known, now + ttl));
    }
}

/// Addresses compare without regard to case (local parts of the internal server are, in
/// practice, case-insensitive; Postfix's verify cache does the same).
fn key(address: &str) -> String {
    address.trim_end_matches('.').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_after_their_time_to_live() {
        let mut c = VerdictCache::default();
        let t0 = Instant::now();
        c.put("Alice@Corp.test", true, Duration::from_secs(60), t0);
        c.put("ghost@corp.test", false, Duration::from_secs(10), t0);
        assert_eq!(c.get("alice@corp.test", t0 + Duration::from_secs(30)), Some(true));
        assert_eq!(c.get("ghost@corp.test", t0 + Duration::from_secs(5)), Some(false));
        assert_eq!(c.get("ghost@corp.test", t0 + Duration::from_secs(10)), None);
        assert_eq!(c.get("alice@corp.test", t0 + Duration::from_secs(61)), None);
        c.put("alice@corp.test", false, Duration::ZERO, t0);
        assert_eq!(c.get("alice@corp.test", t0), None, "a zero time to live remembers nothing");
    }
}
