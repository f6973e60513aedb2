//! Unknown recipients per client address over all its sessions, within a window, so that
//! reconnecting does not turn recipient verification into an address-harvesting oracle.
//! Pure: the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Client addresses tracked at most; when full, those whose window ended go, then all.
const MAX_CLIENTS: usize = 100_000;

/// Per client address: unknown recipients since the window began.
#[derive(Debug)]
pub(crate) struct UnknownCounter {
    limit: u32,
    window: Duration,
    clients: HashMap<IpAddr, (u32, Instant)>,
}

impl UnknownCounter {
    /// At most `limit` unknown recipients per client address within `window`.
    pub(crate) fn new(limit: u32, window: Duration) -> UnknownCounter {
        UnknownCounter { limit, window, clients: HashMap::new() }
    }

    /// True when `client` reached the limit in its current window.
    pub(crate) fn over(&self, client: IpAddr, now: Instant) -> bool {
        self.clients.get(&client).is_some_and(|(n, since)| now.duration_since(*since) < self.window && *n >= self.limit)
    }

    /// Counts one unknown recipient for `client`.
    pub(crate) fn record(&mut self, client: IpAddr, now: Instant) {
        if self.clients.len() >= MAX_CLIENTS && !self.clients.contains_key(&client) {
            let window = self.window;
            self.clients.retain(|_, (_, since)| now.duration_since(*since) < window);
            if self.clients.len() >= MAX_CLIENTS {
                self.clients.clear();
            }
        }
        let entry = self.clients.entry(client).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_limit_waits_for_the_window_to_pass() {
        let mut c = UnknownCounter::new(2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        c.record(a, t0);
        assert!(!c.over(a, t0));
        c.record(a, t0 + Duration::from_secs(10));
        assert!(c.over(a, t0 + Duration::from_secs(20)));
        assert!(!c.over(b, t0 + Duration::from_secs(20)), "another client is not affected");
        assert!(!c.over(a, t0 + Duration::from_secs(60)), "the window has passed");
        c.record(a, t0 + Duration::from_secs(61));
        assert!(!c.over(a, t0 + Duration::from_secs(62)), "a new window starts from one");
    }
}
