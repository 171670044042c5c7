//! Specific corruptions of the SPSC, MPMC and broadcast words, each reported as
//! `Corrupted`: not merely "some error", and never a read outside the ring. (The property
//! tests in model.rs throw random values at every word; these pin the checks one by one.)

use std::sync::atomic::{AtomicU64, Ordering};

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, HeapMemory, Memory, MpmcConsumer,
    MpmcProducer, MpmcQueue, Producer, QueueError, SpscRing,
};

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
        assert_eq!(rx.try_pop().unwrap(), &[7; 56][..]);
    }
    // 8 + 200 bytes from offset 960 end at 1168, past the 1024-byte ring.
    word(&memory, RING + 960).store(TAG_DATA << 32 | 200, Ordering::Release);
    assert!(is_corrupted(&rx.try_pop()));
    assert!(is_corrupted(&rx.try_read().map(|g| g.len())));
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

/// Offsets of the MPMC layout (docs/queue-layout.md), for `MpmcQueue::heap_memory(8, 32)`.
mod mpmc {
    pub(crate) const SLOTS: usize = 17408;
    pub(crate) const STRIDE: usize = 16 + 32;
    pub(crate) const fn seq(slot: usize) -> usize {
        SLOTS + slot * STRIDE
    }
    pub(crate) const fn len(slot: usize) -> usize {
        seq(slot) + 8
    }
}

/// A published MPMC slot whose length is over the slot size: `Corrupted`, and the slot is
/// still handed back, so the records behind it and the slot's next lap get through.
#[test]
fn an_mpmc_record_length_over_the_slot_is_corrupted_and_the_slot_reused() {
    let memory = MpmcQueue::heap_memory(8, 32).unwrap();
    let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
    tx.try_push(b"first").unwrap();
    tx.try_push(b"second").unwrap();
    word(&memory, mpmc::len(0)).store(33, Ordering::Relaxed);
    let result = rx.try_pop();
    assert!(is_corrupted(&result), "{result:?}");
    assert_eq!(rx.try_pop().unwrap(), &b"second"[..]);
    for i in 0..8u8 {
        tx.try_push(&[i; 32]).unwrap();
    }
    for i in 0..8u8 {
        assert_eq!(rx.try_pop().unwrap(), &[i; 32][..]);
    }
}

