//! How a blocking call waits: the tunable strategy, the same for every handle.

use std::time::Duration;

/// How a blocking call waits: spin (time-based, adaptive; long spins yield now and then),
/// then sleep.
///
/// On this kind of machine handing a message to a *spinning* peer costs ~150 ns, while
/// waking a *sleeping* one costs tens of microseconds, so a waiter that parks too early
/// falls into sleep/wake ping-pong. The spin budget therefore adapts: it doubles (up to
/// `max_spin`) while waits end shortly after parking — parking did not pay off — and
/// halves (down to `min_spin`) while waits end long after — the peer is idle, so spinning
/// only burns CPU. A steady stream settles on never parking; an idle waiter settles on
/// a short spin and then costs no CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStrategy {
    /// Spin budget at the start.
    pub initial_spin: Duration,
    /// Smallest spin budget.
    pub min_spin: Duration,
    /// Largest spin budget.
    pub max_spin: Duration,
    /// What waking a sleeping peer costs here (40–55 µs on a 2-vCPU VM whose idle vCPUs
    /// halt; a few µs on bare metal). A wait that ended within this of parking did not
    /// pay off.
    pub wake_cost: Duration,
    /// How long a parked waiter sleeps before checking that its peer is still alive.
    pub liveness_period: Duration,
    /// While spinning, a `sched_yield` after each this much time without progress
    /// (`Duration::MAX`: never). When more threads are runnable than there are CPUs, the
    /// peer may be queued behind this very spin, and a yield lets it run. Measured on the
    /// 2-vCPU VM: with four processes per CPU, the long stress runs took 15-18 s with these
    /// yields and 60-120 s without. A yield is not free, though: it leaves the thread's scheduling
    /// deadline pushed back, so a wake-up soon after comes ~7 µs later (p50 1.6 → 9.2 µs).
    /// So only long spins yield. Short spins, and a waiter whose budget has shrunk because
    /// its peer is idle, never do.
    pub yield_every: Duration,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        Self {
            initial_spin: Duration::from_micros(50),
            min_spin: Duration::from_micros(2),
            max_spin: Duration::from_millis(2),
            wake_cost: Duration::from_micros(50),
            liveness_period: Duration::from_millis(10),
            yield_every: Duration::from_micros(100),
        }
    }
}

impl WaitStrategy {
    /// Never sleeps: a blocking call spins until its value comes, for the lowest latency,
    /// at the cost of a whole CPU per waiting handle, idle or not. A dead peer is still
    /// found within the liveness period (the spin checks it that often), and a deadline
    /// still ends the wait.
    ///
    /// ```
    /// use ipclane_queue::{SpscRing, WaitStrategy};
    ///
    /// let (mut tx, mut rx) = SpscRing::heap(4096)?;
    /// rx.set_wait_strategy(WaitStrategy::busy_poll());
    /// tx.try_push(b"now")?;
    /// assert_eq!(rx.pop_blocking()?, &b"now"[..]);
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn busy_poll() -> Self {
        Self {
            initial_spin: Duration::MAX,
            min_spin: Duration::MAX,
            max_spin: Duration::MAX,
            yield_every: Duration::MAX,
            ..Self::default()
        }
    }
}
