//! The C allocator's settings for a process that runs libtorch on the CPU.
//!
//! libtorch allocates every intermediate tensor with the C allocator and frees it a moment
//! later; a convolution's output in MobileNetV2's stem is up to 2.4 MB (80×80×96 floats). With
//! glibc's defaults those blocks keep going back to the system (the heap top trimmed, blocks over
//! the mmap threshold unmapped) and coming back as fresh pages, page faults included: a third of
//! the stem's time on a 160-px crop (11.6 ms with the defaults, 8.3 ms with the settings below,
//! measured side by side with PyTorch 2.11 on 2 cores, whose allocator is the same). Fixed
//! thresholds keep them in the heap and reuse them.

/// Blocks up to this size come from the heap: 32 MiB, glibc's largest accepted value on every
/// release (older ones refuse more than half a 64 MiB thread heap), and more than any tensor of
/// a tracking step.
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the heap top goes back to the system only beyond this much: 32 MiB, so that
/// a thread's heap (64 MiB at most) still shrinks after a burst.
const TRIM_THRESHOLD: i32 = 32 << 20;

/// Applies the settings, unless the user set glibc's malloc tunables (`glibc.malloc.*` in
/// `GLIBC_TUNABLES`, or the older `MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_`), which then
/// win. Call it first in `main`, before the first large allocation. A refused setting leaves
/// glibc's defaults as they were.
pub fn tune_for_tensors() {
    let tunables = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
    let legacy = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"].iter().any(|v| std::env::var_os(v).is_some());
    if tunables || legacy {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters, under its own locks.
    unsafe {
        // Setting either threshold turns glibc's self-adjusting threshold off, so the trim
        // threshold is set only once the mmap threshold was accepted (mallopt returns 1).
        if libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
