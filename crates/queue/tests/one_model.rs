//! Every structure is made, opened and waited on the same way (issue 10): a `heap` pair,
//! memory constructors that create nothing for bad parameters, `attach` on every role,
//! more handles from an existing one, and timeouts of any length.

use std::sync::Arc;
use std::time::Duration;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, QueueError, SpscRing,
};

/// The file a named segment `name` lives in.
fn shm_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/dev/shm").join(format!("ipclane.{name}"))
}

#[test]
fn each_heap_constructor_returns_a_connected_pair() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    tx.try_push(b"spsc").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"spsc"[..]);

    let (mut tx, mut rx) = MpmcQueue::heap(4, 8).unwrap();
    tx.try_push(b"mpmc").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"mpmc"[..]);

    let (mut writer, mut reader) = Broadcast::heap(4, 16).unwrap();
    writer.write(b"broadcast").unwrap();
    assert_eq!(reader.try_recv().unwrap(), &b"broadcast"[..]);
}

#[test]
fn every_role_attaches_to_heap_memory_as_to_a_segment() {
    let memory = SpscRing::heap_memory(4096).unwrap();
    let (mut tx, mut rx) = (
        Producer::attach(memory.clone()).unwrap(),
        Consumer::attach(memory).unwrap(),
    );
    tx.try_push(b"a").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"a"[..]);

    let memory = MpmcQueue::heap_memory(4, 8).unwrap();
    let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(memory).unwrap();
    tx.try_push(b"b").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"b"[..]);

    let memory = Broadcast::heap_memory(4, 8).unwrap();
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory).unwrap();
    writer.write(b"c").unwrap();
    assert_eq!(reader.try_recv().unwrap(), &b"c"[..]);
}

/// Bad parameters are refused before a segment exists: no file is left, and the name is
/// still free for a correct call.
#[test]
fn named_constructors_create_nothing_for_bad_parameters() {
    let name = format!("one-model-{}", std::process::id());
    type Create<'a> = Box<dyn Fn() -> Result<(), QueueError> + 'a>;
    let bad: [(&str, Create); 3] = [
        (
            "spsc",
            Box::new(|| SpscRing::create_named(&name, 1000).map(drop)),
        ),
        (
            "mpmc",
            Box::new(|| MpmcQueue::create_named(&name, 3, 8).map(drop)),
        ),
        (
            "broadcast",
            Box::new(|| Broadcast::create_named(&name, 4, 0).map(drop)),
        ),
    ];
    for (what, create) in bad {
        match create() {
            Err(QueueError::Layout { reason }) => assert!(reason.contains("capacity"), "{what}"),
            other => panic!("{what}: {other:?}"),
        }
        assert!(!shm_file(&name).exists(), "{what}: a file was created");
    }
    for create in [
        SpscRing::create_memfd(1000).map(drop),
        MpmcQueue::create_memfd(0, 8).map(drop),
    ] {
        assert!(matches!(create, Err(QueueError::Layout { .. })));
    }
    let segment = MpmcQueue::create_named(&name, 4, 8).expect("the name is free");
    drop(segment);
    assert!(!shm_file(&name).exists());
}

#[test]
fn a_cloned_mpmc_handle_is_another_handle_of_its_role() {
    let (mut tx, mut rx) = MpmcQueue::heap(8, 8).unwrap();
    let mut tx2 = tx.try_clone().unwrap();
    let mut rx2 = rx.try_clone().unwrap();
    tx.try_push(b"1").unwrap();
    tx2.try_push(b"2").unwrap();
    assert_eq!(rx2.try_pop().unwrap(), &b"1"[..]);
    assert_eq!(rx.try_pop().unwrap(), &b"2"[..]);
    // The consumers disconnect only once both producers are gone.
    drop(tx);
    assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    drop(tx2);
    assert!(matches!(rx.try_pop(), Err(QueueError::Disconnected)));
}

