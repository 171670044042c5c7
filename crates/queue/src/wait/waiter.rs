//! The adaptive state of one waiting side: what its waits and wake-ups cost, measured,
//! and the spin budget that follows from them. The loop that uses it is
//! [`block`](super::block).

use std::time::{Duration, Instant};

use super::clock::{duration_ns, mono_ns};
use super::{WaitStats, WaitStrategy};

/// The weight of a new measurement in the moving averages: 1/4, so four waits turn a
/// regime around.
const NEW_WEIGHT_SHIFT: u32 = 2;

/// The adaptive state of one waiting side.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    /// How long a wait lasts, ns (moving average); `None` before the first.
    expected: Option<u64>,
    /// What a wake-up costs, ns (moving average; the strategy's guess at first).
    wake: u64,
    parks: u64,
    /// The last wait, not yet turned into durations (see [`Ended`]).
    ended: Option<Ended>,
}

/// When a wait began, by the clock and the tick counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    at: Instant,
    ticks: Option<u64>,
}

impl Started {
    pub(crate) fn now() -> Self {
        Self {
            at: Instant::now(),
            ticks: crate::sync::ticks(),
        }
    }

    /// When it began.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }
}

/// A wait that ended, measured in CPU ticks at its end and converted to time at the
/// next clock reading ([`Waiter::settle`]).
///
/// Reading the clock right after waking costs ~100 ns here (its data page went cold while
/// asleep), on the path that hands the peer's message over; reading the tick counter costs
/// a few cycles. The next wait reads the clock anyway before it spins, and the ticks and
/// time elapsed since the wait began give the rate to convert with.
#[derive(Debug, Clone, Copy)]
struct Ended {
    started: Started,
    /// Where the CPU has no trusted tick counter: the end, by the clock.
    end: End,
    /// When the notifier woke this sleeper (shared monotonic clock, ns): then the value
    /// came, and the rest of the wait was the wake-up. `None` for a wait that ended
    /// while spinning, or a sleep nobody ended.
    notified: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
enum End {
    Ticks(u64),
    At(Instant),
}

impl Ended {
    /// When the wait ended, given that the clock says `now` and the tick counter
    /// `now_ticks`: ticks are converted at the rate seen since the wait began. `None`
    /// when the counter says nothing (it went backwards: a move to a CPU whose counter
    /// lags).
    fn end_at(&self, now: Instant, now_ticks: Option<u64>) -> Option<Instant> {
        let end_ticks = match self.end {
            End::At(at) => return Some(at),
            End::Ticks(ticks) => ticks,
        };
        let (start_ticks, now_ticks) = (self.started.ticks?, now_ticks?);
        let elapsed = now.saturating_duration_since(self.started.at).as_nanos();
        let total = now_ticks.wrapping_sub(start_ticks);
        let waited = end_ticks.wrapping_sub(start_ticks);
        if total == 0 || waited > total {
            return None;
        }
        let ns = elapsed * u128::from(waited) / u128::from(total);
        Some(self.started.at + Duration::from_nanos(ns.try_into().unwrap_or(u64::MAX)))
    }
}

impl Waiter {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Self {
            strategy,
            expected: None,
            wake: duration_ns(strategy.wake_cost),
            parks: 0,
            ended: None,
        }
    }

    /// The spin budget of a wait starting now: as long as the strategy deems spinning
    /// worth it, when the expected wait is within that (so a wait a little longer than
    /// usual, a pause in a busy feed, is still spun through rather than slept through:
    /// a sleep risks the wake-up's tail, milliseconds on a busy VM host); the shortest
    /// spin otherwise.
    pub(crate) fn budget(&self) -> Duration {
        let s = self.strategy;
        if s.never_sleeps() {
            return Duration::MAX;
        }
        let within = |d: Duration| d.max(s.min_spin).min(s.max_spin.max(s.min_spin));
        let Some(expected) = self.expected else {
            return within(s.initial_spin);
        };
        let limit = self.spin_limit();
        if expected <= duration_ns(limit) {
            within(limit)
        } else {
            within(s.min_spin)
        }
    }

