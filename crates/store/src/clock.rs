//! The time the queue goes by: the system clock plus an offset. Nothing in production moves
//! the offset; tests move it forward ([`Clock::advance`]) to see a five-minute hold or an
//! approval's timeout pass without waiting for it. Receiving (the received time a hold counts
//! from), the delivery scan (what is due) and the approvals' timeouts read it through
//! [`crate::Queue::now`].

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock, moved forward by an offset shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        let system =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        system + self.offset.load(Ordering::SeqCst)
    }

    /// Moves the clock `secs` seconds forward (tests only).
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_clone_moves_together() {
        let a = super::Clock::default();
        let b = a.clone();
        let before = a.now();
        b.advance(300);
        assert!((before + 300..before + 302).contains(&a.now()));
    }
}
