//! Password checks for AUTH, slowed per failure and throttled per client address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sekisho_smtp::session::AuthOutcome;
use sekisho_store::{QueueStore, users};

/// Checks credentials against the store and remembers recent failures per client address.
pub(crate) struct Authenticator {
    store: Arc<dyn QueueStore>,
    failure_delay: Duration,
    client_limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    dummy_hash: String,
}

impl Authenticator {
    pub(crate) fn new(
        store: Arc<dyn QueueStore>,
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
        }
    }

    /// Checks `user`/`password` for a client at `ip` whose session already failed
    /// `session_failures` times. A failure returns only after a delay that grows with them.
    pub(crate) async fn verify(&self, ip: IpAddr, user: &str, password: &str, session_failures: u32) -> AuthOutcome {
        if self.recent_failures(ip) >= self.client_limit as usize {
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
        let ok = tokio::task::spawn_blocking(move || users::verify_password(&hash, &password)).await.unwrap_or(false);
        if ok && known {
            return AuthOutcome::Success;
        }
        self.record_failure(ip);
        tokio::time::sleep(self.failure_delay * (session_failures + 1)).await;
        AuthOutcome::Failure
    }

    fn recent_failures(&self, ip: IpAddr) -> usize {
        let mut map = self.failures.lock().expect("auth failures lock");
        let Some(q) = map.get_mut(&ip) else { return 0 };
        while q.front().is_some_and(|t| t.elapsed() > self.window) {
            q.pop_front();
        }
        let n = q.len();
        if n == 0 {
            map.remove(&ip);
        }
        n
    }

    fn record_failure(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("auth failures lock");
        if map.len() > 100_000 {
            // Bounded memory under a distributed attack: forget the oldest picture.
            map.clear();
        }
        let q = map.entry(ip).or_default();
        q.push_back(Instant::now());
        if q.len() > self.client_limit as usize {
            q.pop_front();
        }
    }
}
