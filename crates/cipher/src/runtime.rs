//! Process-wide compute settings: flush-to-zero for subnormal floats on every compute thread,
//! and allocator tunables that keep a training step free of page faults.
//!
//! Square-activation networks produce many subnormal values; on x86 each one costs ~100
//! cycles unless FTZ/DAZ is on (measured 10-30x slower epochs in PyTorch on this kind of
//! CPU). Both domains run with the same setting, so plaintext/encrypted equivalence holds.

use std::sync::OnceLock;

/// Turns on flush-to-zero and denormals-are-zero for the calling thread (x86_64 only).
pub fn set_flush_to_zero() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: only changes the floating-point control register of this thread.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

/// Reads whether flush-to-zero is on for the calling thread.
pub fn flush_to_zero_enabled() -> bool {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reading the control register has no side effects.
    #[allow(deprecated)]
    unsafe {
        std::arch::x86_64::_mm_getcsr() & 0x8040 == 0x8040
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Builds the global rayon pool with FTZ/DAZ on every worker (once), and on the caller; also
/// tells the allocator to keep freed memory for the next training step (see `keep_freed_memory`).
///
/// `threads = 0` uses rayon's default (one per core). Later calls only set the caller's flag.
/// The caller stays outside the pool: use this in a process whose calling thread blocks in an
/// event loop (a server), and [`init_computing_caller`] where the caller does the computing.
///
/// ```
/// moreml_cipher::runtime::init(0, true);
/// ```
pub fn init(threads: usize, flush_to_zero: bool) {
    build(threads, flush_to_zero, false);
}

/// [`init`], with the calling thread as worker 0 of the pool (`threads` counts it).
///
/// Every kernel of a training step splits its work with `rayon::join`; from a thread outside
/// the pool each such call is a hand-over to a sleeping worker and a wait to be woken (tens of
/// microseconds, hundreds of times per step), from a worker it is a push onto its own queue
/// that the other workers steal. Measured on 2 cores (`moreml bench train`, 12,800 MNIST
/// images): encrypted f32 MLP epoch 0.20-0.22 s -> 0.15 s, encrypted f64 CNN 1.65 -> 1.55 s.
///
/// The caller then takes part in parallel work only while it waits inside a rayon call of its
/// own, so a caller that blocks elsewhere (an HTTP server's event loop) should use [`init`].
///
/// ```
/// moreml_cipher::runtime::init_computing_caller(0, true);
/// ```
pub fn init_computing_caller(threads: usize, flush_to_zero: bool) {
    build(threads, flush_to_zero, true);
}

fn build(threads: usize, flush_to_zero: bool, caller_is_worker: bool) {
    static POOL: OnceLock<()> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut builder = rayon::ThreadPoolBuilder::new().num_threads(threads).start_handler(move |_| {
            if flush_to_zero {
                set_flush_to_zero()
            }
        });
        if caller_is_worker {
            builder = builder.use_current_thread();
        }
        let _ = builder.build_global();
    });
    if flush_to_zero {
        set_flush_to_zero();
    }
    keep_freed_memory();
}

/// Tells glibc's allocator to keep freed memory instead of handing it back to the kernel.
///
/// A training step allocates and frees the same few tensors (up to tens of MB) every step; by
/// default glibc serves large blocks with `mmap` and trims the heap top on `free`, so every step
/// paid page faults and kernel page zeroing again (measured: a quarter of a CNN epoch in the
/// kernel). Blocks up to 32 MiB (glibc's cap) now come from the heap, and the heap is trimmed
/// only past 1 GiB of free space. Other C libraries: no-op.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