    /// The longest wait worth spinning through: `spin_worth` percent of the wake-up cost,
    /// at most `max_spin`.
    fn spin_limit(&self) -> Duration {
        let s = self.strategy;
        let ns = u128::from(self.wake) * u128::from(s.spin_worth) / 100;
        Duration::from_nanos(ns.try_into().unwrap_or(u64::MAX)).min(s.max_spin)
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

    /// Counts a sleep.
    pub(super) fn parking(&mut self) {
        self.parks += 1;
    }

    /// Notes that the wait begun at `started` ended now (by a value, or a peer gone):
    /// turned into durations by the next [`settle`](Self::settle). `notified` is the
    /// notifier's stamp when the wait slept.
    pub(super) fn ended(&mut self, started: Started, notified: Option<u64>) {
        let end = match (started.ticks, crate::sync::ticks()) {
            (Some(_), Some(ticks)) => End::Ticks(ticks),
            _ => End::At(Instant::now()),
        };
        self.ended = Some(Ended {
            started,
            end,
            notified,
        });
    }

    /// Learns from the last wait, now that the clock says `now`.
    pub(super) fn settle(&mut self, now: Instant) {
        let Some(e) = self.ended.take() else {
            return;
        };
        if let Some(end) = e.end_at(now, crate::sync::ticks()) {
            self.learn(e.started.at, end, e.notified);
        }
    }

    /// Learns from a wait from `start` to `end`, which the notifier's stamp `notified`
    /// (if it slept) splits into the wait for the value and the wake-up.
    fn learn(&mut self, start: Instant, end: Instant, notified: Option<u64>) {
        let (start_ns, end_ns) = (mono_ns(start), mono_ns(end));
        match notified {
            // A stamp outside the wait is an older notification's (or garbage).
            Some(at) if (start_ns..=end_ns).contains(&at) => {
                self.observe(at - start_ns, Some(end_ns - at));
            }
            _ => self.observe(end_ns.saturating_sub(start_ns), None),
        }
    }

    /// Learns from a wait that lasted `waited` until its value came, and whose wake-up,
    /// if it slept, took `wake` (all ns): the decisions' inputs, testable without a clock.
    pub(crate) fn observe(&mut self, waited: u64, wake: Option<u64>) {
        if let Some(wake) = wake {
            self.wake = average(self.wake, wake.min(duration_ns(Duration::from_secs(1))));
        }
        // An outlier (a pause in the feed) counts as a few limits long, so that a feed
        // back to its pace is recognised within a few waits.
        let cap = duration_ns(self.spin_limit().max(self.strategy.min_spin))
            .saturating_mul(4)
            .max(1);
        let waited = waited.min(cap);
        self.expected = Some(self.expected.map_or(waited, |old| average(old, waited)));
    }

    /// This side's counters, with the `wakes` its handle counted.
    pub(crate) fn stats(&self, wakes: u64) -> WaitStats {
        WaitStats {
            wakes,
            parks: self.parks,
            spin_budget: self.budget(),
            expected_wait: self.expected.map(Duration::from_nanos),
            wake_cost: Duration::from_nanos(self.wake),
        }
    }
}

/// The moving average of `old` with `new`.
fn average(old: u64, new: u64) -> u64 {
    old - (old >> NEW_WEIGHT_SHIFT) + (new >> NEW_WEIGHT_SHIFT)
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    /// A feed with this gap between messages, as the waiter sees it: each wait lasts
    /// the gap, and each sleep's wake-up takes `wake`.
    fn feed(w: &mut Waiter, gap_us: u64, wake_us: u64, waits: usize) {
        for _ in 0..waits {
            let budget = duration_ns(w.budget());
            if gap_us * US <= budget {
                w.observe(gap_us * US, None);
            } else {
                w.observe(gap_us * US, Some(wake_us * US));
            }
        }
    }

    /// The quiet feed: a message every 100 µs against a 50 µs wake-up. Spinning
    /// through the gap would cost a CPU to save 50 µs: balanced sleeps after the shortest
    /// spin, low_latency spins through.
    #[test]
    fn a_quiet_feed_sleeps_unless_latency_was_asked_for() {
        let mut balanced = Waiter::new(WaitStrategy::balanced());
        feed(&mut balanced, 100, 50, 20);
        assert_eq!(balanced.budget(), Duration::ZERO);
        let mut low = Waiter::new(WaitStrategy::low_latency());
        feed(&mut low, 100, 50, 20);
        assert!(
            low.budget() >= Duration::from_micros(100),
            "{:?}",
            low.budget()
        );
    }

    /// A busy feed (a message every 5 µs) is spun through by balanced, up to the wake-up
    /// cost (50 µs); the efficient preset still sleeps at once.
    #[test]
    fn a_busy_feed_spins_unless_efficiency_was_asked_for() {
        let mut balanced = Waiter::new(WaitStrategy::balanced());
        feed(&mut balanced, 5, 50, 20);
        assert_eq!(balanced.budget(), Duration::from_micros(50));
        let mut efficient = Waiter::new(WaitStrategy::efficient());
        feed(&mut efficient, 5, 50, 20);
        assert_eq!(efficient.budget(), Duration::ZERO);
    }

    /// The limit follows the measured wake-up cost: a 30 µs gap is worth spinning where
    /// waking was measured at 50 µs, not where it was measured at 10 µs.
    #[test]
    fn the_measured_wake_up_cost_sets_the_limit() {
        let mut slow_wake = Waiter::new(WaitStrategy::balanced());
        feed(&mut slow_wake, 100, 50, 20);
        feed(&mut slow_wake, 30, 50, 10);
        assert!(slow_wake.budget() >= Duration::from_micros(30));
        let mut fast_wake = Waiter::new(WaitStrategy::balanced());
        feed(&mut fast_wake, 100, 10, 20);
        feed(&mut fast_wake, 30, 10, 10);
        assert_eq!(fast_wake.budget(), Duration::ZERO);
    }

    /// A pause in a busy feed sends the waiter to sleep; once the feed is back to its
    /// pace, a few waits bring the spinning back.
    #[test]
    fn a_pause_is_forgotten_within_a_few_waits() {
        let mut w = Waiter::new(WaitStrategy::balanced());
        feed(&mut w, 5, 50, 20);
        w.observe(1_000_000 * US, Some(50 * US));
        assert_eq!(w.budget(), Duration::ZERO, "after a 1 s pause");
        feed(&mut w, 5, 50, 8);
        assert!(w.budget() >= Duration::from_micros(5), "{:?}", w.budget());
    }

    /// Busy polling never sleeps; the first wait spins the initial budget.
    #[test]
    fn busy_polling_spins_forever_and_the_first_wait_spins_the_initial_budget() {
        assert_eq!(
            Waiter::new(WaitStrategy::busy_poll()).budget(),
            Duration::MAX
        );
        assert_eq!(
            Waiter::new(WaitStrategy::balanced()).budget(),
            WaitStrategy::balanced().initial_spin
        );
    }

    /// A wait begun at `at` (tick 10,000) that ended at tick 10,400.
    fn ended_400_ticks_in(at: Instant) -> Ended {
        Ended {
            started: Started {
                at,
                ticks: Some(10_000),
            },
            end: End::Ticks(10_400),
            notified: None,
        }
    }

    /// A wait measured in ticks: at the next clock reading, 1,000 ns and 2,000 ticks after
    /// it began, an end 400 ticks in was 200 ns in; the notifier's stamp 50 ns in splits
    /// it into 50 ns of waiting and 150 ns of waking up.
    #[test]
    fn a_sleep_is_split_at_the_notifiers_stamp() {
        let at = Instant::now();
        let ended = ended_400_ticks_in(at);
        let end = ended.end_at(at + Duration::from_nanos(1_000), Some(12_000));
        assert_eq!(end, Some(at + Duration::from_nanos(200)));
        let mut w = Waiter::new(WaitStrategy::balanced());
        w.learn(at, end.unwrap(), Some(mono_ns(at) + 50));
        assert_eq!(w.expected, Some(50), "waited until the stamp");
        assert_eq!(
            w.wake,
            50_000 - 50_000 / 4 + 150 / 4,
            "woke 150 ns after it"
        );
    }

    /// A tick counter that went backwards says nothing about the wait.
    #[test]
    fn a_tick_counter_that_went_backwards_says_nothing() {
        let at = Instant::now();
        let ended = ended_400_ticks_in(at);
        assert_eq!(
            ended.end_at(at + Duration::from_micros(1), Some(10_200)),
            None
        );
        assert_eq!(ended.end_at(at + Duration::from_micros(1), None), None);
    }

    /// A stamp from before the wait (an older notification) does not count as this
    /// wait's: the whole wait counts as waiting, and the wake-up cost stays.
    #[test]
    fn a_stale_stamp_is_ignored() {
        let mut w = Waiter::new(WaitStrategy::balanced());
        let at = Instant::now();
        w.learn(at, at + Duration::from_micros(30), Some(mono_ns(at) - 1));
        assert_eq!(w.expected, Some(30_000));
        assert_eq!(w.wake, 50_000);
    }
}
