//! A publisher paced to a rate without stealing a CPU: each message is due at its own
//! time (`start + seq / rate`). A gap long enough is slept through (with a timer slack of
//! 1 ns, waking early by the oversleep measured so far), and only the rest, or a gap too
//! short to sleep, is spun on the clock. A publisher behind schedule sends at once, in a
//! burst, and the rate it achieved is what it reports. Latency is measured from each
//! message's own send time, so jitter in the send times costs nothing.

use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use super::drive::thread_cpu_ns;
use super::results::Pacing;
use crate::endpoint::{self, Send};
use crate::integrity::Stamp;
use crate::stats::Latencies;

/// Gaps longer than this are slept through (a sleep and its wake-up cost some µs even
/// with no timer slack, tens of µs on a VM whose idle vCPU halts).
const SLEEP_ABOVE: Duration = Duration::from_micros(50);

/// What is left to spin after a sleep, at least: the wake-up's jitter.
const SPIN_MARGIN: Duration = Duration::from_micros(5);

/// The oversleep assumed before one is measured, and the most one sleep's oversleep
/// counts (a preempted sleep must not make every later one spin).
const OVERSLEEP_START: Duration = Duration::from_micros(20);
const OVERSLEEP_CAP: Duration = Duration::from_micros(100);

/// What a paced publisher did.
#[derive(Debug)]
pub struct Paced {
    /// Each message's send time ([`endpoint::now_ns`]), by sequence number.
    pub sent: Vec<u64>,
    /// From the start to the end of the last send.
    pub wall: Duration,
    /// Wall time inside the send calls.
    pub in_send: Duration,
    /// CPU time of the publishing thread, less the time it spun waiting for due times.
    pub cpu_excluding_spin: Duration,
    /// The time inside each send call.
    pub writes: Latencies,
    /// How most messages were sent.
    pub pacing: Pacing,
}

/// Sends stamped messages of `len` bytes through `tx` at `rate` a second for `duration`:
/// message `seq` at `seq / rate` seconds after the start, or at once when that is past;
/// none after `duration`, whether all were sent or not.
///
/// # Panics
///
/// When `rate` is 0.
pub fn publish_paced(tx: &mut impl Send, len: usize, rate: u64, duration: Duration) -> Paced {
    assert!(rate > 0, "a rate of 0 messages a second");
    let _slack = TimerSlack::tight();
    let mut out = vec![0u8; len];
    let expected = ((duration.as_secs_f64() * rate as f64) as usize + 1).min(1 << 20);
    let mut sent = Vec::with_capacity(expected);
    let mut writes = Latencies::new();
    let mut in_send = Duration::ZERO;
    let mut pacer = Pacer::default();
    let cpu0 = thread_cpu_ns();
    let start = Instant::now();
    let end = start + duration;
    for seq in 0u64.. {
        let due = start + Duration::from_nanos(seq.saturating_mul(1_000_000_000) / rate);
        let now = Instant::now();
        if due >= end || now >= end {
            break;
        }
        Stamp::new(seq).write(&mut out);
        pacer.wait_until(now, due);
        sent.push(endpoint::now_ns());
        let t0 = Instant::now();
        tx.send(&out);
        let took = t0.elapsed();
        in_send += took;
        writes.record(took);
    }
    let wall = start.elapsed();
    let cpu = Duration::from_nanos(thread_cpu_ns() - cpu0);
    Paced {
        sent,
        wall,
        in_send,
        cpu_excluding_spin: cpu.saturating_sub(pacer.spun),
        writes,
        pacing: pacer.pacing(),
    }
}

/// Waits for due times: sleeps through long gaps, spins through the rest.
#[derive(Debug)]
struct Pacer {
    /// How much later than asked a sleep ends, a moving average.
    oversleep: Duration,
    /// Wall time spent spinning on the clock.
    spun: Duration,
    /// Waits that slept, waits that only spun, and messages already due.
    slept: u64,
    spins: u64,
    late: u64,
}

impl Default for Pacer {
    fn default() -> Self {
        Self {
            oversleep: OVERSLEEP_START,
            spun: Duration::ZERO,
            slept: 0,
            spins: 0,
            late: 0,
        }
    }
}

