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
//!
//! # Async waiters: a doorbell in the futex's place
//!
//! A waiter that is an async task cannot sleep on the futex; it waits for a
//! [`Doorbell`](super::Doorbell) its notifier rings (see [`doorbell`](super::doorbell)).
//! It counts itself in with [`ASYNC_WAITER`] instead of one, so the one count the notifier
//! reads at (b) tells both kinds apart, and it has a flag of its own, `rung`, in the role
//! `woken` plays for sleepers:
//!
//! ```text
//! async waiter                              notifier, at (b') when n >= ASYNC_WAITER
//! ------------                              --------
//! waiters.fetch_add(ASYNC_WAITER)  (1)      if rung.swap(1, AcqRel) == 0:     (b'')
//! rung.swap(0, AcqRel)             (1'')        ring the bell                 (c')
//! re-check position                (3)
//! if nothing: await the bell       (4')
//! waiters.fetch_sub(ASYNC_WAITER)
//! ```
//!
//! The argument is the one above with the bell for the futex value: a bell rung after
//! (1'') is still unheard at (4') (the waiter only clears its bell's readiness before it
//! arms), and a swap at (b'') that reads 1 found a ring sent after (1''), or comes before
//! (1'') in `rung`'s order and then (3) sees the position. A notifier that sees only async
//! waiters (`n % ASYNC_WAITER == 0`) makes no futex call, and one that sees only sleepers
//! leaves `rung` alone, so each kind costs the other nothing. The loom model
//! `spsc_async_pop_never_loses_a_wake_up` checks it, with a bell that counts its rings.
//!
//! A broadcast ring's async readers share the one `rung`, and the writer's bell wakes
//! every reader that made itself known as parked before its (1''), and says it no longer
//! is only after disarming. The argument holds for each reader: a ring sent by a swap at
//! (b'') that reads 0 after a reader's (1'') synchronises with that re-arm (a chain of
//! read-modify-writes), so it sees the reader parked and rings it; a swap that reads 1
//! found a ring sent after the reader's (1''), which saw it parked. A re-arm by any reader
//! makes the next write ring them all: the writer pays one ring per parked reader, once
//! per re-arm, never per message while they keep up. The loom model
//! `broadcast_two_async_readers_are_both_rung` checks it, with the facade's rung bit
//! (each parked reader rung once per parking): a bell that rang only one parked reader,
//! a reader that said it was parked after arming, or one whose unparking left its rung
//! bit set, deadlocks it.
//!
//! # Many waiters: a tree of wake-ups
//!
//! Waking N sleepers at once costs the waker about N times one wake-up (measured here by
//! `examples/wake_cost.rs`: 7-8 µs for one, 59-83 µs for sixteen), on the writer's critical
//! path. So each sleeper sleeps in the *generation* of the value it armed with (one of 32
//! futex bits: `1 << (s % 32)`), the notifier wakes *one* sleeper of the generation its
//! bump ends (d), and each sleeper that wakes to find `seq` moved since it armed wakes two
//! more of its generation before it looks for its value:
//!
//! ```text
//! (d)  old = seq.fetch_add(1); futex_wake_bitset(seq, 1, bit(old))
//! after futex_wait_bitset(seq, s, bit(s)) returns:
//! (5)  if seq.load(Acquire) != s and waiters > 1: futex_wake_bitset(seq, 2, bit(s))
//! ```
//!
//! The kernel wakes the sleepers of matching bits in arrival order, and a sleeper that
//! armed after the bump sleeps in the next generation, so neither (d) nor (5) wakes it: the
//! sleepers of a generation are woken in a tree of depth log2(N), each exactly once, the
//! writer makes one system call whatever N is, and each woken sleeper one more. A sleeper
//! killed between its wake-up and (5) leaves its subtree asleep until the liveness period
//! ends their sleep (10 ms by default): a later value, never a lost one. Generations 32
//! apart share a bit: one may be woken for the other, finds `seq` unmoved, and sleeps
//! again. The loom model `broadcast_two_sleeping_readers_are_both_woken` checks the tree
//! with a futex model that wakes by bits, in arrival order.

use super::fences::{self, Fence};
use super::{Bell, clock, futex};
use crate::sync::{AtomicU32, Ordering};

