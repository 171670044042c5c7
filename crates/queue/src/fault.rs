//! Test support: stopping this process at a chosen instant inside an operation.
//!
//! The crash tests must put a real handle in the state the attack run found: a process
//! that won the CAS on a position and stopped, or died, before finishing with the slot.
//! A signal sent from outside lands there once in thousands of tries; with the feature
//! `fault-injection` (enabled only for this crate's own tests, through a dev-dependency on
//! itself), a test arms a [`Point`] and the process stops itself (`SIGSTOP`) when it gets
//! there, to be killed, continued or inspected by the test. Without the feature the points
//! compile to nothing.

/// Places inside operations where a test can stop its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
// Without the feature the module is private, and the points are only markers.
#[cfg_attr(not(feature = "fault-injection"), allow(unreachable_pub))]
pub enum Point {
    /// An MPMC producer that has just won the enqueue CAS, before it writes the slot.
    MpmcAfterEnqueue = 1,
    /// An MPMC consumer that has just won the dequeue CAS, before it reads the slot.
    MpmcAfterDequeue = 2,
}

#[cfg(feature = "fault-injection")]
mod imp {
    // Process-local test state, not shared memory: std's atomics, never loom's.
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::Point;

    static ARMED: AtomicU8 = AtomicU8::new(0);

    /// Stops this process (`SIGSTOP`) the next time any thread reaches `point`; once.
    pub fn stop_at(point: Point) {
        ARMED.store(point as u8, Ordering::SeqCst);
    }

    #[inline(always)]
    pub(crate) fn reached(point: Point) {
        if ARMED.load(Ordering::Relaxed) == point as u8
            && ARMED
                .compare_exchange(point as u8, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            // To this very thread (raise is tgkill), so it stops on its way back from the
            // system call, before another instruction of the operation; a signal to the
            // process could be taken by another thread while this one runs on.
            // SAFETY: raise only sends a signal; SIGSTOP cannot be caught or ignored.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
mod imp {
    use super::Point;

    #[inline(always)]
    pub(crate) fn reached(_point: Point) {}
}

pub(crate) use imp::reached;
#[cfg(feature = "fault-injection")]
pub use imp::stop_at;