impl Pacer {
    /// Returns at `due` (at once when it is past `now`).
    fn wait_until(&mut self, now: Instant, due: Instant) {
        let Some(left) = due.checked_duration_since(now).filter(|d| !d.is_zero()) else {
            self.late += 1;
            return;
        };
        let nap = left.saturating_sub(self.oversleep + SPIN_MARGIN);
        if left > SLEEP_ABOVE && !nap.is_zero() {
            self.sleep(nap);
        } else {
            self.spins += 1;
        }
        let spin = Instant::now();
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        self.spun += spin.elapsed();
    }

    /// Sleeps `nap`, learning how much longer a sleep takes.
    fn sleep(&mut self, nap: Duration) {
        let t0 = Instant::now();
        std::thread::sleep(nap);
        let over = t0.elapsed().saturating_sub(nap).min(OVERSLEEP_CAP);
        self.oversleep = (self.oversleep * 7 + over) / 8;
        self.slept += 1;
    }

    /// How most messages were sent.
    fn pacing(&self) -> Pacing {
        if self.late >= self.slept.max(self.spins) {
            Pacing::BackToBack
        } else if self.slept >= self.spins {
            Pacing::Sleeps
        } else {
            Pacing::Spins
        }
    }
}

/// The calling thread's timer slack set to 1 ns (a sleep ends when asked, not up to the
/// default 50 µs later), restored on drop.
struct TimerSlack(Option<NonZeroU64>);

impl TimerSlack {
    fn tight() -> Self {
        let before = rustix::thread::current_timer_slack()
            .ok()
            .and_then(NonZeroU64::new);
        let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
        Self(before)
    }
}

impl Drop for TimerSlack {
    fn drop(&mut self) {
        // None restores the thread's default slack.
        let _ = rustix::thread::set_current_timer_slack(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(u64);

    impl Send for Count {
        fn send(&mut self, _: &[u8]) {
            self.0 += 1;
        }
    }

    /// End to end, with what holds however loaded the machine is: a sleep or a
    /// preemption past the end only sends fewer messages, never early or out of order.
    #[test]
    fn a_slow_rate_keeps_its_schedule() {
        let mut tx = Count(0);
        let paced = publish_paced(&mut tx, 64, 2_000, Duration::from_millis(50));
        assert!((1..=100).contains(&tx.0), "{} sent", tx.0);
        assert_eq!(paced.sent.len() as u64, tx.0);
        assert_eq!(paced.writes.len(), tx.0);
        assert!(
            paced.wall >= Duration::from_micros(49_500),
            "{:?}",
            paced.wall
        );
        assert!(paced.sent.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The pacer's choice for each gap, which depends on the gap alone: long ones are
    /// slept through, short ones spun, past ones sent at once.
    #[test]
    fn long_gaps_are_slept_short_ones_spun_past_ones_sent() {
        let mut pacer = Pacer::default();
        let now = Instant::now();
        pacer.wait_until(now, now + Duration::from_micros(500));
        assert_eq!((pacer.slept, pacer.spins, pacer.late), (1, 0, 0));
        assert_eq!(pacer.pacing(), Pacing::Sleeps);
        let now = Instant::now();
        pacer.wait_until(now, now + Duration::from_micros(10));
        pacer.wait_until(now, now + Duration::from_micros(20));
        assert_eq!((pacer.slept, pacer.spins, pacer.late), (1, 2, 0));
        assert_eq!(pacer.pacing(), Pacing::Spins);
        let now = Instant::now();
        for _ in 0..2 {
            pacer.wait_until(now, now);
        }
        assert_eq!(pacer.late, 2);
        assert_eq!(pacer.pacing(), Pacing::BackToBack);
    }

    #[test]
    fn a_rate_beyond_reach_is_sent_back_to_back() {
        let mut tx = Count(0);
        let paced = publish_paced(&mut tx, 64, 1_000_000_000, Duration::from_millis(5));
        assert_eq!(paced.pacing, Pacing::BackToBack);
        assert!(tx.0 > 0 && tx.0 < 5_000_000, "{} sent", tx.0);
        assert!(paced.wall < Duration::from_millis(50), "{:?}", paced.wall);
    }
}
