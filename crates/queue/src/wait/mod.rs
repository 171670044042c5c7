//! Blocking without burning a core: each waiting side spins for a while (a budget that
//! adapts to what waking costs here), then sleeps on a futex word in the shared memory,
//! with a waiter count so that notifying nobody costs no system call.
//!
//! - [`word`]: the futex word, its waiter count and the wake-up protocol (checked by
//!   loom).
//! - [`strategy`]: [`WaitStrategy`], what a user tunes.
//! - [`waiter`]: the adaptive spin-then-park state of one side.
//! - [`fences`]: the store-load barrier of the protocol, asymmetric where `membarrier`
//!   allows.
//! - [`futex`]: the system call (or its loom model).

mod fences;
mod futex;
mod strategy;
mod waiter;
mod word;

pub(crate) use fences::prepare;
pub use strategy::WaitStrategy;
pub(crate) use waiter::Waiter;
pub(crate) use word::WakeWord;
