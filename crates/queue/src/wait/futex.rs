//! Sleeping on a shared word until it changes: the Linux futex, shared between processes
//! (not the `PRIVATE` variant), or a model of it under loom.

#[cfg(not(ipclane_loom))]
mod imp {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use rustix::thread::futex;

    /// Sleeps while `word == expected`, at most `timeout`; may return spuriously.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
        // A timeout past what a timespec holds is as good as forever.
        let ts = futex::Timespec::try_from(timeout).unwrap_or(futex::Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
        let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
    }

    /// Wakes every waiter on `word`.
    pub(crate) fn wake_all(word: &AtomicU32) {
        let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
    }
}

#[cfg(ipclane_loom)]
mod imp {
    //! Loom has no futex. This model keeps its contract: the check of the word and going
    //! to sleep are atomic with respect to `wake_all`, which a waker calls after changing
    //! the word. A lost wake-up in the protocol above therefore shows as a deadlock.
    use std::time::Duration;

    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        static ref LOCK: Mutex<()> = Mutex::new(());
        static ref CONDVAR: Condvar = Condvar::new();
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: Duration) {
        let guard = LOCK.lock().unwrap();
        if word.load(Ordering::Acquire) == expected {
            drop(CONDVAR.wait(guard).unwrap());
        }
    }

    pub(crate) fn wake_all(_word: &AtomicU32) {
        let _guard = LOCK.lock().unwrap();
        CONDVAR.notify_all();
    }
}

pub(crate) use imp::{wait, wake_all};
