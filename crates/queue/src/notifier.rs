//! Blocking without burning a core: spin for a while (yielding now and then during long
//! spins), then sleep on a futex word in the shared memory, with a waiter count so that
//! notifying nobody costs no system call.
//!
//! # Protocol (checked by the loom model `spsc_blocking_pop_never_loses_a_wake_up`)
//!
//! ```text
//! waiter                                    notifier
//! ------                                    --------
//! waiters.fetch_add(1, AcqRel)   (1)        publish position (Release)        (a)
//! s = seq.load(Acquire)          (2)        n = waiters.fetch_add(0, AcqRel)  (b)
//! woken.swap(0, AcqRel)          (1')       if n > 0 and woken.swap(1) == 0:  (b')
//! re-check position (Acquire)    (3)            seq.fetch_add(1, Release)     (c)
//! if nothing: futex_wait(seq, s) (4)            futex_wake(seq)               (d)
//! waiters.fetch_sub(1)
//! ```
//!
//! (1) and (b) are read-modify-writes of one word, so one comes first in its modification
//! order. (Where `membarrier` is available, (b) is a plain load and the waiter issues a
//! process-global barrier after (1) instead: see [`fences`]; the argument is the same.) If
//! (b) is first, (1) reads from it and synchronises with the notifier: (3) sees the position
//! published at (a). If (1) is first, (b) reads n > 0. Then, at (b'):
//!
//! - if the notifier's swap reads 0, it bumps `seq` and wakes: either (2) already sees the
//!   bump, and then (3) sees the position, or the kernel's futex check at (4) sees
//!   `seq != s` and returns, or (d) comes after (4) and wakes the sleeper;
//! - if it reads 1, another notifier's wake is still in flight, and the waiter has not yet
//!   re-armed at (1'). (1') and (b') are read-modify-writes of one word: if (1') comes after
//!   (b'), it reads the notifier's 1 (or a later swap's: a release sequence), synchronises
//!   with it, and (3) sees the position. If (1') came before, the 1 was set after (1') by
//!   a notifier whose swap read (1')'s 0: that swap synchronises with (1'), so its bump
//!   (c) happens after (1') and after (2), which therefore cannot see it; the futex check
//!   at (4) then sees `seq != s`, or that notifier's wake comes after (4) and wakes the
//!   sleeper, which re-checks and, if it must sleep again, re-arms at a new (1') with the
//!   same argument.
//!
//! The order of (2) before (1') matters. With the re-arm first, a late notification for an
//! earlier record could swap the flag to 1 and bump `seq` between (1') and (2): the waiter
//! would sleep on a value that already holds that bump, while the flag it left at 1 makes
//! the next notifier skip its wake, a lost wake-up (found by the loom model without a
//! preemption bound).
//!
//! No wake-up is lost; a notifier with no waiter does (b) and nothing else; and while a
//! woken waiter is on its way (tens of microseconds when its CPU was halted), further
//! notifications cost a swap, not a system call each.

use std::time::{Duration, Instant};

use crate::QueueError;
use crate::fences;
use crate::futex;
use crate::sync::{AtomicU32, Ordering, spin_hint, yield_now};

/// The futex word and waiter count of one direction ("data available", "space available").
#[derive(Debug)]
#[repr(C)]
pub(crate) struct WakeWord {
    seq: AtomicU32,
    waiters: AtomicU32,
    /// 1 once a notifier woke the waiters, until one of them re-arms it before sleeping
    /// again: a wake-up already in flight needs no second system call.
    woken: AtomicU32,
}

impl WakeWord {
    pub(crate) fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            woken: AtomicU32::new(0),
        }
    }

    /// Wakes the waiters, if any; call after publishing what they wait for. Returns
    /// whether it made the wake system call.
    ///
    /// With nobody waiting it costs one load (see [`fences`]), or one read-modify-write
    /// where `membarrier` is unavailable; with a wake-up already in flight, one swap.
    #[inline(always)]
    pub(crate) fn notify(&self) -> bool {
        fences::notifier_sees_waiters(&self.waiters) && self.wake()
    }

    /// The part of [`notify`](Self::notify) that runs when somebody waits (out of line:
    /// a steady stream never gets here).
    #[inline(never)]
    fn wake(&self) -> bool {
        // AcqRel on the swap: see (b') in the module docs.
        if self.woken.swap(1, Ordering::AcqRel) == 0 {
            self.seq.fetch_add(1, Ordering::Release);
            futex::wake_all(&self.seq);
            true
        } else {
            false
        }
    }

    /// Whether anybody is parked here (for statistics and tests).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) != 0
    }
}

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

