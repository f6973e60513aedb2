//! Whole received bodies kept in memory from receive to delivery, so that what reads them
//! before their delivery (inspection, the shared store, a delivery handed the message at
//! commit) reads memory instead of the spooled file. Bounded: a body of at most [`KEEP_MAX`],
//! and all kept bodies together at most [`KEPT_BUDGET`]; beyond, bodies are read from their
//! files as before.
//!
//! A body of at most [`SMALL`] is kept in a heap block of its size. A larger one is kept in a
//! buffer the allocator maps from the system (its threshold is 256 KiB, `src/allocator.rs`):
//! a fresh mapping would cost a zeroed page per 4 KiB written and an unmapping per message, so
//! such buffers are given back to a spare list when their body is done and taken again by the
//! next large body, up to [`SPARE_MAX`] bytes of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The largest body kept in a heap block of its own: below the allocator's threshold for
/// blocks straight from the system, so its memory is the heap's, reused from message to
/// message.
const SMALL: usize = 192 << 10;

/// The largest body kept.
pub(crate) const KEEP_MAX: usize = 4 << 20;

/// Bytes of buffers holding kept bodies in the whole process, at most.
const KEPT_BUDGET: usize = 32 << 20;

/// Bytes of spare large buffers kept for the next large body, at most.
const SPARE_MAX: usize = 16 << 20;

/// Bytes of the budget taken now.
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// Large buffers whose bodies are done.
static SPARE: Mutex<Spares> = Mutex::new(Spares { bufs: Vec::new(), bytes: 0, max: SPARE_MAX });

/// A share of [`KEPT_BUDGET`], given back when dropped.
#[derive(Debug, Default)]
struct Share(usize);

impl Share {
    /// Makes the share `total` bytes; false (the share unchanged) when the budget has no room.
    fn resize(&mut self, total: usize) -> bool {
        if total <= self.0 {
            KEPT.fetch_sub(self.0 - total, Ordering::AcqRel);
            self.0 = total;
            return true;
        }
        let more = total - self.0;
        let taken = KEPT.fetch_update(Ordering::AcqRel, Ordering::Acquire, |k| {
            k.checked_add(more).filter(|&sum| sum <= KEPT_BUDGET)
        });
        if taken.is_ok() {
            self.0 = total;
        }
        taken.is_ok()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        KEPT.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// A buffer holding a body, with the share of the budget its capacity takes. A large one goes
/// back to the spare list when dropped.
#[derive(Debug, Default)]
struct Held {
    bytes: Vec<u8>,
    share: Share,
}

impl Held {
    /// Room for `more` bytes after those held, within [`KEEP_MAX`] and the budget; false when
    /// there is none (nothing changed).
    fn room(&mut self, more: usize) -> bool {
        let need = self.bytes.len() + more;
        if need <= self.bytes.capacity() {
            return true;
        }
        if need > KEEP_MAX {
            return false;
        }
        if need <= SMALL {
            // Exactly as large as needed: never a doubling past the allocator's threshold.
            if !self.share.resize(need) {
                return false;
            }
            self.bytes.reserve_exact(need - self.bytes.len());
            return true;
        }
        if self.bytes.capacity() <= SMALL {
            return self.move_to_large(need);
        }
        let target = need.max(self.bytes.capacity() * 2).min(KEEP_MAX);
        if !self.share.resize(target) {
            return false;
        }
        self.bytes.reserve_exact(target - self.bytes.len());
        true
    }

    /// Moves the bytes held into a spare large buffer (or a new one) with room for `need`.
    fn move_to_large(&mut self, need: usize) -> bool {
        let mut large = take_spare().unwrap_or_default();
        let target = need.max(large.capacity()).max(2 * SMALL).min(KEEP_MAX);
        // The share covers the larger buffer while both exist, then only it.
        if !self.share.resize(self.bytes.capacity() + target) {
            give_back(large);
            return false;
        }
        large.reserve_exact(target);
        large.extend_from_slice(&self.bytes);
        self.bytes = large;
        self.share.resize(target);
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes.capacity() > SMALL {
            give_back(std::mem::take(&mut self.bytes));
        }
    }
}

/// Empty buffers kept for reuse, holding at most `max` bytes together.
#[derive(Debug)]
struct Spares {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
    max: usize,
}

impl Spares {
    /// A spare buffer, if there is one.
    fn take(&mut self) -> Option<Vec<u8>> {
        let buf = self.bufs.pop()?;
        self.bytes -= buf.capacity();
        Some(buf)
    }

    /// Keeps `buf`, emptied, while there is room; frees it otherwise.
    fn give_back(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        if self.bytes + buf.capacity() <= self.max {
            self.bytes += buf.capacity();
            self.bufs.push(buf);
        }
    }
}

fn spares() -> std::sync::MutexGuard<'static, Spares> {
    SPARE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A spare large buffer, empty, if there is one.
fn take_spare() -> Option<Vec<u8>> {
    spares().take()
}

/// Keeps a large buffer for the next large body while the spare list has room.
fn give_back(buf: Vec<u8>) {
    spares().give_back(buf);
}

/// A whole received body, kept in memory: the same bytes as its spooled file.
#[derive(Debug)]
pub struct KeptBody(Held);

impl std::ops::Deref for KeptBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0.bytes
    }
}

