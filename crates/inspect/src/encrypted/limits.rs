//! How far and how much an inspection may open.

/// Bounds on one inspection. When one is reached the inspection reports
/// [`Reason`](super::Reason) instead of going on; memory stays under about
/// `max_total_uncompressed` plus the attachment itself (plus `max_decoder_memory` for 7z and xz).
/// The defaults keep any decompression bomb under 256 MiB of memory: 160 MiB decompressed at
/// most, and far less for a small file (see `max_ratio`).
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
    /// Memory the 7z and xz decoders may take for their header buffers and dictionaries
    /// (`xz -9` and `7z -mx9` use a 64 MiB dictionary).
    pub max_decoder_memory: u64,
    /// Bytes decompressed, every level together, per byte of the attachment: a file may
    /// expand to `max_ratio` times its size (or `ratio_allowance`, whichever is more, and never
    /// beyond `max_total_uncompressed`). Real documents and archives stay well under 100;
    /// bombs are thousands to millions.
    pub max_ratio: u64,
    /// Bytes any attachment may decompress to whatever its ratio, so that a small file of
    /// repetitive text is still opened.
    pub ratio_allowance: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 4,
            max_entries: 10_000,
            max_total_uncompressed: 160 << 20,
            max_entry_size: 128 << 20,
            max_decoder_memory: 96 << 20,
            max_ratio: 100,
            ratio_allowance: 8 << 20,
        }
    }
}

impl Limits {
    /// Bytes an attachment of `input` bytes may decompress to, every level together, and
    /// whether that bound is the ratio's (rather than `max_total_uncompressed`).
    pub fn budget(&self, input: u64) -> (u64, bool) {
        let by_ratio = input.saturating_mul(self.max_ratio).max(self.ratio_allowance);
        if by_ratio < self.max_total_uncompressed { (by_ratio, true) } else { (self.max_total_uncompressed, false) }
    }
}
