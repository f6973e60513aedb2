//! Whole received bodies kept in memory from receive to delivery, so that what reads them
//! before their delivery (inspection, the shared store, a delivery handed the message at
//! commit) reads memory instead of the spooled file. Bounded: a body of at most [`KEEP_MAX`],
//! and all the memory of kept bodies together at most [`KEPT_BUDGET`]; beyond, bodies are
//! read from their files as before.
//!
//! A body of at most [`SMALL`] is kept in a heap block of its size. A larger one is kept in a
//! buffer the allocator maps from the system (its threshold is 256 KiB, `src/allocator.rs`):
//! a fresh mapping would cost a zeroed page per 4 KiB written and an unmapping per message, so
//! such a buffer goes to a spare list when its body is done, for the next large body. Spare
//! buffers count in the budget too, and are freed when a body needs their room. A large
//! buffer's body starts at an address aligned to [`ALIGN`], so that its file can be written
//! straight from it without the page cache ([`crate::direct`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The largest body kept in a heap block of its own: below the allocator's threshold for
/// blocks straight from the system, so its memory is the heap's, reused from message to
/// message.
const SMALL: usize = 192 << 10;

/// The largest body kept.
pub(crate) const KEEP_MAX: usize = 4 << 20;

/// The alignment of a large buffer's body (and of its padded length when it is written
/// directly): a page, which covers every disk's logical block size.
pub(crate) const ALIGN: usize = 4096;

/// Bytes of buffers for kept bodies (holding a body, or spare) in the whole process, at most.
const KEPT_BUDGET: usize = 24 << 20;

/// Bytes of the budget taken now.
static KEPT: AtomicUsize = AtomicUsize::new(0);

/// Large buffers whose bodies are done, each with the share of the budget it holds.
static SPARE: Mutex<Vec<(Vec<u8>, Share)>> = Mutex::new(Vec::new());

/// Serialises the tests that keep bodies and expect them kept (one of them fills the budget).
#[cfg(test)]
pub(crate) static BUDGET_TEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

    /// [`Share::resize`], freeing spare buffers while the budget has no room.
    fn grow(&mut self, total: usize) -> bool {
        while !self.resize(total) {
            if take_spare().is_none() {
                return false;
            }
        }
        true
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        KEPT.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// A buffer holding a body from `start` on, with the share of the budget its capacity takes.
/// A large one goes to the spare list when dropped; its body starts [`ALIGN`]ed, with room
/// for its padding to a multiple of [`ALIGN`] after it.
#[derive(Debug, Default)]
struct Held {
    bytes: Vec<u8>,
    /// Where the body starts in `bytes` (0 in a small buffer).
    start: usize,
    share: Share,
}

/// Room a large buffer has beyond its body's: the shift that aligns the body, and its padding.
const LARGE_SLACK: usize = 2 * ALIGN;

/// The largest capacity of a large buffer: [`KEEP_MAX`] at any start, and its slack.
const LARGE_MAX: usize = KEEP_MAX + ALIGN + LARGE_SLACK;

impl Held {
    fn body(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    fn is_large(&self) -> bool {
        self.bytes.capacity() > SMALL
    }

    /// Room for `more` bytes after those held, within [`KEEP_MAX`] and the budget; false when
    /// there is none (nothing changed).
    fn room(&mut self, more: usize) -> bool {
        let body = self.body().len() + more;
        if body > KEEP_MAX {
            return false;
        }
        let need = if self.is_large() { self.start + body + LARGE_SLACK } else { body };
        if need <= self.bytes.capacity() {
            return true;
        }
        if need <= SMALL {
            // Exactly as large as needed: never a doubling past the allocator's threshold.
            if !self.share.grow(need) {
                return false;
            }
            self.bytes.reserve_exact(need - self.bytes.len());
            return true;
        }
        if !self.is_large() {
            return self.move_to_large(body);
        }
        let target = need.max(self.bytes.capacity() * 2).min(LARGE_MAX);
        if !self.share.grow(target) {
            return false;
        }
        self.bytes.reserve_exact(target - self.bytes.len());
        self.align();
        true
    }

    /// Moves the bytes held into a spare large buffer (or a new one) with room for a body of
    /// `body` bytes.
    fn move_to_large(&mut self, body: usize) -> bool {
        let (mut large, mut share) = take_spare().unwrap_or_default();
        let target = (body + ALIGN + LARGE_SLACK).max(large.capacity()).clamp(2 * SMALL, LARGE_MAX);
        if !share.grow(target) {
            give_back(large, share);
            return false;
        }
        large.reserve_exact(target);
        let start = large.as_ptr().align_offset(ALIGN);
        large.resize(start, 0);
        large.extend_from_slice(self.body());
        // The small block and its share are let go.
        *self = Held { bytes: large, start, share };
        true
    }

    /// Shifts the body of a large buffer to its aligned start (after the buffer moved).
    fn align(&mut self) {
        let start = self.bytes.as_ptr().align_offset(ALIGN);
        if start == self.start {
            return;
        }
        let len = self.body().len();
        if start > self.start {
            self.bytes.resize(start + len, 0);
        }
        self.bytes.copy_within(self.start..self.start + len, start);
        self.bytes.truncate(start + len);
        self.start = start;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.is_large() {
            give_back(std::mem::take(&mut self.bytes), std::mem::take(&mut self.share));
        }
    }
}

fn spares() -> std::sync::MutexGuard<'static, Vec<(Vec<u8>, Share)>> {
    SPARE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A spare large buffer, empty, with its share, if there is one.
fn take_spare() -> Option<(Vec<u8>, Share)> {
    spares().pop()
}

/// Keeps a large buffer, emptied, with its share, for the next large body.
fn give_back(mut buf: Vec<u8>, share: Share) {
    buf.clear();
    spares().push((buf, share));
}

/// A whole received body, kept in memory: the same bytes as its spooled file.
#[derive(Debug)]
pub struct KeptBody(Held);

impl std::ops::Deref for KeptBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.body()
    }
}

