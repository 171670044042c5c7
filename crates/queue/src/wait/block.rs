//! The one blocking loop of the crate: every `*_blocking` and `*_timeout` call of every
//! handle is [`block`] with the handle's own way of trying once.
//!
//! It spins within the handle's budget ([`spin`]: what the [`Waiter`] measured deems
//! worth it, cut short where the structure's waiters outnumber the CPUs), then parks on
//! the handle's [`WakeWord`] ([`park`]), checking the peer's liveness after each sleep,
//! so a dead peer ends the wait within the strategy's liveness period.

use std::time::{Duration, Instant};

use super::clock::{duration_ns, mono_ns};
use super::fences::Fence;
use super::leases::{Held, SpinLeases, spare_cpus};
use super::waiter::Started;
use super::{Waiter, WakeWord};
use crate::QueueError;
use crate::sync::{spin_hint, yield_now};

/// How long a lease outlives the spin or sleep slice it covers: the time between taking
/// or renewing it and what follows.
const LEASE_SLACK: Duration = Duration::from_millis(1);

/// A handle that blocks: what [`block`] asks of it. Each handle waits for one thing (records
/// for a reader, room for a writer), so it has one word to sleep on and one peer to watch.
pub(crate) trait Blocking {
    /// This side's adaptive wait state.
    fn waiter(&mut self) -> &mut Waiter;

    /// The word the peer notifies once what this side waits for may have come.
    fn word(&self) -> &WakeWord;

    /// The leases of waiters that share this structure and its CPUs (see
    /// [`leases`](super::leases)); `None` where this side waits alone.
    fn leases(&self) -> Option<&SpinLeases> {
        None
    }

    /// The barrier form its notifier uses (see [`fences`](super::fences)).
    fn fence(&self) -> Fence {
        Fence::Asymmetric
    }

    /// Whether the peer detached: a cheap check, made while spinning.
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the peer's state word holds no valid state.
    fn peer_closed(&mut self) -> Result<bool, QueueError>;

    /// Whether the peer is gone, dead peers included: the full check (a system call for a
    /// segment), made after each sleep, so at least once per liveness period.
    ///
    /// # Errors
    ///
    /// Those of [`peer_closed`](Self::peer_closed).
    fn peer_gone(&mut self) -> Result<bool, QueueError>;
}

/// Waits until `attempt` yields a value, the peer is gone, or `deadline` passes.
///
/// `attempt` polls the structure once; it is called often, and must not block. A peer
/// found gone still gets one last `attempt`, so what it sent before going is delivered
/// ([`QueueError::Disconnected`] otherwise). An error from `attempt` or from the peer
/// checks ends the wait with that error: they are re-checked at least once per liveness
/// period, so it is reported in bounded time.
///
/// # Errors
///
/// Those of `attempt` and of the peer checks, [`QueueError::Disconnected`],
/// [`QueueError::Timeout`].
#[inline]
pub(crate) fn block<H: Blocking, T>(
    host: &mut H,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(&mut H) -> Result<Option<T>, QueueError>,
) -> Result<T, QueueError> {
    // The common case first, without reading the clock.
    if let Some(v) = attempt(host)? {
        return Ok(v);
    }
    let started = Started::now();
    let mut lease = None;
    let result = match spin(host, started, deadline, &mut lease, &mut attempt) {
        Ok(Some(v)) => {
            host.waiter().ended(started, None);
            Ok(v)
        }
        Ok(None) => park(host, started, deadline, &mut lease, &mut attempt),
        Err(e) => Err(e),
    };
    if let (Some(held), Some(leases)) = (lease, host.leases()) {
        leases.release(held);
    }
    result
}

