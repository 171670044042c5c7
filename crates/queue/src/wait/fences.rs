//! The store-load fence of the wake-up protocol, made asymmetric where the kernel allows.
//!
//! Both sides of [`WakeWord`](crate::wait::WakeWord) need a store-load barrier: the
//! notifier between publishing a position and reading the waiter count, the waiter between
//! raising the waiter count and re-reading the position. On the notifier that barrier sits
//! on every message's hot path, and a full barrier there stalls until the position's cache
//! line has travelled to this CPU: about one cache-line transfer (~130 ns here) per
//! message, which would cost the ring most of its throughput.
//!
//! So the barrier is moved to the waiter, which only pays it when it goes to sleep: a
//! notifier process registers once for `MEMBARRIER_CMD_GLOBAL_EXPEDITED`, then notifies
//! with a compiler fence and a plain load; a waiter, after raising the count, calls
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, which runs a full barrier on every CPU
//! currently running a registered process (a sleeping one passed one when it was switched
//! out). This is the asymmetric Dekker pattern of RCU and of folly's asymmetric fences.
//!
//! Where `membarrier` is missing (old kernels, seccomp), or under loom (which cannot model
//! it), the notifier reads the count with a read-modify-write instead: symmetric, correct,
//! slower. The loom model checks that symmetric form.
//!
//! A structure with many waiters per notifier (the readers of a broadcast ring) asks for
//! the symmetric form ([`Fence::Symmetric`]) everywhere: there every message can put N
//! waiters to sleep, and N barriers of `membarrier` (measured here: +5.7 µs of the
//! waiter's CPU per sleep, each an interrupt of the writer's CPU) cost far more than the
//! writer's one read-modify-write per message.

/// Which form of the store-load barrier a structure's wake word uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fence {
    /// The notifier loads, the waiter pays `membarrier` (where available).
    Asymmetric,
    /// Both sides pay a read-modify-write.
    Symmetric,
}

#[cfg(not(ipclane_loom))]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU8, AtomicU32, Ordering, compiler_fence, fence};

    use super::Fence;

    use rustix::thread::{MembarrierCommand, MembarrierQuery, membarrier, membarrier_query};

    /// Whether this kernel offers the global expedited barrier.
    fn supported() -> bool {
        static SUPPORTED: OnceLock<bool> = OnceLock::new();
        *SUPPORTED.get_or_init(|| {
            membarrier_query().contains(
                MembarrierQuery::GLOBAL_EXPEDITED | MembarrierQuery::REGISTER_GLOBAL_EXPEDITED,
            )
        })
    }

    /// Whether this process is registered, so that waiters' barriers reach it: 0 not
    /// asked yet, 1 no, 2 yes. One load on the notifier's path, which every message takes.
    static REGISTERED: AtomicU8 = AtomicU8::new(0);

    /// Whether this process is registered (registering it the first time).
    #[inline(always)]
    fn registered() -> bool {
        // Acquire: pairs with the Release in register(), so the fence there is behind us.
        match REGISTERED.load(Ordering::Acquire) {
            0 => register(),
            known => known == 2,
        }
    }

    /// Registers this process, once per caller until one finishes (registering again is
    /// harmless).
    #[cold]
    #[inline(never)]
    fn register() -> bool {
        let ok = supported() && membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok();
        // Orders everything after registration after any waiter count raised before it,
        // so that a waiter that slept before we registered is still seen.
        fence(Ordering::SeqCst);
        REGISTERED.store(1 + u8::from(ok), Ordering::Release);
        ok
    }

    /// Registers this process as a notifier; call when a side attaches, before it
    /// publishes anything.
    pub(crate) fn prepare() {
        registered();
    }

    /// The notifier's half: the waiter count it sees (zero: nobody waits).
    #[inline(always)]
    pub(crate) fn notifier_sees_waiters(waiters: &AtomicU32, fence: Fence) -> u32 {
        if fence == Fence::Asymmetric && registered() {
            // Waiters run a barrier on this CPU for us (membarrier); the compiler must
            // still not move the load above the publication.
            compiler_fence(Ordering::SeqCst);
            waiters.load(Ordering::Relaxed)
        } else {
            waiters.fetch_add(0, Ordering::AcqRel)
        }
    }

    /// The waiter's half, after raising the waiter count.
    pub(crate) fn waiter_fence(form: Fence) {
        if form == Fence::Asymmetric && supported() {
            // Failure leaves only the notifiers' read-modify-write path, which needs no
            // help; a registered notifier would then rely on the waiter's bounded sleep.
            let _ = membarrier(MembarrierCommand::GlobalExpedited);
        }
        fence(Ordering::SeqCst);
    }
}

#[cfg(ipclane_loom)]
mod imp {
    use loom::sync::atomic::{AtomicU32, Ordering};

    use super::Fence;

    pub(crate) fn prepare() {}

    pub(crate) fn notifier_sees_waiters(waiters: &AtomicU32, _fence: Fence) -> u32 {
        waiters.fetch_add(0, Ordering::AcqRel)
    }

    pub(crate) fn waiter_fence(_fence: Fence) {}
}

pub(crate) use imp::{notifier_sees_waiters, prepare, waiter_fence};
