//! A minimal bounded MPMC queue (the classic sequence-per-slot design, as ipclane's MPMC
//! queue uses, without its liveness, repair and validation).

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offsets: the enqueue position, the dequeue position, then the slots.
const ENQUEUE: usize = 0;
const DEQUEUE: usize = 128;
const SLOTS: usize = 256;
/// A slot's sequence and length words before its payload.
const SLOT_HEADER: usize = 16;

/// One end of the queue: slot `i` starts with sequence `i`; a producer at position `p`
/// takes the slot when its sequence is `p` (compare-exchange on the enqueue position),
/// writes it and stores `p + 1` (Release); a consumer at `p` takes it at `p + 1`, reads it
/// and stores `p + capacity`. Both spin while full or empty.
#[derive(Debug)]
pub struct RawMpmc {
    segment: Segment,
    capacity: u64,
    stride: usize,
    waits: u64,
}

impl RawMpmc {
    /// Creates a queue of `capacity` slots (a power of two) of `slot_size` bytes.
    pub fn create(name: &str, capacity: usize, slot_size: usize) -> Self {
        assert!(capacity.is_power_of_two(), "{capacity} slots");
        let stride = SLOT_HEADER + slot_size.next_multiple_of(8);
        let segment = create(name, SLOTS + capacity * stride);
        for i in 0..capacity {
            word::<AtomicU64>(&segment, SLOTS + i * stride).store(i as u64, Ordering::Relaxed);
        }
        Self {
            segment,
            capacity: capacity as u64,
            stride,
            waits: 0,
        }
    }

    /// Opens the queue `name` of `capacity` slots of `slot_size` bytes.
    pub fn open(name: &str, capacity: usize, slot_size: usize) -> Self {
        Self {
            segment: open(name),
            capacity: capacity as u64,
            stride: SLOT_HEADER + slot_size.next_multiple_of(8),
            waits: 0,
        }
    }

    fn slot(&self, pos: u64) -> usize {
        SLOTS + (pos & (self.capacity - 1)) as usize * self.stride
    }

    /// Takes the position whose slot's sequence is `pos + ready` (0 to write, 1 to read),
    /// spinning while there is none; returns the position.
    fn take(&mut self, position: usize, ready: u64) -> u64 {
        let counter = word::<AtomicU64>(&self.segment, position);
        let mut pos = counter.load(Ordering::Relaxed);
        let mut waited = false;
        loop {
            let seq = word::<AtomicU64>(&self.segment, self.slot(pos)).load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos + ready) as i64;
            if diff == 0 {
                match counter.compare_exchange_weak(
                    pos,
                    pos + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return pos,
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                if !std::mem::replace(&mut waited, true) {
                    self.waits += 1;
                }
                std::hint::spin_loop();
                pos = counter.load(Ordering::Relaxed);
            } else {
                pos = counter.load(Ordering::Relaxed);
            }
        }
    }
}

impl Send for RawMpmc {
    fn send(&mut self, message: &[u8]) {
        let pos = self.take(ENQUEUE, 0);
        let at = self.slot(pos);
        self.segment
            .region()
            .write(at + SLOT_HEADER, message)
            .expect("the message fits its slot");
        word::<AtomicU64>(&self.segment, at + 8).store(message.len() as u64, Ordering::Relaxed);
        word::<AtomicU64>(&self.segment, at).store(pos + 1, Ordering::Release);
    }
}

impl Recv for RawMpmc {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let pos = self.take(DEQUEUE, 1);
        let at = self.slot(pos);
        let len = (word::<AtomicU64>(&self.segment, at + 8).load(Ordering::Relaxed) as usize)
            .min(buf.len());
        self.segment
            .region()
            .read(at + SLOT_HEADER, &mut buf[..len])
            .expect("the message fits its slot");
        word::<AtomicU64>(&self.segment, at).store(pos + self.capacity, Ordering::Release);
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
