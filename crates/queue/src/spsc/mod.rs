//! The single-producer single-consumer byte ring.

mod consumer;
mod producer;
mod ring;

pub use consumer::{Consumer, ReadGuard};
pub use producer::{Producer, WriteGuard};
pub use ring::SpscRing;
