//! Queue IDs: time-ordered, unique, safe as file names.

use rand::Rng;

const ALPHABET: &[u8; 32] = b"0123456789BCDFGHJKLMNPQRSTVWXYZb";

/// A message's queue ID: 10 characters of microsecond time and 6 random characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    /// A new ID for a message received now.
    pub fn generate() -> QueueId {
        let micros =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let mut s = String::with_capacity(16);
        for i in (0..10).rev() {
            s.push(ALPHABET[((micros >> (i * 5)) & 31) as usize] as char);
        }
        let mut rng = rand::thread_rng();
        for _ in 0..6 {
            s.push(ALPHABET[rng.gen_range(0..32)] as char);
        }
        QueueId(s)
    }

    /// Accepts an ID typed by a person or read from disk; `None` if it cannot be one of ours.
    pub fn parse(s: &str) -> Option<QueueId> {
        (s.len() == 16 && s.bytes().all(|b| ALPHABET.contains(&b))).then(|| QueueId(s.to_string()))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_parseable_and_time_ordered() {
        let a = QueueId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = QueueId::generate();
        assert_ne!(a, b);
        assert!(a.as_str()[..10] < b.as_str()[..10]);
        assert_eq!(QueueId::parse(a.as_str()), Some(a));
        assert_eq!(QueueId::parse("../../etc/passwd"), None);
    }
}