/// The futex word and waiter count of one direction ("data available", "space available").
#[derive(Debug)]
#[repr(C)]
pub(crate) struct WakeWord {
    seq: AtomicU32,
    waiters: AtomicU32,
    /// 1 once a notifier woke the waiters, until one of them re-arms it before sleeping
    /// again: a wake-up already in flight needs no second system call.
    woken: AtomicU32,
    /// 1 once a notifier rang the async waiter's bell, until it re-arms: `woken` for the
    /// bell (see the module docs). In what was padding before the stamp.
    rung: AtomicU32,
    /// When the last wake-up was sent (shared monotonic clock, ns): a sleeper learns from
    /// it how long its wait lasted and what its wake-up cost (see
    /// [`Waiter`](super::Waiter)). A statistic, no part of the protocol: a plain `std`
    /// atomic, which the loom models do not explore, and garbage in it only misleads the
    /// spin budget.
    stamp: std::sync::atomic::AtomicU64,
}

/// What an async waiter adds to the waiter count (a sleeper adds one): the count's high
/// half counts async waiters, its low half sleepers.
pub(crate) const ASYNC_WAITER: u32 = 1 << 16;

/// How many sleepers of its generation a woken sleeper wakes.
const FAN_OUT: u32 = 2;

/// The futex bit of the sleepers that armed with the value `seq`.
fn generation(seq: u32) -> std::num::NonZeroU32 {
    // One bit of 32 is set: never zero (the fallback is unreachable).
    std::num::NonZeroU32::new(1 << (seq % 32)).unwrap_or(std::num::NonZeroU32::MIN)
}

/// The futex value a waiter read when it armed: what it sleeps on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Armed(u32);

