//! One live handle per side: on heap memory, where no liveness claim exists, the side's
//! state word alone refuses a second producer, consumer or writer; a closed side can be
//! taken again. (Between processes, the segment's claims do the same:
//! `cross_process.rs`.)

use std::sync::Arc;

use ipclane_queue::{
    Broadcast, BroadcastWriter, Consumer, HeapMemory, Memory, MpmcConsumer, MpmcProducer,
    MpmcQueue, Producer, QueueError, SpscRing,
};

fn spsc() -> Arc<HeapMemory> {
    let memory = Arc::new(HeapMemory::new(SpscRing::required_len(1024)));
    SpscRing::init(&*memory, 1024).unwrap();
    memory
}

fn refused<T: std::fmt::Debug>(result: Result<T, QueueError>, side: &str) {
    match result {
        Err(QueueError::AlreadyClaimed { side: s }) => assert_eq!(s, side),
        other => panic!("a second {side} was not refused: {other:?}"),
    }
}

#[test]
fn a_second_spsc_producer_is_refused_until_the_first_is_dropped() {
    let memory = spsc();
    let first = Producer::attach(memory.clone()).unwrap();
    refused(Producer::attach(memory.clone()), "producer");
    drop(first);
    let _ = Producer::attach(memory).expect("the producer side was closed");
}

#[test]
fn a_second_spsc_consumer_is_refused_until_the_first_is_dropped() {
    let memory = spsc();
    let first = Consumer::attach(memory.clone()).unwrap();
    refused(Consumer::attach(memory.clone()), "consumer");
    drop(first);
    let _ = Consumer::attach(memory).expect("the consumer side was closed");
}

#[test]
fn a_second_broadcast_writer_is_refused_until_the_first_is_dropped() {
    let memory = Broadcast::heap_memory(4, 24).unwrap();
    let first = BroadcastWriter::attach(memory.clone()).unwrap();
    refused(BroadcastWriter::attach(memory.clone()), "writer");
    drop(first);
    let _ = BroadcastWriter::attach(memory).expect("the writer side was closed");
}

/// The liveness claims of the MPMC layout (docs/queue-layout.md): producers hold
/// 65536..65600 and consumers 65600..65664, the first free index of their role. Another
/// build of the crate reads these numbers to tell which peers live, so they are part of
/// the layout, not a detail.
#[test]
fn mpmc_handles_hold_the_claims_the_layout_names() {
    let name = ipclane_testkit::ShmName::new("attach-claims");
    let segment = Arc::new(MpmcQueue::create_named(&name.0, 4, 16).unwrap());
    let observer = ipclane_segment::Segment::named(&name.0)
        .kind(MpmcQueue::KIND)
        .open()
        .unwrap();
    let claimed = |index| observer.is_claimed(index).unwrap();
    let _first = MpmcProducer::attach(segment.clone()).unwrap();
    let _second = MpmcProducer::attach(segment.clone()).unwrap();
    let _consumer = MpmcConsumer::attach(segment).unwrap();
    let held: Vec<u32> = [0, 1, 64, 65535, 65536, 65537, 65538, 65600, 65601]
        .into_iter()
        .filter(|&i| claimed(i))
        .collect();
    assert_eq!(held, [65536, 65537, 65600]);
}

/// A segment tells the liveness of 64 producers and 64 consumers; the 65th live handle
/// of a role is refused, naming the role, and a dropped handle's place is taken again.
#[test]
fn a_65th_live_mpmc_handle_of_a_role_is_refused_naming_it() {
    let name = ipclane_testkit::ShmName::new("attach-65");
    let segment = Arc::new(MpmcQueue::create_named(&name.0, 4, 16).unwrap());
    let mut producers: Vec<_> = (0..64)
        .map(|_| MpmcProducer::attach(segment.clone()).unwrap())
        .collect();
    let consumers: Vec<_> = (0..64)
        .map(|_| MpmcConsumer::attach(segment.clone()).unwrap())
        .collect();
    refused(MpmcProducer::attach(segment.clone()), "producer");
    refused(MpmcConsumer::attach(segment.clone()), "consumer");
    producers.pop();
    let _ = MpmcProducer::attach(segment).expect("a dropped producer's place");
    drop(consumers);
}

/// Each side sees the other alive while it is attached and gone once it is dropped.
#[test]
fn each_spsc_side_sees_the_other_alive_until_it_is_dropped() {
    let memory = spsc();
    let tx = Producer::attach(memory.clone()).unwrap();
    let rx = Consumer::attach(memory.clone()).unwrap();
    assert!(rx.is_producer_alive().unwrap());
    assert!(tx.is_consumer_alive().unwrap());
    drop(tx);
    assert!(!rx.is_producer_alive().unwrap());
    let tx = Producer::attach(memory).unwrap();
    drop(rx);
    assert!(!tx.is_consumer_alive().unwrap());
}

/// Write and read guards describe the record they hold: its length, whether it is empty,
/// and a pointer into the ring's memory.
#[test]
fn guards_describe_their_records() {
    let memory = spsc();
    let mut tx = Producer::attach(memory.clone()).unwrap();
    let mut rx = Consumer::attach(memory.clone()).unwrap();
    let ring = memory.as_ptr().as_ptr() as usize..memory.as_ptr().as_ptr() as usize + memory.len();
    let guard = tx.try_reserve(0).unwrap();
    assert!(guard.is_empty());
    assert_eq!(guard.len(), 0);
    guard.commit();
    let mut guard = tx.try_reserve(3).unwrap();
    assert!(!guard.is_empty() && guard.len() == 3);
    let at = guard.as_mut_ptr() as usize;
    assert!(ring.contains(&at), "{at:#x} outside {ring:x?}");
    guard.write_at(0, b"abc").unwrap();
    guard.commit();
    let guard = rx.try_read().unwrap();
    assert!(guard.is_empty());
    assert_eq!(guard.len(), 0);
    guard.release();
    let guard = rx.try_read().unwrap();
    assert!(!guard.is_empty() && guard.len() == 3);
    assert!(
        ring.contains(&(guard.as_ptr() as usize)),
        "{:?} outside {ring:?}",
        guard.as_ptr()
    );
    assert_eq!(guard.to_vec(), b"abc");
}
