//! Connection limits of one listener: in total and per client address, and the stress level
//! that shortens the idle time of sessions before MAIL.
//!
//! Each listener counts only its own connections, so the internet filling the MX listener never
//! locks users out of submission. Clients in the listener's trusted networks count towards the
//! total but have no per-client limit (Postfix exempts `$mynetworks` the same way): an internal
//! mail server relaying through the gateway runs as many parallel sessions as it likes.
//! A slot is released when the session ends, before its last reply is written, so a client
//! that reconnects the moment it read 221 finds its slot free.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Counts the open connections of one listener.
#[derive(Debug)]
pub(crate) struct ConnectionLimiter {
    max_total: usize,
    max_per_client: usize,
    /// Stressed with more than `max_total * stress_percent / 100` connections open.
    stress_percent: usize,
    open: Mutex<Open>,
    stressed: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Holds one connection's place; released by `drop`.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    /// The client address, when it counts against the per-client limit.
    ip: Option<IpAddr>,
}

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Total(usize),
    PerClient(usize),
}

impl ConnectionLimiter {
    /// A limiter for `max_total` connections, `max_per_client` from one address, under stress
    /// above `stress_percent` percent of `max_total`.
    pub(crate) fn new(max_total: usize, max_per_client: usize, stress_percent: u8) -> Arc<Self> {
        Arc::new(ConnectionLimiter {
            max_total,
            max_per_client,
            stress_percent: usize::from(stress_percent),
            open: Mutex::new(Open::default()),
            stressed: watch::Sender::new(false),
        })
    }

    /// Takes a slot for `ip`, or says which limit is reached. A `trusted` client has no
    /// per-client limit.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr, trusted: bool) -> Result<ConnectionSlot, Refusal> {
        let mut open = self.open.lock().expect("limiter lock");
        if open.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        if !trusted {
            let n = open.per_client.entry(ip).or_insert(0);
            if *n >= self.max_per_client {
                return Err(Refusal::PerClient(self.max_per_client));
            }
            *n += 1;
        }
        open.total += 1;
        self.update_stress(&open);
        Ok(ConnectionSlot { limiter: self.clone(), ip: (!trusted).then_some(ip) })
    }

    /// Open connections now.
    pub(crate) fn open(&self) -> usize {
        self.open.lock().expect("limiter lock").total
    }

    /// Follows the stress level: `true` while more than the threshold is open.
    pub(crate) fn stress(&self) -> watch::Receiver<bool> {
        self.stressed.subscribe()
    }

    fn update_stress(&self, open: &Open) {
        let now = open.total * 100 > self.max_total * self.stress_percent;
        self.stressed.send_if_modified(|s| std::mem::replace(s, now) != now);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().expect("limiter lock");
        open.total -= 1;
        if let Some(ip) = self.ip
            && let Some(n) = open.per_client.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&ip);
            }
        }
        self.limiter.update_stress(&open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_total_and_per_client_and_releases() {
        let l = ConnectionLimiter::new(3, 2, 80);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let s1 = l.acquire(a, false).unwrap();
        let _s2 = l.acquire(a, false).unwrap();
        assert_eq!(l.acquire(a, false).unwrap_err(), Refusal::PerClient(2));
        let _s3 = l.acquire(b, false).unwrap();
        assert_eq!(l.acquire(b, false).unwrap_err(), Refusal::Total(3));
        drop(s1);
        assert_eq!(l.open(), 2);
        assert!(l.acquire(b, false).is_ok());
        assert_eq!(l.open(), 2, "the slot taken in the assertion above is released again");
    }

    #[test]
    fn trusted_clients_have_no_per_client_limit_but_count_in_total() {
        let l = ConnectionLimiter::new(25, 2, 80);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..20).map(|_| l.acquire(a, true).unwrap()).collect();
        assert_eq!(l.open(), 20);
        assert!(l.acquire(a, false).is_ok(), "untrusted, the same address is counted on its own");
        drop(slots);
        assert_eq!(l.open(), 0);
        let _x = l.acquire(a, false).unwrap();
        let _y = l.acquire(a, false).unwrap();
        assert_eq!(l.acquire(a, false).unwrap_err(), Refusal::PerClient(2));
    }

    #[test]
    fn stress_begins_above_the_threshold_and_ends_below_it() {
        let l = ConnectionLimiter::new(5, 5, 80);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let stress = l.stress();
        let mut slots: Vec<_> = (0..4).map(|_| l.acquire(ip, false).unwrap()).collect();
        assert!(!*stress.borrow(), "4 of 5 is 80%, not above");
        slots.push(l.acquire(ip, false).unwrap());
        assert!(*stress.borrow());
        slots.pop();
        assert!(!*stress.borrow());
        let never = ConnectionLimiter::new(2, 2, 100);
        let _full = [never.acquire(ip, false).unwrap(), never.acquire(ip, false).unwrap()];
        assert!(!*never.stress().borrow(), "100%: never under stress");
    }
}
