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
/// copies the record (as atomic words), stores `2n + 2` (Release) and then `head = n + 1`
/// (Release); a reader waits for `head > n`, copies the slot between two reads of its
/// sequence and keeps the copy only if both were `2n + 2`.
#[derive(Debug)]
pub struct RawSeqlock {
    segment: Segment,
    capacity: u64,
    stride: usize,
    next: u64,
    waits: u64,
}

impl RawSeqlock {
    /// Creates a ring of `capacity` slots (a power of two) of `slot_size` bytes.
    pub fn create(name: &str, capacity: usize, slot_size: usize) -> Self {
        assert!(capacity.is_power_of_two(), "{capacity} slots");
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

    /// The words of the slot of record `n`: its sequence, its length, then its payload,
    /// all reached as atomic words, as ipclane's are (a seqlock's reader races the writer
    /// by design, and only atomic accesses make that race defined); one bounds check.
    fn slot(&self, n: u64) -> &[AtomicU64] {
        let at = SLOTS + (n & (self.capacity - 1)) as usize * self.stride;
        self.segment
            .region()
            .atomics::<AtomicU64>(at, self.stride / 8)
            .expect("a slot inside the ring")
    }
}

impl Send for RawSeqlock {
    fn send(&mut self, message: &[u8]) {
        let n = self.next;
        let slot = self.slot(n);
        let (seq, len, payload) = (&slot[0], &slot[1], &slot[2..]);
        seq.store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        len.store(message.len() as u64, Ordering::Relaxed);
        let chunks = message.chunks_exact(8);
        let tail = chunks.remainder();
        for (word, chunk) in payload.iter().zip(chunks) {
            let bytes = chunk.try_into().expect("chunks of 8 bytes");
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        if !tail.is_empty() {
            let mut last = [0u8; 8];
            last[..tail.len()].copy_from_slice(tail);
            payload[message.len() / 8].store(u64::from_ne_bytes(last), Ordering::Relaxed);
        }
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
        let slot = self.slot(n);
        let (seq, payload) = (&slot[0], &slot[2..]);
        let before = seq.load(Ordering::Acquire);
        let len = (slot[1].load(Ordering::Relaxed) as usize).min(buf.len());
        let mut chunks = buf[..len].chunks_exact_mut(8);
        for (word, chunk) in payload.iter().zip(&mut chunks) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let last = payload[len / 8].load(Ordering::Relaxed).to_ne_bytes();
            tail.copy_from_slice(&last[..tail.len()]);
        }
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
