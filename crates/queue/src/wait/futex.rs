//! Sleeping on a shared word until it changes: the Linux futex, shared between processes
//! (not the `PRIVATE` variant), or a model of it under loom.

#[cfg(not(ipclane_loom))]
mod imp {
    use std::num::NonZeroU32;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use rustix::thread::futex;

    /// Sleeps while `word == expected`, at most `timeout`, among the waiters of `bits`;
    /// may return spuriously.
    pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Duration, bits: NonZeroU32) {
        // The bitset wait takes an absolute CLOCK_MONOTONIC deadline; one past what a
        // timespec holds is as good as forever.
        let deadline = super::super::clock::now_ns()
            .checked_add(super::super::clock::duration_ns(timeout))
            .map(|ns| futex::Timespec {
                tv_sec: (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as i64,
            });
        // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
        let _ = futex::wait_bitset(
            word,
            futex::Flags::empty(),
            expected,
            deadline.as_ref(),
            bits,
        );
    }

    /// Wakes up to `count` of the longest-waiting waiters on `word` whose bits meet `bits`.
    pub(crate) fn wake(word: &AtomicU32, count: u32, bits: NonZeroU32) {
        let _ = futex::wake_bitset(word, futex::Flags::empty(), count, bits);
    }
}

#[cfg(ipclane_loom)]
mod imp {
    //! Loom has no futex. This model keeps its contract: the check of the word and going
    //! to sleep are atomic with respect to a wake, which a waker calls after changing the
    //! word; a wake wakes the waiters of that word and those bits that came first (the
    //! kernel's order). A lost wake-up in the protocol above therefore shows as a
    //! deadlock.
    use std::num::NonZeroU32;
    use std::time::Duration;

    use loom::sync::atomic::{AtomicU32, Ordering};
    use loom::sync::{Condvar, Mutex};

    /// The sleepers, in arrival order: (word, bits, ticket); and the tickets woken.
    #[derive(Default)]
    struct Queue {
        sleeping: Vec<(usize, u32, u64)>,
        woken: Vec<u64>,
        next: u64,
    }

    loom::lazy_static! {
        static ref QUEUE: Mutex<Queue> = Mutex::new(Queue::default());
        static ref CONDVAR: Condvar = Condvar::new();
    }

    fn key(word: &AtomicU32) -> usize {
        std::ptr::from_ref(word) as usize
    }

    pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: Duration, bits: NonZeroU32) {
        let mut queue = QUEUE.lock().unwrap();
        if word.load(Ordering::Acquire) != expected {
            return;
        }
        let ticket = queue.next;
        queue.next += 1;
        queue.sleeping.push((key(word), bits.get(), ticket));
        loop {
            queue = CONDVAR.wait(queue).unwrap();
            if let Some(at) = queue.woken.iter().position(|&t| t == ticket) {
                queue.woken.swap_remove(at);
                return;
            }
        }
    }

    pub(crate) fn wake(word: &AtomicU32, count: u32, bits: NonZeroU32) {
        let mut queue = QUEUE.lock().unwrap();
        for _ in 0..count {
            let Some(at) = queue
                .sleeping
                .iter()
                .position(|&(k, b, _)| k == key(word) && b & bits.get() != 0)
            else {
                break;
            };
            let (_, _, ticket) = queue.sleeping.remove(at);
            queue.woken.push(ticket);
        }
        CONDVAR.notify_all();
    }
}

pub(crate) use imp::{wait, wake};
