//! How the C allocator holds memory in `sekisho serve`. glibc's defaults suit short programs:
//! up to eight arenas per core, and a threshold for returning large blocks to the system that
//! rises after each one is freed. A gateway that walks 1 MB attachments on many threads then
//! keeps every freed block: the half-links attachment benchmark peaked at 139 MiB with them,
//! 61–78 MiB with these two settings (BENCHMARKS.md).

/// Two arenas, and blocks of 256 KiB or more straight from (and back to) the system — unless
/// the administrator tuned glibc's allocator already (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`, `GLIBC_TUNABLES`): theirs then stands.
pub(crate) fn bound() {
    let tuned = ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"];
    if tuned.iter().any(|v| std::env::var_os(v).is_some()) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and glibc makes it thread-safe.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}
