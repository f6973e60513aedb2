//! How the C allocator holds memory in `sekisho serve`. glibc's defaults suit short programs:
//! up to eight arenas per core, and a threshold for returning large blocks to the system that
//! rises after each one is freed. A gateway that walks 1 MB attachments on many threads then
//! keeps every freed block: the half-links attachment benchmark peaked at 139 MiB with them,
//! 61–78 MiB with the arenas and the threshold below (BENCHMARKS.md). Keeping up to 4 MiB free
//! at the top of each arena adds at most that much per arena.

/// Two arenas, and blocks of 256 KiB or more straight from (and back to) the system; up to
/// 4 MiB free at the top of an arena is kept rather than given back (glibc's default, 128 KiB,
/// made each message's buffers of 64–128 KiB pages the system zeroed again, one fault each) —
/// unless the administrator tuned glibc's allocator already (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`, `GLIBC_TUNABLES`): theirs then stands.
pub(crate) fn bound() {
    let tuned = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"];
    if tuned.iter().any(|v| std::env::var_os(v).is_some()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and glibc makes it thread-safe.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}
