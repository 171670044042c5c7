//! The single-slot mailbox whose receiver sleeps on a futex.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offset of the payload, on a line of its own after the count, length and read words.
const MAILBOX_PAYLOAD: usize = 128;

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
