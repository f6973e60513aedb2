//! Password checks for AUTH, slowed per failure and throttled per client address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sekisho_smtp::session::AuthOutcome;
use sekisho_store::{AccountStore, users};

/// Checks credentials against the store and remembers recent failures per client address.
pub(crate) struct Authenticator {
    store: Arc<dyn AccountStore>,
    failure_delay: Duration,
    client_limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    dummy_hash: String,
    /// Argon2 costs about 19 MiB and a core per check: only a few run at once.
    slots: tokio::sync::Semaphore,
}

/// Most client addresses remembered at once.
const MAX_TRACKED: usize = 100_000;

/// The key a client's failures are counted under: its IPv4 address, or its IPv6 /64 (one
/// attacker usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Authenticator {
    pub(crate) fn new(
        store: Arc<dyn AccountStore>,
        failure_delay: Duration,
        client_limit: u32,
        window: Duration,
    ) -> Self {
        Authenticator {
            store,
            failure_delay,
            client_limit,
            window,
            failures: Mutex::new(HashMap::new()),
            dummy_hash: users::hash_password("sekisho-timing-equaliser"),
            slots: tokio::sync::Semaphore::new(4),
        }
    }

    /// Checks `user`/`password` for a client at `ip` whose session already failed
    /// `session_failures` times. A failure returns only after a delay that grows with them.
    pub(crate) async fn verify(&self, ip: IpAddr, user: &str, password: &str, session_failures: u32) -> AuthOutcome {
        let ip = client_key(ip);
        // The attempt counts as a failure until proven otherwise, so parallel connections
        // cannot each spend the whole allowance.
        if !self.reserve(ip) {
            return AuthOutcome::Throttled;
        }
        let hash = match self.store.password_hash(user).await {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the user store");
                None
            }
        };
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_string();
        let ok = match self.slots.acquire().await {
            Ok(_slot) => {
                tokio::task::spawn_blocking(move || users::verify_password(&hash, &password)).await.unwrap_or(false)
            }
            Err(_) => false,
        };
        if ok && known {
            self.forgive(ip);
            return AuthOutcome::Success;
        }
        tokio::time::sleep(self.failure_delay * (session_failures + 1)).await;
        AuthOutcome::Failure
    }

    /// Counts an attempt for `ip`; false when its recent failures already reach the limit.
    fn reserve(&self, ip: IpAddr) -> bool {
        let mut map = self.failures.lock().expect("auth failures lock");
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| t.elapsed() <= window));
            if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
                return false;
            }
        }
        let q = map.entry(ip).or_default();
        while q.front().is_some_and(|t| t.elapsed() > self.window) {
            q.pop_front();
        }
        if q.len() >= self.client_limit as usize {
            return false;
        }
        q.push_back(Instant::now());
        true
    }

    /// Takes back the attempt reserved for a successful login.
    fn forgive(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("auth failures lock");
        if let Some(q) = map.get_mut(&ip) {
            q.pop_back();
            if q.is_empty() {
                map.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
