//! The minimal byte ring with ipclane's SPSC layout: the header is the commit flag.

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane::segment::Segment;

use super::{create, open, word};
use crate::endpoint::{Recv, Send};

/// Offsets: the consumer's position, then the ring.
const HEAD: usize = 0;
const RING: usize = 128;

/// A byte ring laid out as ipclane's SPSC ring is (an 8-byte header `1 << 32 | len`
/// before each record, records 8-byte aligned, a zero header after the last one, the
/// header stored last with Release, the consumer's position stored after each read) with
/// none of its checks: no validation of what it reads, no liveness, no notification, no
/// prefetching. Records wrap by restarting at offset 0 when the rest of the ring is too
/// short (the producer writes a padding header there, as ipclane does). The producer
/// waits for room by reading the consumer's position when its cached copy says full.
#[derive(Debug)]
pub struct HeaderRing {
    segment: Segment,
    capacity: u64,
    /// Own position (the producer's tail, or the consumer's head).
    pos: u64,
    /// The producer's last read of the consumer's position.
    head: u64,
    waits: u64,
}

const DATA: u64 = 1 << 32;
const PAD: u64 = 2 << 32;

impl HeaderRing {
    /// Creates a ring of `capacity` bytes (a power of two).
    pub fn create(name: &str, capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        Self::on(create(name, RING + capacity))
    }

    /// Opens the ring `name`.
    pub fn open(name: &str) -> Self {
        Self::on(open(name))
    }

    fn on(segment: Segment) -> Self {
        // The segment may be longer than asked (whole pages): the ring is the largest
        // power of two that fits.
        let capacity = 1 << ((segment.len() - RING) as u64).ilog2();
        Self {
            segment,
            capacity,
            pos: 0,
            head: 0,
            waits: 0,
        }
    }

    fn header(&self, pos: u64) -> &AtomicU64 {
        word::<AtomicU64>(&self.segment, RING + (pos & (self.capacity - 1)) as usize)
    }
}

impl Send for HeaderRing {
    fn send(&mut self, message: &[u8]) {
        let total = 8 + (message.len() as u64).next_multiple_of(8);
        let contiguous = self.capacity - (self.pos & (self.capacity - 1));
        let pad = if contiguous < total { contiguous } else { 0 };
        let end = self.pos + pad + total;
        while end + 8 > self.head + self.capacity {
            self.head = word::<AtomicU64>(&self.segment, HEAD).load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        let start = self.pos + pad;
        let at = RING + (start & (self.capacity - 1)) as usize + 8;
        self.segment
            .region()
            .write(at, message)
            .expect("record inside the ring");
        self.header(end).store(0, Ordering::Relaxed);
        let header = DATA | message.len() as u64;
        if pad > 0 {
            self.header(start).store(header, Ordering::Relaxed);
            self.header(self.pos)
                .store(PAD | (pad - 8), Ordering::Release);
        } else {
            self.header(start).store(header, Ordering::Release);
        }
        self.pos = end;
    }
}

impl Recv for HeaderRing {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let mut header = self.header(self.pos).load(Ordering::Acquire);
        if header == 0 {
            self.waits += 1;
            while header == 0 {
                std::hint::spin_loop();
                header = self.header(self.pos).load(Ordering::Acquire);
            }
        }
        if header & PAD != 0 {
            self.pos += 8 + (header & 0xffff_ffff);
            header = self.header(self.pos).load(Ordering::Acquire);
        }
        let len = ((header & 0xffff_ffff) as usize).min(buf.len());
        let at = RING + (self.pos & (self.capacity - 1)) as usize + 8;
        self.segment
            .region()
            .read(at, &mut buf[..len])
            .expect("record inside the ring");
        self.pos += 8 + (len as u64).next_multiple_of(8);
        word::<AtomicU64>(&self.segment, HEAD).store(self.pos, Ordering::Release);
        len
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