#[cfg(test)]
impl KeptBody {
    /// `bytes` as a kept body, outside the budget (tests).
    pub(crate) fn of(bytes: &[u8]) -> Arc<KeptBody> {
        Arc::new(KeptBody(Held { bytes: bytes.to_vec(), start: 0, share: Share::default() }))
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
        self.held.as_ref().map_or(&[], |h| &h.body()[self.written..])
    }

    /// Records that [`Keeping::unwritten`] was written to the file.
    pub(crate) fn written(&mut self) {
        self.written = self.held.as_ref().map_or(0, |h| h.body().len());
    }

    /// Calls `write` with the whole body padded with zeros to a multiple of [`ALIGN`], starting
    /// at an [`ALIGN`]ed address, when the body is kept in a large buffer and none of it was
    /// written yet; `None` otherwise. The padding is taken off again afterwards.
    pub(crate) fn with_aligned<T>(&mut self, write: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let held = self.held.as_mut().filter(|h| h.is_large())?;
        let len = held.body().len();
        let padded = len.div_ceil(ALIGN) * ALIGN;
        if self.written != 0
            || held.start + padded > held.bytes.capacity()
            || held.body().as_ptr().align_offset(ALIGN) != 0
        {
            return None;
        }
        held.bytes.resize(held.start + padded, 0);
        let written = write(&held.bytes[held.start..]);
        held.bytes.truncate(held.start + len);
        Some(written)
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
        let _alone = BUDGET_TEST.blocking_lock();
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
        let _alone = BUDGET_TEST.blocking_lock();
        let parts: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 7_001]).collect();
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        let body = kept(&refs).expect("280 KB is kept");
        assert_eq!(body.to_vec(), parts.concat());
    }

    #[test]
    fn the_file_is_written_from_the_kept_bytes_once() {
        let _alone = BUDGET_TEST.blocking_lock();
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
    fn spare_buffers_are_reused_and_freed_when_a_body_needs_their_room() {
        // The budget is the process's: the tests keeping large bodies take turns, and the
        // others keep a few small ones at most.
        let _alone = BUDGET_TEST.blocking_lock();
        let big = vec![7u8; 1 << 20];
        let first = kept(&[&big]).expect("1 MiB kept");
        let address = first.as_ptr();
        drop(first);
        let again = kept(&[&big]).expect("kept again");
        assert_eq!(again.as_ptr(), address, "the spare buffer is taken again");
        drop(again);
        // Fill the budget with spare buffers, then keep a body: spares are freed for it.
        let mut bodies = Vec::new();
        while let Some(b) = kept(&[&vec![1u8; KEEP_MAX]]) {
            bodies.push(b);
        }
        assert!(!bodies.is_empty() && KEPT.load(Ordering::Acquire) <= KEPT_BUDGET);
        drop(bodies);
        assert!(!spares().is_empty(), "their buffers are spare now");
        let small: Vec<Arc<KeptBody>> = (0..KEPT_BUDGET / SMALL).filter_map(|_| kept(&[&vec![2u8; SMALL]])).collect();
        assert!(small.len() >= KEPT_BUDGET / SMALL - 2, "spares make room for bodies: {}", small.len());
        assert!(KEPT.load(Ordering::Acquire) <= KEPT_BUDGET);
    }
}
