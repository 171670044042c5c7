//! The clock processes compare readings of: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! A notifier stamps when it woke the sleepers (see [`WakeWord`](super::WakeWord)), and a
//! sleeper of another process turns that stamp into how long its wait lasted and how long
//! its wake-up took. `Instant` reads the same clock on Linux, but hides the value; one
//! reading of both, taken once, converts between them exactly.

use std::sync::OnceLock;
use std::time::Instant;

/// An `Instant` and the `CLOCK_MONOTONIC` nanoseconds read right after it.
fn anchor() -> (Instant, u64) {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let at = Instant::now();
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let ns = u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(ts.tv_nsec).unwrap_or(0);
        (at, ns)
    })
}

/// `at` on the shared monotonic clock, in nanoseconds.
pub(crate) fn mono_ns(at: Instant) -> u64 {
    let (anchor_at, anchor_ns) = anchor();
    if at >= anchor_at {
        anchor_ns.saturating_add(duration_ns(at - anchor_at))
    } else {
        anchor_ns.saturating_sub(duration_ns(anchor_at - at))
    }
}

/// Now on the shared monotonic clock, in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    mono_ns(Instant::now())
}

/// A duration in whole nanoseconds, saturating.
pub(crate) fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    /// The conversion keeps order and distance, and agrees with the clock itself.
    #[test]
    fn instants_convert_to_the_shared_clock() {
        let a = Instant::now();
        let b = a + std::time::Duration::from_micros(7);
        assert_eq!(mono_ns(b) - mono_ns(a), 7_000);
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let direct = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let converted = now_ns();
        assert!(converted >= direct && converted - direct < 1_000_000_000);
    }
}
