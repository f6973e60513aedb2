//! The parsed records mail-auth looked up (SPF, DKIM keys, DMARC, MX and addresses), kept until
//! their DNS TTL runs out, so a sender's second message costs no parsing and no lookup.
//! Negative answers (NXDOMAIN, no records) are kept by the resolver underneath
//! (`sekisho_dns::plain_resolver`), for their SOA's minimum TTL.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::{MX, RecordSet, ResolverCache, Txt};

/// The most entries one cache holds; when full, the expired ones go first, then everything.
const MAX_ENTRIES: usize = 16_384;

/// A map from name to record that forgets each entry at its expiry.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> Default for TtlCache<K, V> {
    fn default() -> Self {
        TtlCache { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    /// Entries held, expired or not.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.lock().ok()?.remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

/// One cache per kind of record mail-auth asks for.
#[derive(Default)]
pub struct Caches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, RecordSet<Box<str>>>,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use mail_auth::ResolverCache;

    use super::TtlCache;

    #[test]
    fn an_entry_is_forgotten_when_its_ttl_runs_out() {
        let cache: TtlCache<Box<str>, u32> = TtlCache::default();
        cache.insert("fresh.example.".into(), 1, Instant::now() + Duration::from_secs(60));
        cache.insert("stale.example.".into(), 2, Instant::now() - Duration::from_secs(1));
        assert_eq!(cache.get("fresh.example."), Some(1));
        assert_eq!(cache.get("stale.example."), None);
        assert_eq!(cache.len(), 1, "the expired entry is dropped when asked for");
    }
}
