//! Giving memory back. Replacing a table of a million rows, or compacting one of its columns,
//! frees allocations of many megabytes that glibc keeps in its heap for reuse; without a trim
//! the process stays that much bigger for as long as it runs (measured at 1,000,000 rows: tens
//! of MB). Other allocators and systems return memory their own way: nothing to do.

/// Below this many rows a reload frees too little to be worth a trim.
const WORTH_TRIMMING: usize = 50_000;

/// After `rows` rows were replaced or a column of them compacted: return what glibc holds free
/// to the system.
pub fn release_after_reload(rows: usize) {
    if rows < WORTH_TRIMMING {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
