//! The atomics every structure uses: `std`'s, or loom's under `--cfg loom`.
//!
//! Nothing else in the crate names `core::sync::atomic` for shared state, so the loom
//! models check exactly the code that runs in shared memory.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// A hint inside a spin loop (loom: yields to the model's scheduler).
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// Gives the CPU away for a moment (loom: a scheduling point).
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
