//! Counts kept in memory as events happen and written to the store in batches: the TLS
//! sessions delivery has (`sekisho_deliver::session_counts`) and the DMARC results of inbound
//! mail (`sekisho_receive`'s aggregation). Memory is bounded by the number of distinct keys, not
//! by the number of events: when `max_rows` distinct keys are held, `add` says the rows should
//! be written now.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Like events counted per key, with the detail of the first one seen.
pub struct Counts<K, D> {
    rows: Mutex<HashMap<K, (u64, D)>>,
    max_rows: usize,
}

impl<K: Hash + Eq, D> Counts<K, D> {
    /// Counts that ask to be written once `max_rows` distinct keys are held.
    pub fn new(max_rows: usize) -> Counts<K, D> {
        Counts { rows: Mutex::new(HashMap::new()), max_rows: max_rows.max(1) }
    }

    /// Counts one event of `key` (`detail` is kept when the key is new). True when the rows
    /// should be written now (too many distinct ones).
    pub fn add(&self, key: K, detail: impl FnOnce() -> D) -> bool {
        let mut rows = self.rows.lock().expect("counts lock");
        rows.entry(key).or_insert_with(|| (0, detail())).0 += 1;
        rows.len() >= self.max_rows
    }

    /// Takes every row counted so far: key, count, detail.
    pub fn take(&self) -> Vec<(K, u64, D)> {
        let rows = std::mem::take(&mut *self.rows.lock().expect("counts lock"));
        rows.into_iter().map(|(k, (n, d))| (k, n, d)).collect()
    }

    /// Puts rows back after the store refused them, so a passing failure loses no count.
    pub fn restore(&self, rows: Vec<(K, u64, D)>) {
        let mut map = self.rows.lock().expect("counts lock");
        for (k, n, d) in rows {
            map.entry(k).or_insert((0, d)).0 += n;
        }
    }

    /// Distinct keys held.
    pub fn len(&self) -> usize {
        self.rows.lock().expect("counts lock").len()
    }

    /// Nothing held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_events_make_one_row_and_a_full_table_asks_to_be_written() {
        let c: Counts<&str, &str> = Counts::new(2);
        assert!(!c.add("a", || "first"));
        assert!(!c.add("a", || "second"));
        assert!(c.add("b", || "b"), "two distinct keys fill a table of two");
        let mut rows = c.take();
        rows.sort();
        assert_eq!(rows, [("a", 2, "first"), ("b", 1, "b")]);
        assert!(c.is_empty());
        c.restore(rows);
        c.add("a", || "later");
        let mut rows = c.take();
        rows.sort();
        assert_eq!(rows, [("a", 3, "first"), ("b", 1, "b")]);
    }
}
