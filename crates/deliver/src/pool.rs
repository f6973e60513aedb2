//! Open connections kept for the next message to the same host, for a short idle time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::session::{Connection, Target};

/// Idle connections by target.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Target, Vec<(Connection, Instant)>>>,
}

impl Pool {
    /// An idle connection to `target` no older than `max_idle`, if any.
    pub fn take(&self, target: &Target, max_idle: Duration) -> Option<Connection> {
        let mut idle = self.idle.lock().expect("pool lock");
        let list = idle.get_mut(target)?;
        while let Some((conn, since)) = list.pop() {
            if since.elapsed() <= max_idle {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a connection that just finished a transaction cleanly.
    pub fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("pool lock");
        idle.entry(conn.target.clone()).or_default().push((conn, Instant::now()));
    }

    /// Removes connections idle longer than `max_idle`, returning them to be closed.
    pub fn expire(&self, max_idle: Duration) -> Vec<Connection> {
        let mut idle = self.idle.lock().expect("pool lock");
        let mut expired = Vec::new();
        for list in idle.values_mut() {
            let (keep, old): (Vec<_>, Vec<_>) = list.drain(..).partition(|(_, since)| since.elapsed() <= max_idle);
            *list = keep;
            expired.extend(old.into_iter().map(|(c, _)| c));
        }
        idle.retain(|_, l| !l.is_empty());
        expired
    }

    /// Every idle connection (at shutdown).
    pub fn drain(&self) -> Vec<Connection> {
        self.idle.lock().expect("pool lock").drain().flat_map(|(_, l)| l.into_iter().map(|(c, _)| c)).collect()
    }
}
