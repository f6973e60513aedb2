//! The bounds of one unlock: entries counted, bytes decompressed, each entry read within what
//! is left. A bomb behind a password stops here like any other.

use std::io::Read;

use crate::encrypted::walker::{Capped, read_capped};
use crate::encrypted::{Limits, Reason};

/// How one entry's read ended when it did not end with its bytes.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// A bound of the limits was reached.
    Limit(Reason),
    /// The decoder failed: a wrong key, a checksum or a damaged stream.
    Failed(std::io::Error),
}

/// What one unlock has spent of its [`Limits`].
pub(crate) struct Budget<'l> {
    pub(crate) limits: &'l Limits,
    decompressed: u64,
}

impl<'l> Budget<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Budget { limits, decompressed: 0 }
    }

    /// Refuses an archive with more entries than [`Limits::max_entries`].
    pub(crate) fn check_entries(&self, n: usize) -> Result<(), Reason> {
        if n > self.limits.max_entries {
            return Err(Reason::TooManyEntries { max: self.limits.max_entries });
        }
        Ok(())
    }

    /// Bytes that may still be decompressed.
    pub(crate) fn left(&self) -> u64 {
        self.limits.max_total_uncompressed.saturating_sub(self.decompressed)
    }

    /// Checks a declared size before any work is spent on it.
    pub(crate) fn check_declared(&self, declared: u64) -> Result<(), Reason> {
        if declared > self.limits.max_entry_size {
            return Err(Reason::EntryTooLarge { max: self.limits.max_entry_size });
        }
        if declared > self.left() {
            return Err(Reason::TotalTooLarge { max: self.limits.max_total_uncompressed });
        }
        Ok(())
    }

    /// Reads one entry to its end, never keeping more than the per-entry limit or what is left
    /// of the total, whatever the entry declares. Reaching the end is what makes the decoders
    /// verify their CRC or HMAC, so an entry is only returned once verified.
    pub(crate) fn read(&mut self, reader: &mut dyn Read, declared: u64) -> Result<Vec<u8>, ReadFailure> {
        self.check_declared(declared).map_err(ReadFailure::Limit)?;
        let per_entry = self.limits.max_entry_size;
        let cap = per_entry.min(self.left());
        let (read, ended) = read_capped(reader, declared, cap);
        self.decompressed += read;
        match ended {
            Ok(out) => Ok(out),
            Err(Capped::Io(e)) => Err(ReadFailure::Failed(e)),
            Err(Capped::Over) if cap == per_entry => Err(ReadFailure::Limit(Reason::EntryTooLarge { max: per_entry })),
            Err(Capped::Over) => {
                Err(ReadFailure::Limit(Reason::TotalTooLarge { max: self.limits.max_total_uncompressed }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(r: Result<Vec<u8>, ReadFailure>) -> Option<Reason> {
        match r {
            Err(ReadFailure::Limit(reason)) => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn reads_stop_at_the_limits_whatever_the_entry_declares() {
        let limits = Limits { max_entry_size: 10, max_total_uncompressed: 15, ..Limits::default() };
        let mut b = Budget::new(&limits);
        assert_eq!(b.read(&mut &[1u8; 8][..], 8).unwrap().len(), 8);
        assert_eq!(limit(b.read(&mut &[1u8; 100][..], 1)), Some(Reason::TotalTooLarge { max: 15 }));
        assert_eq!(b.left(), 0);
        let mut b = Budget::new(&limits);
        assert_eq!(limit(b.read(&mut &[1u8; 11][..], 0)), Some(Reason::EntryTooLarge { max: 10 }));
        assert_eq!(b.check_declared(11), Err(Reason::EntryTooLarge { max: 10 }));
        assert_eq!(b.check_entries(10_001), Err(Reason::TooManyEntries { max: 10_000 }));
    }
}