/// The same through a buffer shorter than the hostile length: `Corrupted` too, and the
/// queue moves on, rather than `BufferTooSmall` naming a length no producer wrote, on every
/// call, with the slot never passed.
#[test]
fn an_mpmc_record_length_over_the_slot_is_corrupted_into_a_short_buffer_too() {
    let memory = MpmcQueue::heap_memory(8, 32).unwrap();
    let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
    tx.try_push(b"first").unwrap();
    tx.try_push(b"second").unwrap();
    word(&memory, mpmc::len(0)).store(1 << 40, Ordering::Relaxed);
    let mut buf = [0u8; 8];
    let result = rx.try_pop_into(&mut buf);
    assert!(is_corrupted(&result), "{result:?}");
    assert_eq!(rx.try_pop_into(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"second");
}

/// A slot sequence ahead of the position, with the position not moving: no peer took the
/// position, so the sequence is a lie. Both sides report it instead of spinning.
#[test]
fn an_mpmc_slot_sequence_ahead_of_the_position_is_corrupted_for_both_sides() {
    let memory = MpmcQueue::heap_memory(8, 32).unwrap();
    let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
    // Position 0: a producer takes slot 0 at seq 0, a consumer at seq 1.
    word(&memory, mpmc::seq(0)).store(5, Ordering::Release);
    let popped = rx.try_pop();
    assert!(is_corrupted(&popped), "consumer: {popped:?}");
    word(&memory, mpmc::seq(0)).store(3, Ordering::Release);
    let pushed = tx.try_push(b"x");
    assert!(is_corrupted(&pushed), "producer: {pushed:?}");
}

/// Offsets of the broadcast layout (docs/queue-layout.md), for `Broadcast::heap_memory(4, 24)`.
mod broadcast {
    pub(crate) const HEAD: usize = 128;
    pub(crate) const WRITER_SIDE: usize = 256;
    pub(crate) const SLOTS: usize = 640;
    pub(crate) const STRIDE: usize = 16 + 24;
    pub(crate) const fn seq(slot: usize) -> usize {
        SLOTS + slot * STRIDE
    }
    pub(crate) const fn len(slot: usize) -> usize {
        seq(slot) + 8
    }
}

/// A writer position no writer reaches (2^62 and over) is corrupted for a reader and the
/// writer attaching, and for a reader already attached.
#[test]
fn a_broadcast_writer_position_out_of_range_is_corrupted() {
    let memory = Broadcast::heap_memory(4, 24).unwrap();
    let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
    word(&memory, broadcast::HEAD).store(1 << 62, Ordering::Release);
    let recv = reader.try_recv();
    assert!(is_corrupted(&recv), "attached reader: {recv:?}");
    let attached = BroadcastReader::attach(memory.clone()).map(|_| ());
    assert!(is_corrupted(&attached), "reader: {attached:?}");
    let writer = BroadcastWriter::attach(memory.clone()).map(|_| ());
    assert!(is_corrupted(&writer), "writer: {writer:?}");
}

/// A writer side marked free (0) once the reader saw it attached: a state no attached
/// writer goes back to, so a hostile or broken writer, not one yet to come. A blocking
/// receive, which would otherwise wait for that writer for ever, and the liveness check
/// report `Corrupted`.
#[test]
fn a_broadcast_writer_side_free_after_it_was_attached_is_corrupted() {
    let memory = Broadcast::heap_memory(4, 24).unwrap();
    let _writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
    word(&memory, broadcast::WRITER_SIDE).store(0, Ordering::Release);
    let recv = reader.recv_timeout(std::time::Duration::from_secs(30));
    assert!(is_corrupted(&recv), "blocking receive: {recv:?}");
    let alive = reader.is_writer_alive();
    assert!(is_corrupted(&alive), "liveness: {alive:?}");
    // A reader that never saw the writer attached may still wait for it.
    let mut early = BroadcastReader::attach(memory.clone()).unwrap();
    assert!(matches!(early.is_writer_alive(), Ok(true)));
    assert!(matches!(early.try_recv(), Err(QueueError::Empty)));
}

/// A writer position that went back, below what a reader already read.
#[test]
fn a_broadcast_writer_position_going_back_is_corrupted() {
    let memory = Broadcast::heap_memory(4, 24).unwrap();
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
    for r in [b"a", b"b", b"c"] {
        writer.write(r).unwrap();
    }
    assert_eq!(reader.try_recv().unwrap(), &b"a"[..]);
    assert_eq!(reader.try_recv().unwrap(), &b"b"[..]);
    word(&memory, broadcast::HEAD).store(1, Ordering::Release);
    let recv = reader.try_recv();
    assert!(is_corrupted(&recv), "{recv:?}");
}

/// Slot words of a published record that no writer leaves: a sequence behind the record
/// (the writer publishes the head only after the slot), and a length over the slot size
/// under a sequence that does not change (so not an overwrite in progress).
#[test]
fn broadcast_slot_words_no_writer_leaves_are_corrupted() {
    for (offset, value) in [(broadcast::seq(0), 0u64), (broadcast::len(0), 25)] {
        let memory = Broadcast::heap_memory(4, 24).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
        writer.write(b"record").unwrap();
        word(&memory, offset).store(value, Ordering::Release);
        let recv = reader.try_recv();
        assert!(is_corrupted(&recv), "word {offset} = {value}: {recv:?}");
        let latest = reader.latest();
        assert!(
            is_corrupted(&latest),
            "latest, word {offset} = {value}: {latest:?}"
        );
    }
}

/// Offset of the capacity word in the meta block every structure starts with.
const META_CAPACITY: usize = 16;

/// A ring whose meta block claims a shape the memory does not hold: a capacity that is
/// not a power of two, or one larger than the memory behind it. Attaching refuses it
/// with a `Layout` error; nothing reads past the memory.
#[test]
fn an_spsc_capacity_the_memory_does_not_hold_is_refused_at_attach() {
    for (capacity, claimed) in [(512, 384), (512, 768), (512, 1024), (512, 1 << 40)] {
        let memory = std::sync::Arc::new(HeapMemory::new(SpscRing::required_len(capacity)));
        SpscRing::init(&*memory, capacity).unwrap();
        word(&memory, META_CAPACITY).store(claimed, Ordering::Relaxed);
        for attached in [
            Producer::attach(memory.clone()).map(|_| ()),
            Consumer::attach(memory.clone()).map(|_| ()),
        ] {
            assert!(
                matches!(attached, Err(QueueError::Layout { .. })),
                "a {capacity}-byte ring claiming {claimed}: {attached:?}"
            );
        }
    }
}

/// A consumer position no consumer writes, found when a handle attaches: not 8-aligned,
/// or at 2^62 and over. Both sides refuse to attach, and leave their side closed.
#[test]
fn a_hostile_consumer_position_is_corrupted_at_attach() {
    for head in [67, 1 << 62, !7] {
        let memory = std::sync::Arc::new(HeapMemory::new(SpscRing::required_len(CAPACITY)));
        SpscRing::init(&*memory, CAPACITY).unwrap();
        word(&memory, HEAD).store(head, Ordering::Release);
        let producer = Producer::attach(memory.clone()).map(|_| ());
        assert!(
            is_corrupted(&producer),
            "producer, position {head}: {producer:?}"
        );
        let consumer = Consumer::attach(memory.clone()).map(|_| ());
        assert!(
            is_corrupted(&consumer),
            "consumer, position {head}: {consumer:?}"
        );
    }
}

/// Record tag: padding to the end of the ring.
const TAG_PAD: u64 = 2;

/// Padding of the wrong length for its offset (it must fill the ring to its end exactly).
#[test]
fn padding_that_does_not_end_at_the_ring_end_is_corrupted() {
    for len in [0, 8, 48, 64] {
        let (mut tx, mut rx, memory) = ring();
        for _ in 0..15 {
            tx.try_push(&[7; 56]).unwrap();
            assert_eq!(rx.try_pop().unwrap(), &[7; 56][..]);
        }
        // At ring offset 960, padding is 8 + 56 bytes; these are not.
        word(&memory, RING + 960).store(TAG_PAD << 32 | len, Ordering::Release);
        let popped = rx.try_pop();
        assert!(is_corrupted(&popped), "padding of {len} at 960: {popped:?}");
    }
}

/// A header, well formed in itself, whose record ends where the producer may not have
/// written: the consumer read (staged) almost a ring of records without releasing them,
/// so the producer cannot have written a record ending past its released position plus
/// the ring less a header word. Data or padding, it is corrupted, not a stale record.
#[test]
fn a_record_past_what_the_producer_may_write_is_corrupted() {
    for header in [TAG_DATA << 32 | 56, TAG_PAD << 32 | 56] {
        let (mut tx, mut rx, memory) = ring();
        for _ in 0..15 {
            tx.try_push(&[7; 56]).unwrap();
        }
        for _ in 0..15 {
            rx.try_read().unwrap().stage(); // read, not released
        }
        word(&memory, RING + 960).store(header, Ordering::Release);
        // Nothing after it: accepted padding would lead to an empty ring, not an error.
        word(&memory, RING).store(0, Ordering::Release);
        let popped = rx.try_pop();
        assert!(
            is_corrupted(&popped),
            "header {header:#x} at 960: {popped:?}"
        );
    }
}

/// Offset of the slot size word in the meta block.
const META_SLOT_SIZE: usize = 24;

/// A broadcast meta block claiming a shape no writer makes, or one the memory does not
/// hold: attaching refuses it with a `Layout` error.
#[test]
fn a_broadcast_shape_the_memory_does_not_hold_is_refused_at_attach() {
    for (capacity, slot_size) in [(3, 24), (1, 24), (0, 24), (4, 0), (4, 12), (8, 24), (4, 32)] {
        let memory = Broadcast::heap_memory(4, 24).unwrap();
        word(&memory, META_CAPACITY).store(capacity, Ordering::Relaxed);
        word(&memory, META_SLOT_SIZE).store(slot_size, Ordering::Relaxed);
        for attached in [
            BroadcastReader::attach(memory.clone()).map(|_| ()),
            BroadcastWriter::attach(memory.clone()).map(|_| ()),
        ] {
            assert!(
                matches!(attached, Err(QueueError::Layout { .. })),
                "{capacity} slots of {slot_size} bytes in a ring made for 4 of 24: {attached:?}"
            );
        }
    }
}

/// `init` writes an empty ring whatever the memory held before: every slot's words are
/// zero afterwards, and a reader finds nothing until the writer writes.
#[test]
fn broadcast_init_empties_memory_that_held_anything() {
    let len = Broadcast::required_len(4, 24);
    let memory = HeapMemory::new(len);
    for offset in (0..len).step_by(8) {
        word(&memory, offset).store(u64::MAX, Ordering::Relaxed);
    }
    Broadcast::init(&memory, 4, 24).unwrap();
    for offset in (512..len).step_by(8) {
        assert_eq!(
            word(&memory, offset).load(Ordering::Relaxed),
            0,
            "lease or slot word at {offset}"
        );
    }
    let memory = std::sync::Arc::new(memory);
    let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
    assert!(matches!(reader.try_recv(), Err(QueueError::Empty)));
    let mut writer = BroadcastWriter::attach(memory).unwrap();
    assert_eq!(writer.max_record_len(), 24);
    assert!(matches!(
        writer.write(&[0; 25]),
        Err(QueueError::TooLarge { len: 25, max: 24 })
    ));
    writer.write(&[5; 24]).unwrap();
    assert_eq!(reader.try_recv().unwrap(), &[5; 24][..]);
}