/// The spin of [`block`] without its sleep: `Ok(None)` where `block` would park (the
/// caller then waits its own way, an async task on a doorbell). The peer checks are
/// those of the spin: a peer found gone still gets its last look.
///
/// # Errors
///
/// Those of `attempt` and of the peer checks, [`QueueError::Disconnected`].
#[inline]
pub(crate) fn spin_only<H: Blocking, T>(
    host: &mut H,
    mut attempt: impl FnMut(&mut H) -> Result<Option<T>, QueueError>,
) -> Result<Option<T>, QueueError> {
    if let Some(v) = attempt(host)? {
        return Ok(Some(v));
    }
    let started = Started::now();
    let mut lease = None;
    let result = spin(host, started, None, &mut lease, &mut attempt);
    if let Ok(Some(_)) = result {
        host.waiter().ended(started, None);
    }
    if let (Some(held), Some(leases)) = (lease, host.leases()) {
        leases.release(held);
    }
    result
}

/// The deadline `timeout` from now; `None` (no deadline) for a timeout so long that
/// the clock cannot express its end, such as `Duration::MAX`.
pub(crate) fn after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The peer is gone: what it published before going is still taken.
fn last_look<H, T>(
    host: &mut H,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, QueueError>,
) -> Result<T, QueueError> {
    attempt(host)?.ok_or(QueueError::Disconnected)
}

/// The spin budget of the wait begun at `started`: the waiter's, cut to its shortest
/// spin when this structure's waiters outnumber the spare CPUs. Takes a lease, where the
/// structure has them, for the spin (and the sleep after it).
fn spin_budget<H: Blocking>(host: &mut H, started: Instant, lease: &mut Option<Held>) -> Duration {
    let waiter = host.waiter();
    waiter.settle(started);
    let (budget, strategy) = (waiter.budget(), waiter.strategy());
    if !strategy.share_cpus || strategy.never_sleeps() || budget <= strategy.min_spin {
        return budget;
    }
    let Some(leases) = host.leases() else {
        return budget;
    };
    let now = mono_ns(started);
    let until = now.saturating_add(duration_ns(budget.saturating_add(LEASE_SLACK)));
    let spare = spare_cpus();
    match leases.take(now, until, spare) {
        Some((held, waiting)) => {
            *lease = Some(held);
            if waiting <= spare {
                budget
            } else {
                strategy.min_spin
            }
        }
        None => strategy.min_spin,
    }
}

/// Spins within the budget: `Ok(Some)` with a value, `Ok(None)` once the budget is spent
/// (time to sleep). Long spins yield now and then (see [`WaitStrategy::yield_every`]), and
/// check once per liveness period that the peer lives.
///
/// [`WaitStrategy::yield_every`]: super::WaitStrategy::yield_every
fn spin<H: Blocking, T>(
    host: &mut H,
    started: Started,
    deadline: Option<Instant>,
    lease: &mut Option<Held>,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, QueueError>,
) -> Result<Option<T>, QueueError> {
    let start = started.at();
    let budget = spin_budget(host, start, lease);
    let strategy = host.waiter().strategy();
    let (yield_every, liveness_period) = (strategy.yield_every, strategy.liveness_period);
    let mut spins = 0u32;
    let (mut yielded, mut checked) = (start, start);
    while !budget.is_zero() {
        if let Some(v) = attempt(host)? {
            return Ok(Some(v));
        }
        if host.peer_closed()? {
            return last_look(host, attempt).map(Some);
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(QueueError::Timeout);
            }
            if now - start >= budget {
                break;
            }
            if now - yielded >= yield_every {
                yield_now();
                yielded = now;
            }
            // A spin longer than the liveness period (busy polling) asks whether the
            // peer died as often as a sleeper does.
            if now - checked >= liveness_period {
                if host.peer_gone()? {
                    return last_look(host, attempt).map(Some);
                }
                checked = now;
            }
        }
        spin_hint();
    }
    if host.peer_closed()? {
        return last_look(host, attempt).map(Some);
    }
    Ok(None)
}

