//! What a handle's waiting cost so far: the same counters on every handle.

use std::time::Duration;

/// A handle's wait counters, from `wait_stats()` on every handle.
///
/// A side that keeps up with its peer makes no system call at all: `wakes` and `parks`
/// stay at zero in a steady stream, and grow when one side outpaces the other (or is
/// idle) and the wait machinery puts it to sleep.
///
/// ```
/// use ipclane_queue::SpscRing;
///
/// let (mut tx, mut rx) = SpscRing::heap(4096)?;
/// tx.try_push(b"tick")?;
/// assert_eq!(rx.pop_blocking()?, &b"tick"[..]);
/// // The record was there: nobody slept, nobody was woken.
/// assert_eq!((tx.wait_stats().wakes, rx.wait_stats().parks), (0, 0));
/// # Ok::<(), ipclane_queue::QueueError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WaitStats {
    /// Wake system calls this handle made for sleeping peers, futex wakes and doorbell
    /// rings for async ones (a notification with nobody asleep costs none). Zero on a handle whose peers never sleep for it (a
    /// broadcast reader).
    pub wakes: u64,
    /// Times a blocking call of this handle went to sleep. Zero on a handle that never
    /// waits (a broadcast writer).
    pub parks: u64,
    /// The current spin budget of blocking calls; it adapts (see
    /// [`WaitStrategy`](crate::WaitStrategy)). Zero on a handle that never waits.
    pub spin_budget: Duration,
    /// How long this handle's waits last, as measured (a moving average); `None` before
    /// the first wait, and on a handle that never waits.
    pub expected_wait: Option<Duration>,
    /// What waking this handle costs, as measured from its notifiers' timestamps (a
    /// moving average; the strategy's `wake_cost` until the first sleep). Zero on a handle
    /// that never waits.
    pub wake_cost: Duration,
}
