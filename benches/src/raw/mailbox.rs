//! The spinning single-slot mailbox.

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offset of the payload: right after the count and length words, so a message of up to
/// 48 bytes shares their cache line and crosses with them in one transfer, as an SPSC
/// record shares the line of its header (with the payload on a line of its own, the
/// mailbox paid two transfers per small message and ran slower than the ring it is the
/// floor of).
const PAYLOAD: usize = 16;

/// A single-slot mailbox, both sides spinning: word 0 counts messages (Release after the
/// payload), word 8 holds the length, the payload follows at 16. For ping-pong only: the
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
            segment: create(name, PAYLOAD + max_len),
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
        region.write(PAYLOAD, message).expect("the payload fits");
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
            .read(PAYLOAD, &mut buf[..len])
            .expect("the payload fits");
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
