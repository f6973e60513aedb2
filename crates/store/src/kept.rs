//! Whole received bodies kept in memory from receive to delivery, so that what reads them
//! before their delivery (inspection, the shared store, a delivery handed the message at
//! commit) reads memory instead of the spooled file. Bounded: a body of at most [`KEEP_MAX`],
//! and all kept bodies together at most [`KEPT_BUDGET`]; beyond, bodies are read from their
//! files as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest body kept: below the allocator's threshold for blocks straight from the system
/// (256 KiB, `src/allocator.rs`), so its memory is the heap's, reused from message to message.
pub(crate) const KEEP_MAX: usize = 192 << 10;

/// Bytes of kept bodies in the whole process, at most.
const KEPT_BUDGET: usize = 32 << 20;

/// Bytes of kept bodies now.
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// A share of [`KEPT_BUDGET`], given back when dropped.
#[derive(Debug, Default)]
struct Share(usize);

impl Share {
    /// Takes `n` bytes more of the budget; false (nothing taken) when it has no room.
    fn grow(&mut self, n: usize) -> bool {
        let taken = KEPT.fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
            k.checked_add(n).filter(|&total| total <= KEPT_BUDGET)
        });
        if taken.is_ok() {
            self.0 += n;
        }
        taken.is_ok()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        KEPT.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// A whole received body, kept in memory: the same bytes as its spooled file.
#[derive(Debug)]
pub struct KeptBody {
    bytes: Vec<u8>,
    _share: Share,
}

impl std::ops::Deref for KeptBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
impl KeptBody {
    /// `bytes` as a kept body, outside the budget (tests).
    pub(crate) fn of(bytes: &[u8]) -> Arc<KeptBody> {
        Arc::new(KeptBody { bytes: bytes.to_vec(), _share: Share::default() })
    }
}

/// A body being kept as it is written to its file; given up (with its share) once it grows
/// past [`KEEP_MAX`] or the budget has no room.
#[derive(Debug)]
pub(crate) struct Keeping(Option<(Vec<u8>, Share)>);

impl Keeping {
    pub(crate) fn new() -> Keeping {
        Keeping(Some((Vec::new(), Share::default())))
    }

    /// Adds `bytes`, just written to the file.
    pub(crate) fn add(&mut self, bytes: &[u8]) {
        let Some((whole, share)) = &mut self.0 else { return };
        if whole.len() + bytes.len() > KEEP_MAX || !share.grow(bytes.len()) {
            self.0 = None;
            return;
        }
        // Exactly as large as needed: never a doubling past the allocator's threshold.
        whole.reserve_exact(bytes.len());
        whole.extend_from_slice(bytes);
    }

    /// The whole body, unless it was given up.
    pub(crate) fn finish(self) -> Option<Arc<KeptBody>> {
        self.0.map(|(bytes, share)| Arc::new(KeptBody { bytes, _share: share }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_kept_up_to_its_limit_and_given_up_beyond() {
        let mut k = Keeping::new();
        k.add(&[1; 100 << 10]);
        k.add(&[2; KEEP_MAX - (100 << 10)]);
        let kept = k.finish().expect("kept at the limit");
        assert_eq!(kept.len(), KEEP_MAX);
        let mut k = Keeping::new();
        k.add(&[1; KEEP_MAX]);
        k.add(&[2]);
        assert!(k.finish().is_none(), "one byte more is read from the file");
    }

    #[test]
    fn no_share_is_taken_beyond_the_budget() {
        let mut share = Share::default();
        assert!(!share.grow(KEPT_BUDGET + 1));
        assert_eq!(share.0, 0, "nothing taken, nothing to give back");
    }
}
