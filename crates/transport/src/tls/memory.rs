//! Downgrade memory: sekisho remembers, per recipient domain and MX host, the TLS its sessions
//! reached. A session to that host that now reaches less — STARTTLS gone from EHLO, the
//! handshake failing, the certificate suddenly invalid — is what an attacker in the path looks
//! like, and is flagged. Keyed by host as well, a backup MX that never offered TLS raises no
//! alarm when the primary is down.

use std::collections::HashMap;
use std::sync::Mutex;

use super::assurance::Assurance;

/// What is remembered about one domain's MX host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainMemory {
    /// Deliveries whose session reached `encrypted` or better.
    pub secure_sessions: u32,
    /// Unix seconds of the last of them.
    pub last_secure_at: i64,
    /// Deliveries whose session reached `authenticated`.
    pub authenticated_sessions: u32,
    /// Unix seconds of the last of them.
    pub last_authenticated_at: i64,
}

/// The downgrade rule: the domain reached a level at least `min_sessions` times, the last time
/// within `window` seconds, and this session reached less: encrypted before and none now
/// (STARTTLS stripped, handshake failing), or authenticated before and not now (the certificate
/// suddenly invalid, as a man in the middle's would be).
pub fn suspected(memory: &DomainMemory, reached: Assurance, now: i64, window: i64, min_sessions: u32) -> bool {
    let min = min_sessions.max(1);
    let lost_tls =
        reached < Assurance::Encrypted && memory.secure_sessions >= min && now - memory.last_secure_at <= window;
    let lost_authentication = reached < Assurance::Authenticated
        && memory.authenticated_sessions >= min
        && now - memory.last_authenticated_at <= window;
    lost_tls || lost_authentication
}

/// The memory of every (domain, MX host) delivered to, shared by all deliveries.
pub struct DowngradeMemory {
    window: i64,
    min_sessions: u32,
    domains: Mutex<HashMap<(String, String), DomainMemory>>,
}

impl DowngradeMemory {
    /// A memory starting from what the store kept.
    pub fn new(
        window: i64,
        min_sessions: u32,
        known: impl IntoIterator<Item = ((String, String), DomainMemory)>,
    ) -> Self {
        DowngradeMemory { window, min_sessions, domains: Mutex::new(known.into_iter().collect()) }
    }

    /// Adds what the store kept from earlier runs.
    pub fn load(&self, known: impl IntoIterator<Item = ((String, String), DomainMemory)>) {
        self.domains.lock().expect("downgrade memory").extend(known);
    }

    /// Records a session to `host` for `domain` that reached `reached`. Returns whether it
    /// looks like a downgrade, and the new memory when it changed (to be stored).
    pub fn observe(&self, domain: &str, host: &str, reached: Assurance, now: i64) -> (bool, Option<DomainMemory>) {
        let mut domains = self.domains.lock().expect("downgrade memory");
        let key = (domain.to_ascii_lowercase(), host.to_ascii_lowercase());
        let memory = domains.entry(key).or_default();
        let flagged = suspected(memory, reached, now, self.window, self.min_sessions);
        if reached >= Assurance::Encrypted {
            memory.secure_sessions = memory.secure_sessions.saturating_add(1);
            memory.last_secure_at = now;
        }
        if reached >= Assurance::Authenticated {
            memory.authenticated_sessions = memory.authenticated_sessions.saturating_add(1);
            memory.last_authenticated_at = now;
        }
        (flagged, (reached >= Assurance::Encrypted).then_some(*memory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_that_had_tls_and_now_has_none_is_flagged() {
        let m = DowngradeMemory::new(3600, 1, []);
        assert_eq!(m.observe("Example.JP", "mx", Assurance::None, 0), (false, None), "nothing known yet");
        let (flag, changed) = m.observe("example.jp", "mx", Assurance::Encrypted, 10);
        assert!(!flag);
        assert_eq!(changed, Some(DomainMemory { secure_sessions: 1, last_secure_at: 10, ..Default::default() }));
        assert!(m.observe("example.jp", "MX", Assurance::None, 20).0, "STARTTLS stripped");
        assert!(!m.observe("example.jp", "mx", Assurance::Authenticated, 30).0);
        assert!(!m.observe("example.jp", "mx", Assurance::None, 30 + 3601).0, "outside the window");
        assert!(!m.observe("other.example", "mx", Assurance::None, 40).0, "per domain");
        assert!(!m.observe("example.jp", "backup", Assurance::None, 41).0, "per MX: a plaintext backup is no alarm");
    }

    #[test]
    fn a_certificate_suddenly_invalid_is_flagged() {
        let m = DowngradeMemory::new(3600, 1, []);
        m.observe("bank.example", "mx", Assurance::Authenticated, 1);
        assert!(m.observe("bank.example", "mx", Assurance::Encrypted, 2).0);
        let n = DowngradeMemory::new(3600, 1, []);
        n.observe("plain.example", "mx", Assurance::Encrypted, 1);
        assert!(!n.observe("plain.example", "mx", Assurance::Encrypted, 2).0, "never authenticated: nothing lost");
    }

    #[test]
    fn minimum_number_of_secure_sessions() {
        let m = DowngradeMemory::new(3600, 3, []);
        m.observe("a.example", "mx", Assurance::Encrypted, 1);
        m.observe("a.example", "mx", Assurance::Encrypted, 2);
        assert!(!m.observe("a.example", "mx", Assurance::None, 3).0);
        m.observe("a.example", "mx", Assurance::Encrypted, 4);
        assert!(m.observe("a.example", "mx", Assurance::None, 5).0);
    }
}