impl WakeWord {
    pub(crate) fn new() -> Self {
        Self {
            seq: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            woken: AtomicU32::new(0),
            rung: AtomicU32::new(0),
            stamp: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Wakes the waiters, if any, sleepers with the futex and an async waiter with
    /// `bell`; call after publishing what they wait for. Returns whether it made a
    /// system call (a futex wake or a ring).
    ///
    /// With nobody waiting it costs one load (see [`fences`]), or one read-modify-write
    /// where `membarrier` is unavailable; with a wake-up already in flight, one swap.
    #[inline(always)]
    pub(crate) fn notify_ringing(&self, bell: &Bell) -> bool {
        match fences::notifier_sees_waiters(&self.waiters, Fence::Asymmetric) {
            0 => false,
            seen => self.wake(seen, bell),
        }
    }

    /// [`notify_ringing`](Self::notify_ringing) for a word whose waiters only sleep on
    /// the futex.
    #[inline(always)]
    pub(crate) fn notify(&self) -> bool {
        self.notify_ringing(&Bell::NONE)
    }

    /// [`notify_ringing`](Self::notify_ringing) for a word whose waiters arm with
    /// [`Fence::Symmetric`] (one read-modify-write with nobody waiting).
    #[inline(always)]
    pub(crate) fn notify_symmetric_ringing(&self, bell: &Bell) -> bool {
        match fences::notifier_sees_waiters(&self.waiters, Fence::Symmetric) {
            0 => false,
            seen => self.wake(seen, bell),
        }
    }

    /// The part of [`notify_ringing`](Self::notify_ringing) that runs when somebody waits (out of line:
    /// a steady stream never gets here): `seen` is the waiter count read at (b).
    #[inline(never)]
    fn wake(&self, seen: u32, bell: &Bell) -> bool {
        let mut called = false;
        // AcqRel on the swaps: see (b') and (b'') in the module docs.
        if !seen.is_multiple_of(ASYNC_WAITER) && self.woken.swap(1, Ordering::AcqRel) == 0 {
            self.stamp
                .store(clock::now_ns(), std::sync::atomic::Ordering::Relaxed);
            let old = self.seq.fetch_add(1, Ordering::Release);
            // One: the woken sleeper wakes the next ones (see the module docs).
            futex::wake(&self.seq, 1, generation(old));
            called = true;
        }
        if seen >= ASYNC_WAITER && self.rung.swap(1, Ordering::AcqRel) == 0 {
            called |= bell.ring();
        }
        called
    }

    /// The waiter's half, before its last look at what it waits for: counts itself in
    /// ((1) and the barrier of [`fences`]), reads the futex value to sleep
    /// on (2), and re-arms the wake-up flag (1'). The value is read *before* re-arming: a
    /// notification whose bump this read already sees must have its flag cleared by the
    /// re-arm, or it would silence the next notification while this waiter sleeps on a
    /// value that already includes the bump. Every `arm` is followed by one
    /// [`disarm`](Self::disarm).
    pub(crate) fn arm(&self, fence: Fence) -> Armed {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        fences::waiter_fence(fence);
        let seq = self.seq.load(Ordering::Acquire);
        // Re-arm: the next notification must wake us.
        self.woken.swap(0, Ordering::AcqRel);
        Armed(seq)
    }

    /// Sleeps (4) while no notification came since `armed`, at most `timeout`; may
    /// return early. Woken by a notification, passes the wake-up on to the next sleepers
    /// (5), and returns the notifier's stamp.
    pub(crate) fn sleep(&self, armed: Armed, timeout: std::time::Duration) -> Option<u64> {
        futex::wait(&self.seq, armed.0, timeout, generation(armed.0));
        if self.seq.load(Ordering::Acquire) == armed.0 {
            return None;
        }
        // The count includes this waiter until it disarms.
        if self.waiters.load(Ordering::Acquire) > 1 {
            futex::wake(&self.seq, FAN_OUT, generation(armed.0));
        }
        Some(self.stamp.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Counts the waiter out again.
    pub(crate) fn disarm(&self) {
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }

    /// The async waiter's half, before its last look at what it waits for: counts itself
    /// in as an async waiter ((1) and the barrier), then re-arms the bell flag (1''), so
    /// the next notification rings. The waiter must not clear its bell's readiness between
    /// this and its await (see the module docs). Every `arm_async` is followed by one
    /// [`disarm_async`](Self::disarm_async).
    pub(crate) fn arm_async(&self, fence: Fence) {
        self.waiters.fetch_add(ASYNC_WAITER, Ordering::AcqRel);
        fences::waiter_fence(fence);
        self.rung.swap(0, Ordering::AcqRel);
    }

    /// Counts the async waiter out again.
    pub(crate) fn disarm_async(&self) {
        self.waiters.fetch_sub(ASYNC_WAITER, Ordering::AcqRel);
    }

    /// Whether anybody is parked here (for statistics and tests).
    #[cfg(test)]
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) != 0
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    /// While a woken waiter is on its way, further notifications make no system call; once
    /// it re-arms to sleep again, the next one does.
    #[test]
    fn one_wake_system_call_per_sleep() {
        let word = WakeWord::new();
        assert!(!word.notify(), "nobody waits: no system call");
        let _armed = word.arm(Fence::Asymmetric);
        assert!(word.notify(), "the first notification wakes");
        assert!(!word.notify(), "the wake-up is in flight");
        assert!(!word.notify());
        word.disarm();
        // It ran, found nothing more, and sleeps again.
        let _armed = word.arm(Fence::Asymmetric);
        assert!(word.notify(), "asleep again: woken again");
        word.disarm();
        assert!(!word.has_waiters());
    }

    /// Counts its rings.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicU32);

    impl super::super::Doorbell for Counting {
        fn ring(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    impl Counting {
        fn rings(&self) -> u32 {
            self.0.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    /// An async waiter's bell is rung once per arming, never for a sleeper, and a
    /// notification for an async waiter alone makes no futex call.
    #[test]
    fn one_ring_per_async_arming_and_none_for_sleepers() {
        let word = WakeWord::new();
        let counting = std::sync::Arc::new(Counting::default());
        let bell = Bell::new(counting.clone());
        let seq = word.seq.load(Ordering::Relaxed);
        word.arm_async(Fence::Asymmetric);
        assert!(word.notify_ringing(&bell), "the parked task is rung");
        assert!(!word.notify_ringing(&bell), "the ring is in flight");
        assert_eq!(counting.rings(), 1);
        assert_eq!(word.seq.load(Ordering::Relaxed), seq, "no futex wake");
        word.disarm_async();
        assert!(!word.notify_ringing(&bell), "disarmed: nobody to ring");
        word.arm_async(Fence::Asymmetric);
        assert!(word.notify_ringing(&bell), "armed again: rung again");
        assert_eq!(counting.rings(), 2);
        // A sleeper beside it is woken by the futex; the bell is not rung again.
        let _armed = word.arm(Fence::Asymmetric);
        assert!(word.notify_ringing(&bell));
        assert_eq!(counting.rings(), 2);
        assert_ne!(
            word.seq.load(Ordering::Relaxed),
            seq,
            "the sleeper's futex wake"
        );
        word.disarm();
        word.disarm_async();
        assert!(!word.has_waiters());
    }
}