/// Sleeps on the handle's word until `attempt` yields, the peer is gone or `deadline`
/// passes; each sleep lasts at most the liveness period, after which the peer is checked.
/// While asleep the waiter holds a lease, where the structure has them, so that spinning
/// waiters count it.
fn park<H: Blocking, T>(
    host: &mut H,
    started: Started,
    deadline: Option<Instant>,
    lease: &mut Option<Held>,
    attempt: &mut impl FnMut(&mut H) -> Result<Option<T>, QueueError>,
) -> Result<T, QueueError> {
    host.waiter().parking();
    let strategy = host.waiter().strategy();
    let mut notified = None;
    let result = loop {
        let mut slice = strategy.liveness_period;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(QueueError::Timeout);
            }
            slice = slice.min(left);
        }
        if strategy.share_cpus {
            hold_while_asleep(host, lease, slice);
        }
        let armed = host.word().arm(host.fence());
        // The last look before sleeping: after arming, so a notification sent after this
        // look wakes the sleep (see the protocol in `word`).
        let ready = attempt(host);
        if !matches!(ready, Ok(None)) {
            host.word().disarm();
            break ready.map(|v| v.expect("checked"));
        }
        notified = host.word().sleep(armed, slice).or(notified);
        host.word().disarm();
        if let Some(v) = attempt(host)? {
            break Ok(v);
        }
        if host.peer_closed()? || host.peer_gone()? {
            break last_look(host, attempt);
        }
    };
    host.waiter().ended(started, notified);
    result
}

