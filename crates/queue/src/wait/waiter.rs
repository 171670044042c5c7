//! The adaptive state of one waiting side: the spin budget, which adapts to how long its
//! sleeps last, and its counters. The loop that uses it is [`block`](super::block).

use std::time::{Duration, Instant};

use super::{WaitStats, WaitStrategy};

/// The adaptive state of one waiting side.
#[derive(Debug, Clone, Copy)]
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

/// When a sleep began, by the clock and the tick counter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Parked {
    at: Instant,
    ticks: Option<u64>,
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
    #[cfg(test)]
    pub(crate) fn parks(&self) -> u64 {
        self.parks
    }

    /// The strategy it follows.
    pub(crate) fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Counts a sleep starting now; [`woke`](Self::woke) ends it.
    pub(super) fn parking(&mut self) -> Parked {
        self.parks += 1;
        Parked {
            at: Instant::now(),
            ticks: crate::sync::ticks(),
        }
    }

    /// Ends the sleep begun at `parked`: notes its length in ticks, to be turned into time
    /// by the next [`settle`](Self::settle) (or measures it with the clock where the CPU
    /// has no trusted tick counter).
    pub(super) fn woke(&mut self, parked: Parked) {
        match (parked.ticks, crate::sync::ticks()) {
            (Some(parked_ticks), Some(woke_ticks)) => {
                self.slept = Some(Slept {
                    parked: parked.at,
                    parked_ticks,
                    woke_ticks,
                });
            }
            _ => self.parked_for(parked.at.elapsed()),
        }
    }

    /// Adapts the budget to the last sleep measured in ticks, now that the clock says `now`.
    pub(super) fn settle(&mut self, now: Instant) {
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
            self.budget = self.budget.saturating_mul(2).min(s.max_spin);
        } else if slept > s.wake_cost * 20 {
            // Idle peer: spinning is wasted.
            self.budget = (self.budget / 2).max(s.min_spin);
        }
    }

    /// This side's counters, with the `wakes` its handle counted.
    pub(crate) fn stats(&self, wakes: u64) -> WaitStats {
        WaitStats {
            wakes,
            parks: self.parks,
            spin_budget: self.budget,
        }
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
}
