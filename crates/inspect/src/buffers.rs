//! Large buffers kept on a thread from one message to the next. A block of 256 KiB or more comes
//! straight from the system (`src/allocator.rs` of the gateway): a fresh one per message is
//! mapped, its pages zeroed one fault at a time as they are written, and unmapped again. An
//! inspection thread instead keeps the buffer a message was read into, and the one its
//! attachments were decoded into, for the next message, up to [`KEPT`] each.

use std::cell::RefCell;

/// The largest buffer kept; a larger one is freed.
pub const KEPT: usize = 4 << 20;

/// One buffer kept for the next use on its thread (a `thread_local!`).
#[derive(Debug, Default)]
pub struct Spare(RefCell<Vec<u8>>);

impl Spare {
    /// Nothing kept yet.
    pub const fn new() -> Self {
        Spare(RefCell::new(Vec::new()))
    }

    /// An empty buffer with room for `capacity` bytes: the one kept, or a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.0.take();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    /// Keeps `buf` for the next [`Spare::take`] when it holds at most [`KEPT`] bytes and more
    /// than the one kept already; frees it otherwise.
    pub fn keep(&self, buf: Vec<u8>) {
        let mut kept = self.0.borrow_mut();
        if buf.capacity() <= KEPT && buf.capacity() > kept.capacity() {
            *kept = buf;
        }
    }
}

thread_local! {
    /// The buffer long base64 bodies are decoded into on this thread.
    static DECODED: Spare = const { Spare::new() };
}

/// A buffer for decoding attachments into: this thread's spare ([`keep_decoded`]) or a new one.
pub(crate) fn decoded(capacity: usize) -> Vec<u8> {
    DECODED.with(|spare| spare.take(capacity))
}

/// Keeps the bytes of an attachment nothing reads any more (an archive whose entries were
/// taken out) for the next message decoded on this thread. Only a thread that opens message
/// after message calls it (each keeps one buffer of at most [`KEPT`]).
pub fn keep_decoded(bytes: Vec<u8>) {
    DECODED.with(|spare| spare.keep(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_larger_buffer_up_to_the_limit_is_kept_and_comes_back_empty() {
        let spare = Spare::new();
        let mut a = spare.take(1000);
        assert!(a.capacity() >= 1000);
        a.extend_from_slice(b"old");
        let at = a.as_ptr();
        spare.keep(a);
        spare.keep(Vec::with_capacity(10));
        let b = spare.take(500);
        assert!(b.is_empty());
        assert_eq!(b.as_ptr(), at, "the larger one was kept");
        spare.keep(Vec::with_capacity(KEPT + 1));
        assert_eq!(spare.take(0).capacity(), 0, "a buffer over the limit is freed");
    }
}
