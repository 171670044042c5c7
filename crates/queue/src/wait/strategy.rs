//! How a blocking call waits: the tunable strategy, the same for every handle, and its
//! named presets.

use std::time::Duration;

/// How a blocking call waits: spin while the value is expected soon enough for spinning
/// to pay, else sleep on a futex.
///
/// Handing a message to a *spinning* waiter costs ~150 ns here, while waking a *sleeping*
/// one costs 1.5–55 µs on a VM whose idle vCPUs halt (a few µs on bare metal). Spinning
/// buys that latency with CPU, so each waiter measures what waiting costs it:
///
/// - the **expected wait**: how long its waits last (measured while spinning, and from
///   the notifier's timestamp when it slept), a moving average;
/// - the **wake-up cost**: from the notifier's timestamp to the sleeper running again.
///
/// A wait expected to end within `spin_worth` percent of the wake-up cost (at most
/// `max_spin`) is spun through, for up to that long; a longer
/// one spins `min_spin` (none by default: on this VM a 2 µs spin before each sleep cost
/// 2.6 µs of CPU per wait and bought nothing on a paced feed) and sleeps. So a quiet feed (a message every 100 µs against a
/// 50 µs wake-up) sleeps, and a busy one (a message every few µs) spins.
///
/// Where many waiters share one structure (the subscribers of a broadcast ring), they
/// also share the CPUs: with `share_cpus`, a waiter spins only while the waiters in a
/// blocking call on that structure, itself included, are no more than the CPUs left
/// beside the writer's; the others sleep at once. Spinning waiters that outnumber the
/// CPUs only delay each other, and the writer.
///
/// The presets: [`low_latency`](Self::low_latency), [`balanced`](Self::balanced) (the
/// default), [`efficient`](Self::efficient), [`busy_poll`](Self::busy_poll); their
/// measured cost is in `docs/choosing.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStrategy {
    /// Spin budget of the first wait, before anything was measured.
    pub initial_spin: Duration,
    /// Spin before sleeping even when sleeping is expected to pay: catches a value that
    /// is about to come for the price of a short spin (zero in the presets).
    pub min_spin: Duration,
    /// Longest spin before sleeping.
    pub max_spin: Duration,
    /// How much spinning a wait's wake-up is worth, in percent of the measured wake-up
    /// cost: waits expected to end within that are spun through (`u32::MAX`: any wait up
    /// to `max_spin`; 0: none).
    pub spin_worth: u32,
    /// The wake-up cost assumed until one is measured (40–55 µs on a 2-vCPU VM whose idle
    /// vCPUs halt; a few µs on bare metal).
    pub wake_cost: Duration,
    /// How long a parked waiter sleeps before checking that its peer is still alive.
    pub liveness_period: Duration,
    /// While spinning, a `sched_yield` after each this much time without progress
    /// (`Duration::MAX`: never). When more threads are runnable than there are CPUs, the
    /// peer may be queued behind this very spin, and a yield lets it run. Measured on the
    /// 2-vCPU VM: with four processes per CPU, the long stress runs took 15-18 s with these
    /// yields and 60-120 s without. A yield is not free, though: it leaves the thread's scheduling
    /// deadline pushed back, so a wake-up soon after comes ~7 µs later (p50 1.6 → 9.2 µs).
    /// So only long spins yield.
    pub yield_every: Duration,
    /// Whether waiters of one structure leave the CPUs to each other (see above): where
    /// they outnumber the CPUs beside the writer's, none spins longer than `min_spin`.
    pub share_cpus: bool,
}

impl Default for WaitStrategy {
    /// [`balanced`](Self::balanced).
    fn default() -> Self {
        Self::balanced()
    }
}

impl WaitStrategy {
    /// Spins through any wait expected to end within 40 wake-ups (2 ms at most): the
    /// lowest latency short of busy polling, at up to a CPU per waiting handle on a feed
    /// with gaps below 2 ms. Still leaves CPUs to other waiters of the same structure.
    ///
    /// Measured for one broadcast subscriber on a 2-vCPU VM (p50 one-way, the
    /// subscriber's CPU; docs/choosing.md): 410 ns, 99.8% at 1,000 messages/s; 200 ns,
    /// 99.8% at 10,000/s; 141 ns, 99.8% at 100,000/s; 140 ns, 99.7% at 1,000,000/s.
    ///
    /// ```
    /// use ipclane_queue::{Broadcast, WaitStrategy};
    ///
    /// let (mut writer, mut reader) = Broadcast::heap(8, 64)?;
    /// reader.set_wait_strategy(WaitStrategy::low_latency());
    /// writer.write(b"tick")?;
    /// assert_eq!(reader.recv_blocking()?, &b"tick"[..]);
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn low_latency() -> Self {
        Self {
            max_spin: Duration::from_millis(2),
            spin_worth: 4000,
            ..Self::balanced()
        }
    }

    /// The default: spins through a wait only when it is expected to be shorter than the
    /// wake-up it saves (so spinning never costs more CPU time than the latency it buys),
    /// and never longer than 50 µs, the most a wake-up costs on a VM whose idle vCPUs halt
    /// (a wake-up measured longer than that is a busy machine's run queue, where spinning
    /// would only make it longer); and only while the structure's waiters do not
    /// outnumber the CPUs.
    ///
    /// Measured for one broadcast subscriber on a 2-vCPU VM (p50 one-way, the
    /// subscriber's CPU): 41.7 µs, 1.6% at 1,000 messages/s; 33.4 µs, 12.3% at 10,000/s
    /// (it sleeps: a wake-up each); 180 ns, 97.3% at 100,000/s; 140 ns, 98.4% at
    /// 1,000,000/s (it spins).
    pub fn balanced() -> Self {
        Self {
            initial_spin: Duration::from_micros(20),
            min_spin: Duration::ZERO,
            max_spin: Duration::from_micros(50),
            spin_worth: 100,
            wake_cost: Duration::from_micros(50),
            liveness_period: Duration::from_millis(10),
            yield_every: Duration::from_micros(100),
            share_cpus: true,
        }
    }

    /// Never spins (after the first wait's 2 µs): the least CPU, at the cost of a wake-up
    /// per wait that finds nothing.
    ///
    /// Measured for one broadcast subscriber on a 2-vCPU VM (p50 one-way, the
    /// subscriber's CPU): 46.5 µs, 1.8% at 1,000 messages/s; 33.5 µs, 12.4% at 10,000/s;
    /// 12.4 µs, 21.0% at 100,000/s; 4.3 µs, 56.2% at 1,000,000/s (several messages per
    /// wake-up).
    pub fn efficient() -> Self {
        Self {
            initial_spin: Duration::from_micros(2),
            spin_worth: 0,
            ..Self::balanced()
        }
    }

    /// Never sleeps: a blocking call spins until its value comes, for the lowest latency,
    /// at the cost of a whole CPU per waiting handle, idle or not. A dead peer is still
    /// found within the liveness period (the spin checks it that often), and a deadline
    /// still ends the wait.
    ///
    /// Measured for one broadcast subscriber on a 2-vCPU VM (p50 one-way, the
    /// subscriber's CPU): 501 ns at 1,000 messages/s, 211 ns at 10,000/s, 156 ns at
    /// 100,000/s, 135 ns at 1,000,000/s, all at 100% of a CPU.
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
            spin_worth: u32::MAX,
            yield_every: Duration::MAX,
            share_cpus: false,
            ..Self::balanced()
        }
    }

    /// Whether waits never sleep.
    pub(crate) fn never_sleeps(&self) -> bool {
        self.min_spin == Duration::MAX
    }
}