#[cfg(test)]
impl KeptBody {
    /// `bytes` as a kept body, outside the budget (tests).
    pub(crate) fn of(bytes: &[u8]) -> Arc<KeptBody> {
        Arc::new(KeptBody(Held { bytes: bytes.to_vec(), share: Share::default() }))
    }
}

/// A body being kept as it is written to its file; given up (with its share) once it would
/// grow past [`KEEP_MAX`] or the budget has no room. It also counts how much of it the file
/// has, so that the file is written from the kept bytes rather than from a copy of its own.
#[derive(Debug)]
pub(crate) struct Keeping {
    held: Option<Held>,
    written: usize,
}

impl Keeping {
    pub(crate) fn new() -> Keeping {
        Keeping { held: Some(Held::default()), written: 0 }
    }

    /// Appends `bytes` when the body is still kept and has room for them (true); false when it
    /// is not kept or they do not fit (the caller writes [`Keeping::unwritten`] and gives up).
    pub(crate) fn add(&mut self, bytes: &[u8]) -> bool {
        let Some(held) = &mut self.held else { return false };
        if !held.room(bytes.len()) {
            return false;
        }
        held.bytes.extend_from_slice(bytes);
        true
    }

    /// The kept bytes not yet written to the file.
    pub(crate) fn unwritten(&self) -> &[u8] {
        self.held.as_ref().map_or(&[], |h| &h.bytes[self.written..])
    }

    /// Records that [`Keeping::unwritten`] was written to the file.
    pub(crate) fn written(&mut self) {
        self.written = self.held.as_ref().map_or(0, |h| h.bytes.len());
    }

    /// Stops keeping the body (after its kept bytes were written), giving back its memory.
    pub(crate) fn give_up(&mut self) {
        self.held = None;
    }

    /// Whether the body is still kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.held.is_some()
    }

    /// The whole body, unless it was given up.
    pub(crate) fn finish(self) -> Option<Arc<KeptBody>> {
        self.held.map(|held| Arc::new(KeptBody(held)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(parts: &[&[u8]]) -> Option<Arc<KeptBody>> {
        let mut k = Keeping::new();
        for p in parts {
            if !k.add(p) {
                return None;
            }
        }
        k.finish()
    }

    #[test]
    fn a_body_is_kept_up_to_its_limit_and_given_up_beyond() {
        let first = vec![1u8; 100 << 10];
        let rest = vec![2u8; KEEP_MAX - (100 << 10)];
        let body = kept(&[&first, &rest]).expect("kept at the limit");
        assert_eq!(body.len(), KEEP_MAX);
        assert!(body[..first.len()] == first[..] && body[first.len()..] == rest[..], "the bytes in order");
        drop(body);
        assert!(kept(&[&vec![1u8; KEEP_MAX], &[2]]).is_none(), "one byte more is read from the file");
    }

    #[test]
    fn a_body_growing_past_the_heap_size_keeps_its_bytes_in_order() {
        let parts: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 7_001]).collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        let body = kept(&refs).expect("280 KB is kept");
        assert_eq!(body.to_vec(), parts.concat());
    }

    #[test]
    fn the_file_is_written_from_the_kept_bytes_once() {
        let mut k = Keeping::new();
        assert!(k.add(b"abc"));
        assert_eq!(k.unwritten(), b"abc");
        k.written();
        assert!(k.add(b"def"));
        assert_eq!(k.unwritten(), b"def", "only what the file does not have");
        k.give_up();
        assert!(!k.is_kept() && k.unwritten().is_empty() && !k.add(b"g"));
    }

    #[test]
    fn no_share_is_taken_beyond_the_budget() {
        let mut share = Share::default();
        assert!(!share.resize(KEPT_BUDGET + 1));
        assert_eq!(share.0, 0, "nothing taken, nothing to give back");
    }

    #[test]
    fn spare_buffers_are_reused_and_stay_within_their_bound() {
        let mut spares = Spares { bufs: Vec::new(), bytes: 0, max: 3 << 20 };
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(b"old bytes");
        let address = buf.as_ptr();
        spares.give_back(buf);
        let again = spares.take().expect("kept");
        assert!(again.as_ptr() == address && again.is_empty() && again.capacity() >= 1 << 20);
        assert!(spares.take().is_none() && spares.bytes == 0);
        for _ in 0..5 {
            spares.give_back(Vec::with_capacity(1 << 20));
        }
        assert_eq!(spares.bufs.len(), 3, "beyond 3 MiB buffers are freed");
        assert!(spares.bytes <= 3 << 20);
    }
}
