//! Blocking without burning a core: each waiting side spins for a while (a budget that
//! adapts to what waking costs here), then sleeps on a futex word in the shared memory,
//! with a waiter count so that notifying nobody costs no system call.
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

mod block;
mod fences;
mod futex;
mod stats;
mod strategy;
mod waiter;
mod word;

pub(crate) use block::{Blocking, after, block};
pub(crate) use fences::prepare;
pub use stats::WaitStats;
pub use strategy::WaitStrategy;
pub(crate) use waiter::Waiter;
pub(crate) use word::WakeWord;
