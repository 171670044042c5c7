//! The minimal SPSC ring of fixed-size slots.

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offsets of the raw ring: the consumer's position, the producer's, then the slots.
const RING_HEAD: usize = 0;
const RING_TAIL: usize = 128;
const RING_SLOTS: usize = 256;

/// A minimal SPSC ring of fixed-size slots, both sides spinning: the producer publishes
/// its position after every message (Release), the consumer its own after every message;
/// each caches the other's position until it must look again.
#[derive(Debug)]
pub struct RawRing {
    segment: Segment,
    slot: usize,
    slots: u64,
    own: u64,
    cached_other: u64,
    waits: u64,
}

impl RawRing {
    /// Creates a ring of `capacity` bytes of slots of `slot` bytes (the message length):
    /// as many slots as fit, rounded down to a power of two.
    pub fn create(name: &str, capacity: usize, slot: usize) -> Self {
        let slots = 1 << (capacity / slot).max(1).ilog2();
        Self {
            segment: create(name, RING_SLOTS + slots * slot),
            slot,
            slots: slots as u64,
            own: 0,
            cached_other: 0,
            waits: 0,
        }
    }

    /// Opens the ring `name` of slots of `slot` bytes.
    pub fn open(name: &str, slot: usize) -> Self {
        let segment = open(name);
        let slots = 1 << (((segment.len() - RING_SLOTS) / slot) as u64).ilog2();
        Self {
            segment,
            slot,
            slots,
            own: 0,
            cached_other: 0,
            waits: 0,
        }
    }

    fn slot_offset(&self, n: u64) -> usize {
        RING_SLOTS + (n & (self.slots - 1)) as usize * self.slot
    }
}

impl Send for RawRing {
    fn send(&mut self, message: &[u8]) {
        assert_eq!(
            message.len(),
            self.slot,
            "a raw ring carries fixed-size messages"
        );
        while self.own - self.cached_other >= self.slots {
            self.cached_other = word::<AtomicU64>(&self.segment, RING_HEAD).load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        let at = self.slot_offset(self.own);
        self.segment
            .region()
            .write(at, message)
            .expect("slot inside the ring");
        self.own += 1;
        word::<AtomicU64>(&self.segment, RING_TAIL).store(self.own, Ordering::Release);
    }
}

impl Recv for RawRing {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        if self.cached_other == self.own {
            let tail = word::<AtomicU64>(&self.segment, RING_TAIL);
            self.cached_other = tail.load(Ordering::Acquire);
            if self.cached_other == self.own {
                self.waits += 1;
                while self.cached_other == self.own {
                    std::hint::spin_loop();
                    self.cached_other = tail.load(Ordering::Acquire);
                }
            }
        }
        let at = self.slot_offset(self.own);
        let len = self.slot.min(buf.len());
        self.segment
            .region()
            .read(at, &mut buf[..len])
            .expect("slot inside the ring");
        self.own += 1;
        word::<AtomicU64>(&self.segment, RING_HEAD).store(self.own, Ordering::Release);
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
