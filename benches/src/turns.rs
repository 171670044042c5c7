//! Turns between the two processes of a batched stream: the producer fills a batch while
//! the consumer waits, then the consumer drains it while the producer waits. Every line
//! of a batch is written whole before it is read, so lines move between the CPUs in
//! batches, one transfer each, whatever the two sides' speeds: the regime of a producer
//! running ahead, held still instead of left to chance.

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane::segment::Segment;

use crate::raw::{create, open, word};

/// Offsets of the two counters, on lines of their own.
const FILLED: usize = 0;
const DRAINED: usize = 128;

/// Two counters in a segment of their own: batches filled, batches drained.
#[derive(Debug)]
pub struct Turns {
    segment: Segment,
}

impl Turns {
    /// Creates the turns `name` (the consumer does, before starting the producer).
    pub fn create(name: &str) -> Self {
        Self {
            segment: create(name, DRAINED + 8),
        }
    }

    /// Opens the turns `name`.
    pub fn open(name: &str) -> Self {
        Self {
            segment: open(name),
        }
    }

    fn counter(&self, at: usize) -> &AtomicU64 {
        word::<AtomicU64>(&self.segment, at)
    }

    /// Says that batch `n` (from 0) is written. Release: the batch's messages are
    /// published before.
    pub fn filled(&self, n: u64) {
        self.counter(FILLED).store(n + 1, Ordering::Release);
    }

    /// Spins until batch `n` is written.
    pub fn await_filled(&self, n: u64) {
        Self::await_count(self.counter(FILLED), n + 1);
    }

    /// Says that batch `n` is read whole.
    pub fn drained(&self, n: u64) {
        self.counter(DRAINED).store(n + 1, Ordering::Release);
    }

    /// Spins until batch `n` is read whole.
    pub fn await_drained(&self, n: u64) {
        Self::await_count(self.counter(DRAINED), n + 1);
    }

    fn await_count(counter: &AtomicU64, count: u64) {
        while counter.load(Ordering::Acquire) < count {
            std::hint::spin_loop();
        }
    }
}
