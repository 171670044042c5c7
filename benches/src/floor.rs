//! The machine's floor: how long one cache line takes to cross between the two CPUs a
//! measurement runs on. Every shared-memory transport pays it at least once a message, and
//! on a virtual machine it moves (40 to 290 ns within seconds here, as the host moves the
//! vCPUs), so it is measured just before and just after each row and printed beside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cpu::{self, Placement};

/// Round trips of one floor measurement.
const ROUND_TRIPS: u64 = 20_000;

/// A line of its own: nothing else shares the ping-pong's cache line.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Line(AtomicU64);

/// The one-way time of a cache line between the placement's two CPUs: the median of
/// 20,000 round trips of a line between two pinned threads, halved.
///
/// # Panics
///
/// When a thread cannot be pinned or started.
pub fn cache_line(placement: Placement) -> Duration {
    let ping = Arc::new(Line::default());
    let pong = Arc::new(Line::default());
    let echo = {
        let (ping, pong) = (ping.clone(), pong.clone());
        std::thread::Builder::new()
            .name("floor-echo".into())
            .spawn(move || {
                if let Some(cpu) = placement.second() {
                    cpu::pin(cpu).expect("pin the floor's echo thread");
                }
                for i in 1..=ROUND_TRIPS {
                    while ping.0.load(Ordering::Acquire) != i {
                        std::hint::spin_loop();
                    }
                    pong.0.store(i, Ordering::Release);
                }
            })
            .expect("start the floor's echo thread")
    };
    let pinger = std::thread::Builder::new()
        .name("floor-ping".into())
        .spawn(move || {
            if let Some(cpu) = placement.first() {
                cpu::pin(cpu).expect("pin the floor's ping thread");
            }
            let mut rtts = Vec::with_capacity(ROUND_TRIPS as usize);
            for i in 1..=ROUND_TRIPS {
                let t0 = Instant::now();
                ping.0.store(i, Ordering::Release);
                while pong.0.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                rtts.push(t0.elapsed());
            }
            rtts
        })
        .expect("start the floor's ping thread");
    let mut rtts = pinger.join().expect("floor ping thread");
    echo.join().expect("floor echo thread");
    rtts.sort_unstable();
    rtts[rtts.len() / 2] / 2
}

/// The floor measured before and after a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// Just before the row.
    pub before: Duration,
    /// Just after it.
    pub after: Duration,
}

/// How far the floor may move during a row for the row to count as measured on one floor.
pub const SETTLED: f64 = 0.25;

impl Floor {
    /// The relative move of the floor during the row.
    pub fn moved(&self) -> f64 {
        let (a, b) = (self.before.as_secs_f64(), self.after.as_secs_f64());
        (a - b).abs() / a.min(b).max(f64::MIN_POSITIVE)
    }

    /// Whether it moved by at most [`SETTLED`].
    pub fn settled(&self) -> bool {
        self.moved() <= SETTLED
    }

    /// The mean of before and after.
    pub fn mean(&self) -> Duration {
        (self.before + self.after) / 2
    }
}

impl std::fmt::Display for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "floor {:.0}->{:.0} ns",
            self.before.as_secs_f64() * 1e9,
            self.after.as_secs_f64() * 1e9
        )?;
        if !self.settled() {
            write!(f, " (moved {:.0}%)", self.moved() * 100.0)?;
        }
        Ok(())
    }
}

/// A row's result with the floor it sat on.
#[derive(Debug, Clone)]
pub struct OnFloor<T> {
    /// The row's result (of its last attempt).
    pub result: T,
    /// The floor around that attempt.
    pub floor: Floor,
    /// Attempts made: more than one when the floor moved.
    pub attempts: usize,
}

impl<T> OnFloor<T> {
    /// Whether the floor held still during the attempt kept.
    pub fn settled(&self) -> bool {
        self.floor.settled()
    }
}

/// Runs `row` between two floor measurements, again (up to `max_attempts` in all) while
/// the floor moved by more than [`SETTLED`] during it; the last attempt is kept, marked
/// unsettled if it never settled.
pub fn measure<T>(placement: Placement, max_attempts: usize, row: impl FnMut() -> T) -> OnFloor<T> {
    measure_with(|| cache_line(placement), max_attempts, row)
}

/// [`measure`] with the floor measured by `floor`.
fn measure_with<T>(
    mut floor: impl FnMut() -> Duration,
    max_attempts: usize,
    mut row: impl FnMut() -> T,
) -> OnFloor<T> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let before = floor();
        let result = row();
        let after = floor();
        let floor = Floor { before, after };
        if floor.settled() || attempts >= max_attempts.max(1) {
            return OnFloor {
                result,
                floor,
                attempts,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_move_is_relative_and_symmetric() {
        let f = |a, b| Floor {
            before: Duration::from_nanos(a),
            after: Duration::from_nanos(b),
        };
        assert!(f(100, 125).settled());
        assert!(!f(100, 126).settled());
        assert!(!f(126, 100).settled());
        assert_eq!(f(50, 100).moved(), 1.0);
        assert_eq!(f(50, 100).mean(), Duration::from_nanos(75));
        assert_eq!(f(100, 200).to_string(), "floor 100->200 ns (moved 100%)");
    }

    /// A floor that reads the given nanoseconds in turn.
    fn floors(ns: &'static [u64]) -> impl FnMut() -> Duration {
        let mut next = ns.iter();
        move || Duration::from_nanos(*next.next().expect("a floor reading"))
    }

    #[test]
    fn an_unsettled_row_is_run_again_until_the_floor_holds() {
        let mut runs = 0;
        let mut row = || {
            runs += 1;
            runs
        };
        let kept = measure_with(floors(&[100, 200, 200, 190]), 3, &mut row);
        assert_eq!((kept.result, kept.attempts), (2, 2));
        assert!(kept.settled());
    }

    #[test]
    fn a_row_that_never_settles_is_kept_marked_after_the_bound() {
        let kept = measure_with(floors(&[100, 200, 50, 100, 300, 40]), 3, || ());
        assert_eq!(kept.attempts, 3);
        assert!(!kept.settled());
        assert_eq!(kept.floor.before, Duration::from_nanos(300));
    }

    #[test]
    fn the_cache_line_floor_is_measured_between_two_cpus() {
        assert!(cache_line(Placement::distinct()) > Duration::ZERO);
    }
}
