//! Sign-ins under way: the `state`, `nonce` and PKCE verifier of each, bound to the browser's
//! pre-session cookie (only its SHA-256 is kept), used once, forgotten after ten minutes. In
//! memory and bounded: a restart or a flood forgets the oldest, and that sign-in starts again.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use sekisho_store::links::{random_token, token_hash};

/// How long a sign-in may take at the provider, seconds.
pub const LIFETIME: i64 = 10 * 60;
/// Most sign-ins under way at once.
pub const MAX_PENDING: usize = 10_000;

/// One sign-in under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Sent as `state`, checked on the way back.
    pub state: String,
    /// Sent as `nonce`, checked in the ID token.
    pub nonce: String,
    /// The PKCE `code_verifier` (RFC 7636).
    pub verifier: String,
    /// When it started, Unix seconds.
    pub started: i64,
}

impl Pending {
    /// The PKCE S256 `code_challenge` of the verifier.
    pub fn challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// The sign-ins under way, by the hash of their cookie.
#[derive(Debug, Default)]
pub struct PendingFlows {
    flows: Mutex<HashMap<String, Pending>>,
}

impl PendingFlows {
    /// Starts a sign-in at `now`: the cookie value for the browser, and what to send.
    pub fn begin(&self, now: i64) -> (String, Pending) {
        let cookie = random_token(32);
        let pending =
            Pending { state: random_token(24), nonce: random_token(24), verifier: random_token(48), started: now };
        let mut flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        if flows.len() >= MAX_PENDING {
            flows.retain(|_, p| p.started + LIFETIME > now);
        }
        if flows.len() >= MAX_PENDING
            && let Some(oldest) = flows.iter().min_by_key(|(_, p)| p.started).map(|(k, _)| k.clone())
        {
            flows.remove(&oldest);
        }
        flows.insert(token_hash(&cookie), pending.clone());
        (cookie, pending)
    }

    /// The sign-in of `cookie`, removed (used once); `None` when unknown or older than
    /// `LIFETIME`.
    pub fn take(&self, cookie: &str, now: i64) -> Option<Pending> {
        let pending = self.flows.lock().unwrap_or_else(|p| p.into_inner()).remove(&token_hash(cookie))?;
        (pending.started + LIFETIME > now).then_some(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_is_taken_once_and_only_within_ten_minutes() {
        let flows = PendingFlows::default();
        let (cookie, p) = flows.begin(1000);
        assert_eq!(flows.take(&cookie, 1001), Some(p.clone()));
        assert_eq!(flows.take(&cookie, 1002), None, "used once");
        let (cookie, _) = flows.begin(1000);
        assert_eq!(flows.take(&cookie, 1000 + LIFETIME), None, "expired");
        assert_eq!(flows.take("unknown", 1000), None);
        // base64url(SHA-256(verifier)) without padding, as Python computes it.
        let b = Pending { verifier: "dBjftJeZ4CVP-mJ92K9moTE4N7SEdnKDw7xaBkDUnm8".into(), ..p.clone() };
        assert_eq!(b.challenge(), "CTmStipp_egcQbBqGB6Gy-13v5wgnbcWyVE3xZWhc_0");
        assert!(p.verifier.len() >= 43 && p.state != p.nonce);
    }

    #[test]
    fn a_flood_of_starts_stays_bounded() {
        let flows = PendingFlows::default();
        let (first, _) = flows.begin(0);
        for i in 0..MAX_PENDING {
            flows.begin(1 + i as i64 / 1000);
        }
        assert!(flows.flows.lock().unwrap().len() <= MAX_PENDING);
        assert_eq!(flows.take(&first, 5), None, "the oldest went first");
    }
}