/// The adaptive state of one waiting side.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    budget: Duration,
    parks: u64,
    /// The last sleep, in CPU ticks, not yet turned into a duration (see [`Slept`]).
    slept: Option<Slept>,
}

/// A sleep measured in CPU ticks at wake-up, converted to time at the next clock reading.
///
/// Reading the clock right after waking costs ~100 ns here (its data page went cold while
/// asleep), on the path that hands the peer's message over; reading the tick counter costs
/// a few cycles. The next wait reads the clock anyway before it spins, and the ticks and
/// time elapsed since parking give the rate to convert with. The budget is thus adjusted
/// before the next spin, as if done at wake-up.
#[derive(Debug, Clone, Copy)]
struct Slept {
    parked: Instant,
    parked_ticks: u64,
    woke_ticks: u64,
}

impl Waiter {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Self {
            strategy,
            budget: strategy
                .initial_spin
                .clamp(strategy.min_spin, strategy.max_spin),
            parks: 0,
            slept: None,
        }
    }

    /// Current spin budget.
    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }

    /// Times this side went to sleep.
    pub(crate) fn parks(&self) -> u64 {
        self.parks
    }

    /// Adapts the budget to the last sleep measured in ticks, now that the clock says `now`.
    fn settle(&mut self, now: Instant) {
        let (Some(s), Some(now_ticks)) = (self.slept.take(), crate::sync::ticks()) else {
            return;
        };
        let elapsed = now.saturating_duration_since(s.parked).as_nanos();
        let total = now_ticks.wrapping_sub(s.parked_ticks);
        let asleep = s.woke_ticks.wrapping_sub(s.parked_ticks);
        // A counter that went backwards (a move to a CPU whose counter lags) says nothing.
        if total > 0 && asleep <= total {
            let ns = elapsed * u128::from(asleep) / u128::from(total);
            self.parked_for(Duration::from_nanos(ns.try_into().unwrap_or(u64::MAX)));
        }
    }

    fn parked_for(&mut self, slept: Duration) {
        let s = self.strategy;
        if slept <= s.wake_cost * 2 {
            // Woken almost at once: a little more spinning would have avoided the sleep.
            self.budget = (self.budget * 2).min(s.max_spin);
        } else if slept > s.wake_cost * 20 {
            // Idle peer: spinning is wasted.
            self.budget = (self.budget / 2).max(s.min_spin);
        }
    }

    /// Waits until `attempt` yields a value, the peer is gone, or `deadline` passes.
    ///
    /// - `attempt()` polls the structure (cheap; called often);
    /// - `closed()` is a cheap check that the peer detached;
    /// - `gone()` is the full check, dead peers included (a system call; called only
    ///   after sleeping, at least once per liveness period).
    ///
    /// A peer found gone still gets one last `attempt`, so what it sent before going is
    /// delivered. An error from any of the three (a peer's state word holding no valid
    /// state, say) ends the wait with that error: it is re-checked at least once per
    /// liveness period, so it is reported in bounded time.
    pub(crate) fn wait<T>(
        &mut self,
        word: &WakeWord,
        deadline: Option<Instant>,
        mut attempt: impl FnMut() -> Result<Option<T>, QueueError>,
        mut closed: impl FnMut() -> Result<bool, QueueError>,
        mut gone: impl FnMut() -> Result<bool, QueueError>,
    ) -> Result<T, QueueError> {
        // The common case first, without reading the clock.
        if let Some(v) = attempt()? {
            return Ok(v);
        }
        let start = Instant::now();
        self.settle(start);
        let mut spins = 0u32;
        let mut yielded = start;
        while !self.budget.is_zero() {
            if let Some(v) = attempt()? {
                return Ok(v);
            }
            if closed()? {
                return attempt()?.ok_or(QueueError::Disconnected);
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err(QueueError::Timeout);
                }
                if now - start >= self.budget {
                    break;
                }
                if now - yielded >= self.strategy.yield_every {
                    yield_now();
                    yielded = now;
                }
            }
            spin_hint();
        }
        if closed()? {
            return attempt()?.ok_or(QueueError::Disconnected);
        }
        let parked = Instant::now();
        let parked_ticks = crate::sync::ticks();
        self.parks += 1;
        let result = loop {
            word.waiters.fetch_add(1, Ordering::AcqRel);
            fences::waiter_fence();
            // The futex value to sleep on, read *before* re-arming: a notification whose
            // bump this read already sees must have its `woken` flag cleared by the
            // re-arm below, or it would silence the next notification while this waiter
            // sleeps on a value that already includes the bump (see (2) and (1') in the
            // module docs).
            let seq = word.seq.load(Ordering::Acquire);
            // Re-arm: the next notification must wake us.
            word.woken.swap(0, Ordering::AcqRel);
            let ready = attempt();
            if !matches!(ready, Ok(None)) {
                word.waiters.fetch_sub(1, Ordering::AcqRel);
                break ready.map(|v| v.expect("checked"));
            }
            let mut slice = self.strategy.liveness_period;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    word.waiters.fetch_sub(1, Ordering::AcqRel);
                    break Err(QueueError::Timeout);
                }
                slice = slice.min(left);
            }
            futex::wait(&word.seq, seq, slice);
            word.waiters.fetch_sub(1, Ordering::AcqRel);
            if let Some(v) = attempt()? {
                break Ok(v);
            }
            if closed()? || gone()? {
                break attempt()?.ok_or(QueueError::Disconnected);
            }
        };
        match (parked_ticks, crate::sync::ticks()) {
            (Some(parked_ticks), Some(woke_ticks)) => {
                self.slept = Some(Slept {
                    parked,
                    parked_ticks,
                    woke_ticks,
                });
            }
            _ => self.parked_for(parked.elapsed()),
        }
        result
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    #[test]
    fn budget_grows_when_parking_does_not_pay_and_shrinks_when_idle() {
        let mut w = Waiter::new(WaitStrategy::default());
        let start = w.budget();
        w.parked_for(Duration::from_micros(10));
        assert_eq!(w.budget(), start * 2);
        for _ in 0..20 {
            w.parked_for(Duration::from_micros(10));
        }
        assert_eq!(w.budget(), WaitStrategy::default().max_spin);
        for _ in 0..30 {
            w.parked_for(Duration::from_secs(1));
        }
        assert_eq!(w.budget(), WaitStrategy::default().min_spin);
    }

    /// A sleep measured in ticks is converted with the rate seen since parking: a short
    /// one grows the budget, one as long as the whole interval (> 1 ms) shrinks it.
    #[test]
    fn a_sleep_measured_in_ticks_adapts_the_budget_at_the_next_clock_reading() {
        let Some(start_ticks) = crate::sync::ticks() else {
            // No trusted counter here: wait() reads the clock at wake-up instead.
            ipclane_testkit::skip(
                "a_sleep_measured_in_ticks_adapts_the_budget_at_the_next_clock_reading",
                "this CPU has no invariant TSC",
            );
            return;
        };
        let parked = Instant::now();
        std::thread::sleep(Duration::from_millis(3));
        let woke_late = crate::sync::ticks().unwrap();
        let mut w = Waiter::new(WaitStrategy::default());
        let start = w.budget();
        w.slept = Some(Slept {
            parked,
            parked_ticks: start_ticks,
            woke_ticks: start_ticks + 1,
        });
        w.settle(Instant::now());
        assert_eq!(w.budget(), start * 2, "woken at once: spin longer");
        w.slept = Some(Slept {
            parked,
            parked_ticks: start_ticks,
            woke_ticks: woke_late,
        });
        w.settle(Instant::now());
        assert_eq!(w.budget(), start, "asleep for 3 ms: spin less");
        assert!(w.slept.is_none());
    }

    /// While a woken waiter is on its way, further notifications make no system call; once
    /// it re-arms to sleep again, the next one does.
    #[test]
    fn one_wake_system_call_per_sleep() {
        let word = WakeWord::new();
        assert!(!word.notify(), "nobody waits: no system call");
        // A waiter parks: count raised, re-armed (what Waiter::wait does).
        word.waiters.fetch_add(1, Ordering::AcqRel);
        word.woken.swap(0, Ordering::AcqRel);
        assert!(word.notify(), "the first notification wakes");
        assert!(!word.notify(), "the wake-up is in flight");
        assert!(!word.notify());
        word.woken.swap(0, Ordering::AcqRel); // it ran, found nothing more, sleeps again
        assert!(word.notify(), "asleep again: woken again");
    }

    /// Waits (at most 30 s) until `flag` is set; the peers are never gone.
    fn wait_for_flag(
        waiter: &mut Waiter,
        word: &WakeWord,
        flag: &std::sync::atomic::AtomicBool,
    ) -> Result<(), QueueError> {
        waiter.wait(
            word,
            Some(Instant::now() + Duration::from_secs(30)),
            || {
                Ok(flag
                    .load(std::sync::atomic::Ordering::Acquire)
                    .then_some(()))
            },
            || Ok(false),
            || Ok(false),
        )
    }

    #[test]
    fn a_notified_waiter_wakes_and_a_silent_one_times_out() {
        let word = std::sync::Arc::new(WakeWord::new());
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let strategy = WaitStrategy {
            initial_spin: Duration::from_micros(1),
            min_spin: Duration::from_micros(1),
            yield_every: Duration::ZERO,
            ..WaitStrategy::default()
        };
        let mut waiter = Waiter::new(strategy);
        let t = std::thread::spawn({
            let (word, flag) = (word.clone(), flag.clone());
            move || {
                while !word.has_waiters() {
                    std::thread::yield_now();
                }
                flag.store(true, std::sync::atomic::Ordering::Release);
                word.notify();
            }
        });
        let got = wait_for_flag(&mut waiter, &word, &flag);
        assert!(got.is_ok());
        t.join().unwrap();
        assert_eq!(waiter.parks(), 1);
        let timed_out = waiter.wait::<()>(
            &word,
            Some(Instant::now() + Duration::from_millis(30)),
            || Ok(None),
            || Ok(false),
            || Ok(false),
        );
        assert!(matches!(timed_out, Err(QueueError::Timeout)));
        assert_eq!(waiter.parks(), 2, "the timed-out wait slept too");
    }

    /// The thresholds of the adaptation, at and beside their edges: a sleep of at most
    /// twice the wake cost grows the budget, one of more than twenty times shrinks it, one
    /// between leaves it.
    #[test]
    fn the_budget_adapts_at_two_and_twenty_wake_costs() {
        let strategy = WaitStrategy {
            initial_spin: Duration::from_micros(8),
            min_spin: Duration::from_micros(1),
            max_spin: Duration::from_micros(64),
            wake_cost: Duration::from_micros(10),
            ..WaitStrategy::default()
        };
        let after = |slept_us: u64| {
            let mut w = Waiter::new(strategy);
            w.parked_for(Duration::from_micros(slept_us));
            w.budget().as_micros()
        };
        assert_eq!(after(15), 16, "1.5 wake costs: grow");
        assert_eq!(after(20), 16, "2 wake costs: grow");
        assert_eq!(after(21), 8, "just over 2: leave");
        assert_eq!(after(100), 8, "10 wake costs: leave");
        assert_eq!(after(200), 8, "20 wake costs: leave");
        assert_eq!(after(201), 4, "just over 20: shrink");
    }

    /// A tick counter that went backwards between parking and waking (a move to a CPU
    /// whose counter lags) says nothing about the sleep: the budget stays.
    #[test]
    fn a_tick_counter_that_went_backwards_leaves_the_budget() {
        let Some(now_ticks) = crate::sync::ticks() else {
            ipclane_testkit::skip(
                "a_tick_counter_that_went_backwards_leaves_the_budget",
                "this CPU has no invariant TSC",
            );
            return;
        };
        let mut w = Waiter::new(WaitStrategy::default());
        let start = w.budget();
        w.slept = Some(Slept {
            parked: Instant::now() - Duration::from_millis(50),
            parked_ticks: now_ticks,
            woke_ticks: now_ticks.wrapping_sub(1_000),
        });
        w.settle(Instant::now());
        assert_eq!(w.budget(), start);
    }

    /// A wait whose value comes within the spin budget never sleeps (no notification is
    /// sent here: a waiter that slept would only wake at its liveness period).
    #[test]
    fn a_value_within_the_spin_budget_is_taken_without_sleeping() {
        let strategy = WaitStrategy {
            initial_spin: Duration::from_secs(20),
            max_spin: Duration::from_secs(20),
            yield_every: Duration::from_millis(1),
            ..WaitStrategy::default()
        };
        let mut waiter = Waiter::new(strategy);
        let word = WakeWord::new();
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let t = std::thread::spawn({
            let flag = flag.clone();
            move || {
                std::thread::sleep(Duration::from_millis(5));
                flag.store(true, std::sync::atomic::Ordering::Release);
            }
        });
        let got = wait_for_flag(&mut waiter, &word, &flag);
        t.join().unwrap();
        assert!(got.is_ok());
        assert_eq!(
            waiter.parks(),
            0,
            "slept although the value came while spinning"
        );
    }
}