/// On a segment the clone takes a claim of its own: a 65th live producer is refused.
#[test]
fn mpmc_clones_on_a_segment_are_limited_to_64_live_handles_per_role() {
    let segment = Arc::new(MpmcQueue::create_memfd(4, 8).unwrap());
    let first = MpmcProducer::attach(segment).unwrap();
    let mut clones: Vec<_> = (1..64).map(|_| first.try_clone().unwrap()).collect();
    assert!(matches!(
        first.try_clone(),
        Err(QueueError::AlreadyClaimed { .. })
    ));
    clones.pop();
    let _again = first.try_clone().expect("a freed claim is taken again");
}

#[test]
fn a_cloned_broadcast_reader_reads_on_its_own_from_the_same_position() {
    let (mut writer, mut reader) = Broadcast::heap(8, 8).unwrap();
    writer.write(b"1").unwrap();
    assert_eq!(reader.try_recv().unwrap(), &b"1"[..]);
    writer.write(b"2").unwrap();
    let mut other = reader.clone();
    assert_eq!(other.position(), reader.position());
    assert_eq!(other.try_recv().unwrap(), &b"2"[..]);
    assert_eq!(
        reader.try_recv().unwrap(),
        &b"2"[..],
        "the clone took nothing away"
    );
}

/// `Instant::now() + Duration::MAX` overflows: a timeout that long means no deadline (the
/// record here is taken at once), never a panic.
#[test]
fn a_timeout_too_long_for_the_clock_waits_without_a_deadline() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    tx.push_timeout(b"x", Duration::MAX).unwrap();
    assert_eq!(rx.pop_timeout(Duration::MAX).unwrap(), &b"x"[..]);
    let (mut tx, mut rx) = MpmcQueue::heap(2, 8).unwrap();
    tx.push_timeout(b"y", Duration::MAX).unwrap();
    assert_eq!(rx.pop_timeout(Duration::MAX).unwrap(), &b"y"[..]);
    let (mut writer, mut reader) = Broadcast::heap(2, 8).unwrap();
    writer.write(b"z").unwrap();
    assert_eq!(reader.recv_timeout(Duration::MAX).unwrap(), &b"z"[..]);
}

#[test]
fn spsc_records_go_into_a_buffer_and_stay_next_when_it_is_too_short() {
    let (mut tx, mut rx) = SpscRing::heap(4096).unwrap();
    tx.try_push(b"twelve bytes").unwrap();
    let mut short = [0u8; 4];
    assert!(matches!(
        rx.try_pop_into(&mut short),
        Err(QueueError::BufferTooSmall {
            len: 12,
            capacity: 4
        })
    ));
    let mut buf = [0u8; 64];
    let len = rx
        .pop_into_timeout(&mut buf, Duration::from_secs(10))
        .unwrap();
    assert_eq!(&buf[..len], b"twelve bytes");
    tx.try_push(b"again").unwrap();
    let len = rx.pop_into_blocking(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"again");
}

/// The zero-copy reservation has blocking and timed forms, as the copying push has: a
/// full ring times out, and room made by the consumer lets a waiting reservation through.
#[test]
fn an_spsc_reservation_waits_for_room_like_a_push() {
    let (mut tx, mut rx) = SpscRing::heap(256).unwrap();
    let mut filled = 0;
    while tx.try_push(&[1; 32]).is_ok() {
        filled += 1;
    }
    assert!(matches!(
        tx.reserve_timeout(32, Duration::from_millis(20)),
        Err(QueueError::Timeout)
    ));
    let consumer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        // Exactly the records that filled the ring: draining "while there is one" could
        // also take the record the blocked reservation commits meanwhile.
        for _ in 0..filled {
            assert_eq!(rx.try_pop().unwrap(), &[1; 32][..]);
        }
        rx
    });
    let mut guard = tx.reserve_blocking(32).unwrap();
    guard.write_at(0, &[2; 32]).unwrap();
    guard.commit();
    let mut rx = consumer.join().unwrap();
    assert_eq!(
        rx.pop_timeout(Duration::from_secs(30)).unwrap(),
        &[2; 32][..]
    );
}
