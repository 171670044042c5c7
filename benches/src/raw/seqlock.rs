//! A minimal broadcast ring: a sequence lock per slot (as ipclane's broadcast ring uses,
//! without its validation and liveness), the writer never waiting for readers.

use std::sync::atomic::{AtomicU64, Ordering, fence};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offsets: the number of records written, then the slots.
const HEAD: usize = 0;
const SLOTS: usize = 128;
/// A slot's sequence and length words before its payload.
const SLOT_HEADER: usize = 16;

/// One end of the ring: the writer of record `n` stores `2n + 1` in its slot's sequence,
/// copies the record, stores `2n + 2` (Release) and then `head = n + 1` (Release); a
/// reader waits for `head > n`, copies the slot between two reads of its sequence and
/// keeps the copy only if both were `2n + 2`.
#[derive(Debug)]
pub struct RawSeqlock {
    segment: Segment,
    capacity: u64,
    stride: usize,
    next: u64,
    waits: u64,
}

impl RawSeqlock {
    /// Creates a ring of `capacity` slots of `slot_size` bytes.
    pub fn create(name: &str, capacity: usize, slot_size: usize) -> Self {
        let stride = SLOT_HEADER + slot_size.next_multiple_of(8);
        Self::on(create(name, SLOTS + capacity * stride), capacity, stride)
    }

    /// Opens the ring `name` of `capacity` slots of `slot_size` bytes.
    pub fn open(name: &str, capacity: usize, slot_size: usize) -> Self {
        Self::on(
            open(name),
            capacity,
            SLOT_HEADER + slot_size.next_multiple_of(8),
        )
    }

    fn on(segment: Segment, capacity: usize, stride: usize) -> Self {
        Self {
            segment,
            capacity: capacity as u64,
            stride,
            next: 0,
            waits: 0,
        }
    }

    fn slot(&self, n: u64) -> usize {
        SLOTS + (n % self.capacity) as usize * self.stride
    }
}

impl Send for RawSeqlock {
    fn send(&mut self, message: &[u8]) {
        let n = self.next;
        let at = self.slot(n);
        let seq = word::<AtomicU64>(&self.segment, at);
        seq.store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        word::<AtomicU64>(&self.segment, at + 8).store(message.len() as u64, Ordering::Relaxed);
        self.segment
            .region()
            .write(at + SLOT_HEADER, message)
            .expect("the record fits its slot");
        seq.store(2 * n + 2, Ordering::Release);
        self.next = n + 1;
        word::<AtomicU64>(&self.segment, HEAD).store(self.next, Ordering::Release);
    }
}

impl Recv for RawSeqlock {
    /// # Panics
    ///
    /// When the record was overwritten (the reader lagged a whole ring): the rows that
    /// use it never let the writer run that far ahead.
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let n = self.next;
        let head = word::<AtomicU64>(&self.segment, HEAD);
        if head.load(Ordering::Acquire) <= n {
            self.waits += 1;
            while head.load(Ordering::Acquire) <= n {
                std::hint::spin_loop();
            }
        }
        let at = self.slot(n);
        let seq = word::<AtomicU64>(&self.segment, at);
        let before = seq.load(Ordering::Acquire);
        let len = (word::<AtomicU64>(&self.segment, at + 8).load(Ordering::Relaxed) as usize)
            .min(buf.len());
        self.segment
            .region()
            .read(at + SLOT_HEADER, &mut buf[..len])
            .expect("the record fits its slot");
        fence(Ordering::Acquire);
        let after = seq.load(Ordering::Relaxed);
        assert!(
            before == 2 * n + 2 && after == before,
            "raw broadcast record {n} overwritten while read"
        );
        self.next = n + 1;
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
