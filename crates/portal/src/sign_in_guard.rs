//! Password checks under a guessing attack. Every argon2 verification of the portal (console
//! passwords, link passwords and passphrases) runs through one semaphore, a few at once, so a
//! flood of guesses cannot take the memory and the blocking threads the rest of sekisho needs.
//! Console sign-ins are also counted before they are hashed, per account and per client
//! address: an account with too many wrong passwords is locked for a while (even the right
//! password is refused, and its owner is told once per episode), a client with too many is
//! refused. The counting is in memory: a restart forgets it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

/// argon2 verifications at once (each takes ~19 MiB and a blocking thread).
pub const HASHING_AT_ONCE: usize = 2;
/// How long a check waits for its turn before the client is told to come back.
pub const HASHING_WAIT: Duration = Duration::from_secs(5);
/// Wrong passwords (or checks under way) for one account within `WINDOW` that lock it.
pub const ACCOUNT_FAILURES: usize = 10;
/// Wrong passwords (or checks under way) from one client address within `WINDOW` after which
/// it is refused.
pub const CLIENT_FAILURES: usize = 30;
/// The window the failures are counted in, seconds.
pub const WINDOW: i64 = 15 * 60;
/// How long a locked account stays locked, seconds.
pub const LOCK: i64 = 15 * 60;

/// Whether a sign-in may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Check the password (the try is counted until it turns out right).
    Check,
    /// The account is locked until this time (Unix seconds): refused unchecked.
    AccountLocked { until: i64 },
    /// The client made too many wrong tries: refused unchecked.
    ClientThrottled,
}

/// What a wrong password led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Counted.
    Counted,
    /// This failure locked the account: tell its owner (once per episode).
    Locked { failures: usize },
}

/// Tries (Unix seconds) of one account or client within the window, and its lock.
#[derive(Debug, Default)]
struct Tries {
    at: VecDeque<i64>,
    locked_until: i64,
}

impl Tries {
    fn prune(&mut self, now: i64) {
        while self.at.front().is_some_and(|&t| t <= now - WINDOW) {
            self.at.pop_front();
        }
    }

    /// Takes back one try counted at `at` (a right password, or one never checked).
    fn forget(&mut self, at: i64) {
        if let Some(i) = self.at.iter().rposition(|&t| t == at) {
            self.at.remove(i);
        }
    }
}

/// The counters, keyed by account name (lower case) and client address.
#[derive(Debug, Default)]
pub struct Counters {
    accounts: HashMap<String, Tries>,
    clients: HashMap<IpAddr, Tries>,
}

impl Counters {
    /// Decides whether a sign-in of `account` from `client` at `now` is checked, and if so
    /// counts it before it is checked, so concurrent guesses are bounded too.
    pub fn admit(&mut self, account: &str, client: IpAddr, now: i64) -> Admission {
        if self.accounts.len() + self.clients.len() > 100_000 {
            self.sweep(now);
        }
        let a = self.accounts.entry(account.to_lowercase()).or_default();
        a.prune(now);
        if a.locked_until > now {
            return Admission::AccountLocked { until: a.locked_until };
        }
        if a.at.len() >= ACCOUNT_FAILURES {
            // Checks under way will lock it when they fail.
            return Admission::AccountLocked { until: now + LOCK };
        }
        let c = self.clients.entry(client).or_default();
        c.prune(now);
        if c.at.len() >= CLIENT_FAILURES {
            return Admission::ClientThrottled;
        }
        c.at.push_back(now);
        self.accounts.entry(account.to_lowercase()).or_default().at.push_back(now);
        Admission::Check
    }

    /// The try admitted at `admitted` was right, or was never checked: it does not count.
    pub fn forget(&mut self, account: &str, client: IpAddr, admitted: i64) {
        if let Some(a) = self.accounts.get_mut(&account.to_lowercase()) {
            a.forget(admitted);
        }
        if let Some(c) = self.clients.get_mut(&client) {
            c.forget(admitted);
        }
    }

    /// The try was wrong: it stays counted, and may lock the account.
    pub fn failed(&mut self, account: &str, now: i64) -> Failure {
        let a = self.accounts.entry(account.to_lowercase()).or_default();
        a.prune(now);
        if a.at.len() >= ACCOUNT_FAILURES && a.locked_until <= now {
            let failures = a.at.len();
            a.locked_until = now + LOCK;
            a.at.clear();
            return Failure::Locked { failures };
        }
        Failure::Counted
    }

    fn sweep(&mut self, now: i64) {
        self.accounts.retain(|_, t| {
            t.prune(now);
            !t.at.is_empty() || t.locked_until > now
        });
        self.clients.retain(|_, t| {
            t.prune(now);
            !t.at.is_empty()
        });
    }
}

