//! Specific corruptions, each reported as `Corrupted`: not merely "some error", and never
//! a read outside the ring. (The property tests in model.rs throw random values at every
//! word; these pin the checks one by one.)

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane_queue::{Consumer, HeapMemory, Memory, Producer, QueueError, SpscRing};

/// Offsets of the SPSC layout (docs/queue-layout.md).
const HEAD: usize = 128;
const RING: usize = 896;
const CAPACITY: usize = 1024;
const TAG_DATA: u64 = 1;

fn ring() -> (
    Producer<HeapMemory>,
    Consumer<HeapMemory>,
    std::sync::Arc<HeapMemory>,
) {
    let memory = std::sync::Arc::new(HeapMemory::new(SpscRing::required_len(CAPACITY)));
    SpscRing::init(&*memory, CAPACITY).unwrap();
    let tx = Producer::attach(memory.clone()).unwrap();
    let rx = Consumer::attach(memory.clone()).unwrap();
    (tx, rx, memory)
}

fn word(memory: &HeapMemory, offset: usize) -> &AtomicU64 {
    assert!(offset + 8 <= memory.len() && offset.is_multiple_of(8));
    // SAFETY: in bounds and 8-aligned (asserted, the allocation is 128-aligned); the
    // queue accesses these words atomically; the borrow keeps the memory alive.
    unsafe { AtomicU64::from_ptr(memory.as_ptr().as_ptr().add(offset).cast()) }
}

fn is_corrupted<T>(result: &Result<T, QueueError>) -> bool {
    matches!(result, Err(QueueError::Corrupted { .. }))
}

/// A record header whose record would run past the end of the ring, although it is
/// within the largest record and within what the producer may have written: only the
/// bounds check stands between it and a read past the ring.
#[test]
fn a_record_running_past_the_ring_end_is_corrupted() {
    let (mut tx, mut rx, memory) = ring();
    // Move both sides to ring offset 960 (15 records of 8 + 56 bytes).
    for _ in 0..15 {
        tx.try_push(&[7; 56]).unwrap();
        assert_eq!(rx.try_pop().unwrap(), [7; 56]);
    }
    // 8 + 200 bytes from offset 960 end at 1168, past the 1024-byte ring.
    word(&memory, RING + 960).store(TAG_DATA << 32 | 200, Ordering::Release);
    assert!(is_corrupted(&rx.try_pop()));
    assert!(is_corrupted(&rx.read().map(|g| g.len())));
}

/// Lengths a correct producer never writes, at the consumer's position.
#[test]
fn impossible_record_headers_are_corrupted() {
    for header in [
        TAG_DATA << 32 | 449,         // over the largest record of a 1 KiB ring (448)
        TAG_DATA << 32 | 0xffff_ffff, // over everything
        2 << 32 | 1024,               // padding at offset 0
        3 << 32 | 8,                  // an unknown tag
        u64::MAX,
    ] {
        let (_tx, mut rx, memory) = ring();
        word(&memory, RING).store(header, Ordering::Release);
        assert!(is_corrupted(&rx.try_pop()), "header {header:#x}");
    }
}

/// The producer's view of a hostile consumer: a consumer position that went backwards,
/// ran ahead of what was published, or is not 8-aligned.
#[test]
fn a_hostile_consumer_position_is_corrupted_for_the_producer() {
    for head in [8u64, 1 << 20, 67, u64::MAX] {
        let (mut tx, mut rx, memory) = ring();
        for _ in 0..4 {
            tx.try_push(&[1; 56]).unwrap();
        }
        for _ in 0..2 {
            rx.try_pop().unwrap();
        }
        // Fill the ring, so the producer must read the consumer's position again.
        while tx.try_push(&[2; 56]).is_ok() {}
        word(&memory, HEAD).store(head, Ordering::Release);
        let result = tx.try_push(&[3; 56]);
        assert!(
            is_corrupted(&result),
            "consumer position {head}: {result:?}"
        );
        drop(rx);
    }
}
