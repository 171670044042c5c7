//! Who is waiting on one structure, so that its waiters leave the CPUs to each other.
//!
//! Waiters of a structure that many share (the subscribers of a broadcast ring) each
//! take a *lease* while in a blocking call: a slot holding the time until which the
//! lease holds. A waiter spins only while the live leases, its own included, are no more
//! than the CPUs left beside the writer's ([`spare_cpus`]); otherwise spinning would only
//! take the CPU from the others, and from the writer. A lease lasts as long as the spin,
//! or the sleep slice, it covers, and is renewed after each, so a waiter killed at any
//! point stops counting within a second at most: nothing to clean up.
//!
//! The slots are advisory: a wrong count (a peer that writes garbage, a race between two
//! waiters taking the same free slot) only makes a waiter spin or sleep when the other
//! would have suited better; no message depends on it. They are therefore plain `std`
//! atomics, which the loom models do not explore.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lease slots of a structure: one per CPU up to this many (a machine with more CPUs
/// spins one waiter per slot at most).
pub(crate) const SLOTS: usize = 16;

/// A lease further ahead than this is garbage, and free (a real one is at most a sleep
/// slice ahead, and a sleep slice longer than this is counted for its first second).
const HORIZON_NS: u64 = 1_000_000_000;

/// The CPUs left for waiters beside one for the writer (0 on one CPU), found once.
///
/// A CPU quota (a container's) limits every process of it, so it counts; an affinity
/// mask does not: it says where *this* process runs, not where the writer does (a
/// subscriber pinned to one CPU of two, away from its publisher, has that CPU to spin on).
pub(crate) fn spare_cpus() -> usize {
    static SPARE: OnceLock<usize> = OnceLock::new();
    *SPARE.get_or_init(|| {
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        let affinity =
            rustix::thread::sched_getaffinity(None).map_or(usable, |set| set.count() as usize);
        let cpus = if usable < affinity {
            usable
        } else {
            online_cpus().unwrap_or(usable).max(usable)
        };
        cpus.saturating_sub(1)
    })
}

/// The CPUs online, from `/sys/devices/system/cpu/online` ("0-3,8-11").
fn online_cpus() -> Option<usize> {
    let list = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    cpu_list_len(list.trim())
}

/// How many CPUs a kernel CPU list ("0-3,8-11") names.
fn cpu_list_len(list: &str) -> Option<usize> {
    list.split(',').try_fold(0usize, |count, range| {
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
        Some(count + last.checked_sub(first)? + 1)
    })
}

/// The lease slots of one structure, in its shared memory.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct SpinLeases {
    until: [AtomicU64; SLOTS],
}

/// A lease this waiter holds: its slot and the time it holds until.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    index: usize,
    until: u64,
}

impl SpinLeases {
    pub(crate) fn new() -> Self {
        Self {
            until: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The slots in use on this machine: enough to tell `spare` waiters from more.
    fn slots(spare: usize) -> usize {
        (spare + 1).min(SLOTS)
    }

    /// Whether a slot holding `until` is a live lease at `now`.
    fn live(until: u64, now: u64) -> bool {
        until > now && until - now <= HORIZON_NS
    }

    /// Takes a free lease until `until`, and counts the live leases, the new one included
    /// (counting stops once it exceeds what `spare` CPUs allow). `None` when every slot
    /// is taken: more waiters than CPUs.
    pub(crate) fn take(&self, now: u64, until: u64, spare: usize) -> Option<(Held, usize)> {
        let mut held = None;
        let mut live = 0;
        for (index, slot) in self.until[..Self::slots(spare)].iter().enumerate() {
            let current = slot.load(Ordering::Relaxed);
            if Self::live(current, now) {
                live += 1;
            } else if held.is_none()
                && slot
                    .compare_exchange(current, until, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                held = Some(Held { index, until });
                live += 1;
            }
        }
        held.map(|h| (h, live))
    }

    /// Extends `held` until `until`; a lease lost meanwhile (it expired and another
    /// waiter took the slot) stays lost.
    pub(crate) fn renew(&self, held: &mut Held, until: u64) {
        if self.until[held.index]
            .compare_exchange(held.until, until, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            held.until = until;
        }
    }

    /// Gives `held` back, unless it was lost.
    pub(crate) fn release(&self, held: Held) {
        let _ = self.until[held.index].compare_exchange(
            held.until,
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    const NOW: u64 = 5_000_000_000;

    #[test]
    fn cpu_lists_are_counted() {
        assert_eq!(cpu_list_len("0"), Some(1));
        assert_eq!(cpu_list_len("0-1"), Some(2));
        assert_eq!(cpu_list_len("0-3,8-11,13"), Some(9));
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(cpu_list_len("x"), None);
    }

    /// With one spare CPU, two slots tell one waiter from two; a third finds none.
    #[test]
    fn leases_count_waiters_up_to_one_more_than_the_spare_cpus() {
        let leases = SpinLeases::new();
        let (a, live) = leases.take(NOW, NOW + 1_000, 1).unwrap();
        assert_eq!(live, 1, "alone: may spin");
        let (b, live) = leases.take(NOW, NOW + 1_000, 1).unwrap();
        assert_eq!(live, 2, "two waiters, one spare CPU: must not spin");
        assert!(leases.take(NOW, NOW + 1_000, 1).is_none(), "no slot left");
        leases.release(a);
        let (_, live) = leases.take(NOW, NOW + 1_000, 1).unwrap();
        assert_eq!(live, 2, "a's slot is free again, b still counts");
        leases.release(b);
    }

    /// A dead waiter's lease stops counting when it runs out; a garbage one far in the
    /// future counts as free at once.
    #[test]
    fn expired_and_garbage_leases_are_free() {
        let leases = SpinLeases::new();
        let (mut dead, _) = leases.take(NOW, NOW + 1_000, 1).unwrap();
        leases.renew(&mut dead, NOW + 2_000);
        let (_, live) = leases.take(NOW + 1_500, NOW + 3_000, 1).unwrap();
        assert_eq!(live, 2, "renewed: still live at +1.5 µs");
        let leases = SpinLeases::new();
        let _dead = leases.take(NOW, NOW + 1_000, 1).unwrap();
        let (_, live) = leases.take(NOW + 2_000, NOW + 3_000, 1).unwrap();
        assert_eq!(live, 1, "expired at +1 µs");
        leases.until[1].store(u64::MAX, Ordering::Relaxed);
        let (_, live) = leases.take(NOW + 2_000, NOW + 3_000, 1).unwrap();
        assert_eq!(live, 2, "the garbage slot was free, and is now taken");
    }

    /// A lease that expired and was taken by another waiter is neither renewed nor
    /// released by its old holder.
    #[test]
    fn a_lost_lease_is_left_to_its_new_holder() {
        let leases = SpinLeases::new();
        let (mut old, _) = leases.take(NOW, NOW + 1_000, 0).unwrap();
        let (new, _) = leases.take(NOW + 2_000, NOW + 9_000, 0).unwrap();
        leases.renew(&mut old, NOW + 5_000);
        leases.release(old);
        assert_eq!(leases.until[new.index].load(Ordering::Relaxed), NOW + 9_000);
    }
}