/// The portal's password checks: the semaphore and the sign-in counters.
#[derive(Debug)]
pub struct SignInGuard {
    hashing: Semaphore,
    running: AtomicUsize,
    peak: AtomicUsize,
    /// The sign-in counters.
    pub counters: Mutex<Counters>,
    dummy: std::sync::OnceLock<String>,
}

/// No turn came within `HASHING_WAIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

impl Default for SignInGuard {
    fn default() -> Self {
        SignInGuard {
            hashing: Semaphore::new(HASHING_AT_ONCE),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            counters: Mutex::new(Counters::default()),
            dummy: std::sync::OnceLock::new(),
        }
    }
}

impl SignInGuard {
    /// Whether `secret` matches the PHC (argon2) hash `hash`, in turn with the other checks.
    /// Without a hash (an unknown account) a dummy hash is checked, so the answer takes as long.
    pub async fn verify(&self, hash: Option<String>, secret: String) -> Result<bool, Busy> {
        let _permit =
            tokio::time::timeout(HASHING_WAIT, self.hashing.acquire()).await.map_err(|_| Busy)?.map_err(|_| Busy)?;
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(running, Ordering::SeqCst);
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h,
            None => self
                .dummy
                .get_or_init(|| sekisho_store::users::hash_password(&sekisho_store::links::random_token(24)))
                .clone(),
        };
        let right = tokio::task::spawn_blocking(move || sekisho_store::users::verify_password(&hash, &secret))
            .await
            .unwrap_or(false);
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(right && known)
    }

    /// The most password checks that ran at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// `Counters::admit` under the lock.
    pub fn admit(&self, account: &str, client: IpAddr, now: i64) -> Admission {
        self.counters.lock().unwrap_or_else(|p| p.into_inner()).admit(account, client, now)
    }

    /// `Counters::forget` under the lock.
    pub fn forget(&self, account: &str, client: IpAddr, admitted: i64) {
        self.counters.lock().unwrap_or_else(|p| p.into_inner()).forget(account, client, admitted);
    }

    /// `Counters::failed` under the lock.
    pub fn failed(&self, account: &str, now: i64) -> Failure {
        self.counters.lock().unwrap_or_else(|p| p.into_inner()).failed(account, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn ten_failures_lock_the_account_once_for_a_while() {
        let mut c = Counters::default();
        for i in 0..ACCOUNT_FAILURES {
            assert_eq!(c.admit("alice", HOME, 100), Admission::Check);
            let expected = if i + 1 == ACCOUNT_FAILURES { Failure::Locked { failures: 10 } } else { Failure::Counted };
            assert_eq!(c.failed("alice", 100), expected);
        }
        assert_eq!(c.admit("Alice", HOME, 101), Admission::AccountLocked { until: 100 + LOCK }, "names fold case");
        assert_eq!(c.admit("bob", HOME, 101), Admission::Check, "other accounts are not locked");
        assert_eq!(c.admit("alice", HOME, 100 + LOCK), Admission::Check, "the lock ends");
    }

    #[test]
    fn checks_under_way_count_so_a_flood_is_bounded_before_hashing() {
        let mut c = Counters::default();
        let admitted = (0..60).filter(|_| c.admit("alice", HOME, 100) == Admission::Check).count();
        assert_eq!(admitted, ACCOUNT_FAILURES);
        // A right password among them does not count.
        c.forget("alice", HOME, 100);
        assert_eq!(c.admit("alice", HOME, 100), Admission::Check);
    }

    #[test]
    fn one_client_guessing_many_accounts_is_refused() {
        let mut c = Counters::default();
        let admitted = (0..100).filter(|i| c.admit(&format!("user{i}"), HOME, 100) == Admission::Check).count();
        assert_eq!(admitted, CLIENT_FAILURES);
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(c.admit("user99", elsewhere, 100), Admission::Check);
        assert_eq!(c.admit("user0", HOME, 100 + WINDOW), Admission::Check, "the window slides");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_than_two_hashes_run_at_once() {
        let guard = std::sync::Arc::new(SignInGuard::default());
        let hash = sekisho_store::users::hash_password("right");
        let checks = (0..12).map(|i| {
            let (guard, hash) = (guard.clone(), hash.clone());
            tokio::spawn(async move { guard.verify(Some(hash), if i == 0 { "right" } else { "wrong" }.into()).await })
        });
        let mut right = 0;
        for c in checks {
            if let Ok(true) = c.await.unwrap() {
                right += 1;
            }
        }
        assert_eq!(right, 1);
        assert!(guard.peak() <= HASHING_AT_ONCE && guard.peak() >= 1, "{}", guard.peak());
        assert_eq!(guard.verify(None, "right".into()).await, Ok(false), "no account, no match");
    }
}
