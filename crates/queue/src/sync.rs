//! The atomics every structure uses: `std`'s, or loom's under `--cfg ipclane_loom`.
//!
//! Nothing else in the crate names `core::sync::atomic` for shared state, so the loom
//! models check exactly the code that runs in shared memory.

#[cfg(ipclane_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(ipclane_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// A hint inside a spin loop (loom: yields to the model's scheduler).
pub(crate) fn spin_hint() {
    #[cfg(ipclane_loom)]
    loom::thread::yield_now();
    #[cfg(not(ipclane_loom))]
    std::hint::spin_loop();
}

/// Gives the CPU away for a moment (loom: a scheduling point).
pub(crate) fn yield_now() {
    #[cfg(ipclane_loom)]
    loom::thread::yield_now();
    #[cfg(not(ipclane_loom))]
    std::thread::yield_now();
}

/// Asks the CPU to start fetching the cache line holding `ptr`: a hint, which never faults
/// and changes nothing the program computes (loom and other architectures: nothing).
#[inline(always)]
pub(crate) fn prefetch(ptr: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(ipclane_loom)))]
    // SAFETY: SSE is part of the x86_64 baseline, so the instruction exists; a prefetch
    // reads nothing into the program and never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(ipclane_loom))))]
    let _ = ptr;
}

/// One bit of an extended CPUID leaf, asked once and remembered.
#[cfg(all(target_arch = "x86_64", not(ipclane_loom)))]
struct CpuFlag {
    /// 0 not asked yet, 1 no, 2 yes.
    known: std::sync::atomic::AtomicU8,
    leaf: u32,
    register: fn(std::arch::x86_64::CpuidResult) -> u32,
    bit: u32,
}

#[cfg(all(target_arch = "x86_64", not(ipclane_loom)))]
impl CpuFlag {
    const fn new(leaf: u32, register: fn(std::arch::x86_64::CpuidResult) -> u32, bit: u32) -> Self {
        Self {
            known: std::sync::atomic::AtomicU8::new(0),
            leaf,
            register,
            bit,
        }
    }

    fn get(&self) -> bool {
        use std::arch::x86_64::__cpuid;
        use std::sync::atomic::Ordering;
        match self.known.load(Ordering::Relaxed) {
            0 => {
                let has = __cpuid(0x8000_0000).eax >= self.leaf
                    && (self.register)(__cpuid(self.leaf)) & (1 << self.bit) != 0;
                self.known.store(1 + u8::from(has), Ordering::Relaxed);
                has
            }
            known => known == 2,
        }
    }
}

/// A reading of the CPU's invariant time-stamp counter (a few cycles, no memory touched),
/// or `None` where there is none to trust (other architectures, loom, a TSC that stops or
/// changes rate). Ticks only compare with ticks; [`crate::wait`] converts them.
#[inline(always)]
pub(crate) fn ticks() -> Option<u64> {
    #[cfg(all(target_arch = "x86_64", not(ipclane_loom)))]
    if has_invariant_tsc() {
        // SAFETY: RDTSC exists on every x86_64 CPU and only reads the counter.
        return Some(unsafe { std::arch::x86_64::_rdtsc() });
    }
    None
}

/// Whether the TSC runs at a constant rate through sleep states (CPUID 0x8000_0007, EDX
/// bit 8), asked once.
#[cfg(all(target_arch = "x86_64", not(ipclane_loom)))]
fn has_invariant_tsc() -> bool {
    static KNOWN: CpuFlag = CpuFlag::new(0x8000_0007, |r| r.edx, 8);
    KNOWN.get()
}
