//! The adaptive state of one waiting side: spin within a budget that adapts, then park
//! on a [`WakeWord`], checking the peer's liveness now and then.

use std::time::{Duration, Instant};

use super::{WaitStrategy, WakeWord};
use crate::QueueError;
use crate::sync::{spin_hint, yield_now};

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
            let armed = word.arm();
            let ready = attempt();
            if !matches!(ready, Ok(None)) {
                word.disarm();
                break ready.map(|v| v.expect("checked"));
            }
            let mut slice = self.strategy.liveness_period;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    word.disarm();
                    break Err(QueueError::Timeout);
                }
                slice = slice.min(left);
            }
            word.sleep(armed, slice);
            word.disarm();
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
