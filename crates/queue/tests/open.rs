//! Opening a structure by name or descriptor with the structure's own calls: no `KIND`
//! to know, no direct dependency on ipclane-segment, and the wrong structure refused.

use std::os::fd::AsFd;
use std::sync::Arc;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, QueueError, Segment, SegmentError, SpscRing,
};
use ipclane_testkit::unique;

fn incompatible(result: Result<Segment, QueueError>, what: &str) {
    match result {
        Err(QueueError::Segment(SegmentError::Incompatible { .. })) => {}
        other => panic!("{what}: expected Incompatible, got {other:?}"),
    }
}

#[test]
fn each_structure_opens_its_own_named_segments_and_refuses_the_others() {
    let name = unique("open-spsc");
    let created = SpscRing::create_named(&name, 4096).unwrap();
    let mut tx = Producer::attach(Arc::new(created)).unwrap();
    let mut rx = Consumer::attach(Arc::new(SpscRing::open_named(&name).unwrap())).unwrap();
    tx.try_push(b"hello").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"hello"[..]);
    incompatible(
        MpmcQueue::open_named(&name),
        "an SPSC ring opened as an MPMC queue",
    );
    incompatible(
        Broadcast::open_named(&name),
        "an SPSC ring opened as a broadcast ring",
    );

    let name = unique("open-mpmc");
    let _created = MpmcQueue::create_named(&name, 8, 32).unwrap();
    let opened = Arc::new(MpmcQueue::open_named(&name).unwrap());
    assert!(MpmcConsumer::attach(opened).is_ok());
    incompatible(
        SpscRing::open_named(&name),
        "an MPMC queue opened as an SPSC ring",
    );

    let name = unique("open-broadcast");
    let _created = Broadcast::create_named(&name, 8, 32).unwrap();
    let reader: BroadcastReader<Segment> =
        BroadcastReader::attach(Arc::new(Broadcast::open_named(&name).unwrap())).unwrap();
    assert_eq!(reader.position(), 0);
    incompatible(
        MpmcQueue::open_named(&name),
        "a broadcast ring opened as an MPMC queue",
    );
}

#[test]
fn a_memfd_opens_from_its_descriptor_as_its_own_structure_only() {
    let created = MpmcQueue::create_memfd(8, 32).unwrap();
    let fd = || created.as_fd().try_clone_to_owned().unwrap();
    let opened: MpmcConsumer<Segment> =
        MpmcConsumer::attach(Arc::new(MpmcQueue::open_fd(fd()).unwrap())).unwrap();
    drop(opened);
    incompatible(
        SpscRing::open_fd(fd()),
        "an MPMC memfd opened as an SPSC ring",
    );
}

#[test]
fn the_into_calls_time_out_like_the_others() {
    let short = std::time::Duration::from_millis(20);
    let queue = MpmcQueue::heap_memory(4, 16).unwrap();
    let (_tx, mut rx) = (
        MpmcProducer::attach(queue.clone()).unwrap(),
        MpmcConsumer::attach(queue).unwrap(),
    );
    let mut buf = [0u8; 16];
    assert!(matches!(
        rx.pop_into_timeout(&mut buf, short),
        Err(QueueError::Timeout)
    ));
    let ring = Broadcast::heap_memory(4, 16).unwrap();
    let (_writer, mut reader) = (
        BroadcastWriter::attach(ring.clone()).unwrap(),
        BroadcastReader::attach(ring).unwrap(),
    );
    assert!(matches!(
        reader.recv_into_timeout(&mut buf, short),
        Err(QueueError::Timeout)
    ));
}
