//! Blocking without burning a core: each waiting side spins while its value is expected
//! soon enough for spinning to pay (measured: how long its waits last, what its wake-ups
//! cost), then sleeps on a futex word in the shared memory, with a waiter count so that
//! notifying nobody costs no system call, and a tree of wake-ups so that waking many
//! sleepers costs the notifier one.
//!
//! - [`word`]: the futex word, its waiter count and the wake-up protocol (checked by
//!   loom).
//! - [`strategy`]: [`WaitStrategy`], what a user tunes.
//! - [`block`]: the one blocking loop, spin then park, that every blocking call uses.
//! - [`waiter`]: the adaptive state of one side (its spin budget and counters).
//! - [`stats`]: [`WaitStats`], the counters a user reads.
//! - [`fences`]: the store-load barrier of the protocol, asymmetric where `membarrier`
//!   allows.
//! - [`futex`]: the system call (or its loom model).
//! - [`leases`]: who waits on a structure many share, so its waiters leave the CPUs to
//!   each other.
//! - [`clock`]: the monotonic clock whose readings processes compare.
//! - [`doorbell`]: [`Doorbell`], how a notifier wakes an async waiter.

mod block;
mod clock;
mod doorbell;
mod fences;
mod futex;
mod leases;
mod stats;
mod strategy;
mod waiter;
mod word;

pub(crate) use block::{Blocking, after, block, spin_only};
pub use doorbell::Doorbell;
pub(crate) use doorbell::{AsyncArm, Bell};
pub(crate) use fences::{Fence, prepare};
pub(crate) use leases::SpinLeases;
pub use stats::WaitStats;
pub use strategy::WaitStrategy;
pub(crate) use waiter::Waiter;
pub(crate) use word::WakeWord;
