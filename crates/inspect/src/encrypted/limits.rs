//! How far and how much an inspection may open.

/// Bounds on one inspection. When one is reached the inspection reports
/// [`Reason`](super::Reason) instead of going on; memory stays under about
/// `max_total_uncompressed` plus the attachment itself (plus `max_decoder_memory` for 7z).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Containers nested deeper are not opened: the attachment is depth 0, a file inside it
    /// depth 1. A container found at a depth above this is reported as too deep.
    pub max_depth: u32,
    /// Archive entries counted over the whole inspection, every level together.
    pub max_entries: usize,
    /// Bytes decompressed over the whole inspection, every level together.
    pub max_total_uncompressed: u64,
    /// Bytes one entry may decompress to (its declared size is checked first).
    pub max_entry_size: u64,
    /// Memory the 7z decoder may take for its header buffers and dictionaries.
    pub max_decoder_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 4,
            max_entries: 10_000,
            max_total_uncompressed: 512 << 20,
            max_entry_size: 128 << 20,
            max_decoder_memory: 64 << 20,
        }
    }
}
