//! The raw baselines: the least a shared-memory transport can do, written plainly on a
//! segment's region, to put each ipclane row beside the machine's own limit. They do the
//! same work per message as ipclane (the drivers of [`endpoint`](crate::endpoint) stamp
//! and check every byte) and nothing else: no validation, no liveness, no wake-up unless
//! the row is about wake-ups.
//!
//! Each lives in a named segment of its own, which the measuring process creates and its
//! peer opens.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipclane::segment::Segment;

use crate::endpoint::{Recv, Send};

/// Offset of the payload in a mailbox (the words before it share no line with it).
const MAILBOX_PAYLOAD: usize = 128;

fn create(name: &str, len: usize) -> Segment {
    Segment::named(name)
        .size(len)
        .create()
        .unwrap_or_else(|e| panic!("create raw baseline segment {name}: {e}"))
}

fn open(name: &str) -> Segment {
    Segment::named(name)
        .open()
        .unwrap_or_else(|e| panic!("open raw baseline segment {name}: {e}"))
}

fn word<A: ipclane::segment::SharedAtomic>(segment: &Segment, offset: usize) -> &A {
    segment
        .region()
        .atomic::<A>(offset)
        .expect("a word inside the baseline's segment")
}

/// A single-slot mailbox, both sides spinning: word 0 counts messages (Release after the
/// payload), word 8 holds the length, the payload follows at 128. For ping-pong only: the
/// sender does not wait for the slot to be read (the echo proves it).
#[derive(Debug)]
pub struct Mailbox {
    segment: Segment,
    seen: u64,
    waits: u64,
}

impl Mailbox {
    /// Creates a mailbox for messages of up to `max_len` bytes.
    pub fn create(name: &str, max_len: usize) -> Self {
        Self {
            segment: create(name, MAILBOX_PAYLOAD + max_len),
            seen: 0,
            waits: 0,
        }
    }

    /// Opens the mailbox `name`.
    pub fn open(name: &str) -> Self {
        Self {
            segment: open(name),
            seen: 0,
            waits: 0,
        }
    }
}

impl Send for Mailbox {
    fn send(&mut self, message: &[u8]) {
        let region = self.segment.region();
        region
            .write(MAILBOX_PAYLOAD, message)
            .expect("the payload fits");
        word::<AtomicU64>(&self.segment, 8).store(message.len() as u64, Ordering::Relaxed);
        self.seen += 1;
        word::<AtomicU64>(&self.segment, 0).store(self.seen, Ordering::Release);
    }
}

impl Recv for Mailbox {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let count = word::<AtomicU64>(&self.segment, 0);
        if count.load(Ordering::Acquire) == self.seen {
            self.waits += 1;
            while count.load(Ordering::Acquire) == self.seen {
                std::hint::spin_loop();
            }
        }
        self.seen += 1;
        let len = word::<AtomicU64>(&self.segment, 8).load(Ordering::Relaxed) as usize;
        let len = len.min(buf.len());
        self.segment
            .region()
            .read(MAILBOX_PAYLOAD, &mut buf[..len])
            .expect("the payload fits");
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}

/// A single-slot mailbox whose receiver sleeps on a futex: word 0 (u32) counts messages
/// and is the futex, word 8 the length, word 16 the count the receiver has read, the
/// payload at 128. The sender wakes the receiver after every message (the wake-up row's
/// receiver is always asleep by then), and before writing the slot again it waits (by
/// yielding) until the receiver has read the last message, so a receiver that wakes late
/// loses nothing.
#[derive(Debug)]
pub struct FutexMailbox {
    segment: Segment,
    seen: u32,
    waits: u64,
}

impl FutexMailbox {
    /// Creates a mailbox for messages of up to `max_len` bytes.
    pub fn create(name: &str, max_len: usize) -> Self {
        Self {
            segment: create(name, MAILBOX_PAYLOAD + max_len),
            seen: 0,
            waits: 0,
        }
    }

    /// Opens the mailbox `name`.
    pub fn open(name: &str) -> Self {
        Self {
            segment: open(name),
            seen: 0,
            waits: 0,
        }
    }
}

impl Send for FutexMailbox {
    fn send(&mut self, message: &[u8]) {
        let read = word::<AtomicU64>(&self.segment, 16);
        while read.load(Ordering::Acquire) != u64::from(self.seen) {
            std::thread::yield_now();
        }
        self.segment
            .region()
            .write(MAILBOX_PAYLOAD, message)
            .expect("the payload fits");
        word::<AtomicU64>(&self.segment, 8).store(message.len() as u64, Ordering::Relaxed);
        self.seen = self.seen.wrapping_add(1);
        let count = word::<AtomicU32>(&self.segment, 0);
        count.store(self.seen, Ordering::Release);
        let _ = rustix::thread::futex::wake(count, rustix::thread::futex::Flags::empty(), 1);
    }
}

impl Recv for FutexMailbox {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let count = word::<AtomicU32>(&self.segment, 0);
        loop {
            let now = count.load(Ordering::Acquire);
            if now != self.seen {
                break;
            }
            self.waits += 1;
            let _ = rustix::thread::futex::wait(
                count,
                rustix::thread::futex::Flags::empty(),
                now,
                None,
            );
        }
        self.seen = self.seen.wrapping_add(1);
        let len =
            (word::<AtomicU64>(&self.segment, 8).load(Ordering::Relaxed) as usize).min(buf.len());
        self.segment
            .region()
            .read(MAILBOX_PAYLOAD, &mut buf[..len])
            .expect("the payload fits");
        word::<AtomicU64>(&self.segment, 16).store(u64::from(self.seen), Ordering::Release);
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}

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
    /// Creates a ring of `capacity` bytes of slots of `slot` bytes (the message length).
    pub fn create(name: &str, capacity: usize, slot: usize) -> Self {
        let slots = (capacity / slot).max(1);
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
        let slots = ((segment.len() - RING_SLOTS) / slot) as u64;
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
        RING_SLOTS + (n % self.slots) as usize * self.slot
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