/// Takes or renews a lease covering a sleep of `slice` from now.
fn hold_while_asleep<H: Blocking>(host: &mut H, lease: &mut Option<Held>, slice: Duration) {
    let Some(leases) = host.leases() else {
        return;
    };
    let now = super::clock::now_ns();
    let until = now.saturating_add(duration_ns(slice.saturating_add(LEASE_SLACK)));
    match lease {
        Some(held) => leases.renew(held, until),
        None => *lease = leases.take(now, until, spare_cpus()).map(|(held, _)| held),
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::wait::WaitStrategy;

    /// A side that waits for a flag; its peer closes when `closed` is set, and is never
    /// found dead otherwise.
    struct Flag {
        waiter: Waiter,
        word: Arc<WakeWord>,
        flag: Arc<AtomicBool>,
        closed: Arc<AtomicBool>,
    }

    impl Flag {
        fn new(strategy: WaitStrategy) -> Self {
            Self {
                waiter: Waiter::new(strategy),
                word: Arc::new(WakeWord::new()),
                flag: Arc::new(AtomicBool::new(false)),
                closed: Arc::new(AtomicBool::new(false)),
            }
        }

        fn set(&self) -> Option<()> {
            self.flag.load(Ordering::Acquire).then_some(())
        }

        /// Waits until the flag is set, at most `timeout`.
        fn wait(&mut self, timeout: Duration) -> Result<(), QueueError> {
            block(self, after(timeout), |f| Ok(f.set()))
        }
    }

    impl Blocking for Flag {
        fn waiter(&mut self) -> &mut Waiter {
            &mut self.waiter
        }
        fn word(&self) -> &WakeWord {
            &self.word
        }
        fn peer_closed(&mut self) -> Result<bool, QueueError> {
            Ok(self.closed.load(Ordering::Acquire))
        }
        fn peer_gone(&mut self) -> Result<bool, QueueError> {
            self.peer_closed()
        }
    }

    fn short_spin() -> WaitStrategy {
        WaitStrategy {
            initial_spin: Duration::from_micros(1),
            min_spin: Duration::from_micros(1),
            yield_every: Duration::ZERO,
            ..WaitStrategy::default()
        }
    }

    #[test]
    fn a_notified_waiter_wakes_and_a_silent_one_times_out() {
        let mut side = Flag::new(short_spin());
        let t = std::thread::spawn({
            let (word, flag) = (side.word.clone(), side.flag.clone());
            move || {
                while !word.has_waiters() {
                    std::thread::yield_now();
                }
                flag.store(true, Ordering::Release);
                word.notify();
            }
        });
        assert!(side.wait(Duration::from_secs(30)).is_ok());
        t.join().unwrap();
        assert_eq!(side.waiter.parks(), 1);
        side.flag.store(false, Ordering::Release);
        let timed_out = side.wait(Duration::from_millis(30));
        assert!(matches!(timed_out, Err(QueueError::Timeout)));
        assert_eq!(side.waiter.parks(), 2, "the timed-out wait slept too");
    }

    /// A wait whose value comes within the spin budget never sleeps (no notification is
    /// sent here: a waiter that slept would only wake at its liveness period).
    #[test]
    fn a_value_within_the_spin_budget_is_taken_without_sleeping() {
        let mut side = Flag::new(WaitStrategy {
            initial_spin: Duration::from_secs(20),
            max_spin: Duration::from_secs(20),
            yield_every: Duration::from_millis(1),
            ..WaitStrategy::default()
        });
        let t = std::thread::spawn({
            let flag = side.flag.clone();
            move || {
                std::thread::sleep(Duration::from_millis(5));
                flag.store(true, Ordering::Release);
            }
        });
        let got = side.wait(Duration::from_secs(30));
        t.join().unwrap();
        assert!(got.is_ok());
        assert_eq!(
            side.waiter.parks(),
            0,
            "slept although the value came while spinning"
        );
    }

    /// A busy-polling waiter never sleeps, yet finds its peer gone within the liveness
    /// period (here a peer found gone without having closed, as a dead one is).
    #[test]
    fn a_busy_polling_waiter_finds_a_dead_peer_without_sleeping() {
        struct Dead(Flag, std::sync::Arc<AtomicBool>);
        impl Blocking for Dead {
            fn waiter(&mut self) -> &mut Waiter {
                self.0.waiter()
            }
            fn word(&self) -> &WakeWord {
                self.0.word()
            }
            fn peer_closed(&mut self) -> Result<bool, QueueError> {
                Ok(false)
            }
            fn peer_gone(&mut self) -> Result<bool, QueueError> {
                Ok(self.1.load(Ordering::Acquire))
            }
        }
        let dead = std::sync::Arc::new(AtomicBool::new(false));
        let mut side = Dead(
            Flag::new(WaitStrategy {
                liveness_period: Duration::from_millis(5),
                ..WaitStrategy::busy_poll()
            }),
            dead.clone(),
        );
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            dead.store(true, Ordering::Release);
        });
        let got = block(&mut side, after(Duration::from_secs(30)), |d| Ok(d.0.set()));
        t.join().unwrap();
        assert!(matches!(got, Err(QueueError::Disconnected)), "{got:?}");
        assert_eq!(side.0.waiter.parks(), 0, "a busy poller never sleeps");
    }

    /// A peer that closes while the waiter sleeps ends the wait with `Disconnected` at the
    /// next liveness check, without a notification; one that closes after publishing
    /// still has what it published taken.
    #[test]
    fn a_closed_peer_ends_the_wait_after_its_last_value_is_taken() {
        let mut side = Flag::new(WaitStrategy {
            liveness_period: Duration::from_millis(5),
            ..short_spin()
        });
        side.closed.store(true, Ordering::Release);
        assert!(matches!(
            side.wait(Duration::from_secs(30)),
            Err(QueueError::Disconnected)
        ));
        side.flag.store(true, Ordering::Release);
        assert!(side.wait(Duration::from_secs(30)).is_ok());
        let mut sleeper = Flag::new(WaitStrategy {
            liveness_period: Duration::from_millis(5),
            ..short_spin()
        });
        let t = std::thread::spawn({
            let (word, closed) = (sleeper.word.clone(), sleeper.closed.clone());
            move || {
                while !word.has_waiters() {
                    std::thread::yield_now();
                }
                closed.store(true, Ordering::Release);
            }
        });
        assert!(matches!(
            sleeper.wait(Duration::from_secs(30)),
            Err(QueueError::Disconnected)
        ));
        t.join().unwrap();
        assert_eq!(
            sleeper.waiter.parks(),
            1,
            "the close was found after a sleep"
        );
    }
}
