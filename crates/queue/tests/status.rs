//! Each structure's `status` reads its shared memory without attaching: positions, fill
//! levels and who holds each side, free, alive, dead (a SIGKILLed peer) or closed.

use std::sync::Arc;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, SideStatus, SpscRing,
};
use ipclane_testkit::{Peer, ShmName, hold, say};

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "spsc_producer" => {
            let mut tx =
                Producer::attach(Arc::new(SpscRing::open_named(&args[0]).unwrap())).unwrap();
            tx.try_push(&[1; 100]).unwrap();
            say("attached");
            hold();
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
fn an_spsc_ring_tells_its_positions_and_who_holds_each_side() {
    let name = ShmName::new("status-spsc");
    let segment = Arc::new(SpscRing::create_named(&name.0, 4096).unwrap());
    let status = SpscRing::status(&*segment).unwrap();
    assert_eq!(status.capacity, 4096);
    assert_eq!(
        (status.producer, status.consumer),
        (SideStatus::Free, SideStatus::Free)
    );
    let mut peer = Peer::spawn("spsc_producer", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    let rx = Consumer::attach(segment.clone()).unwrap();
    let status = SpscRing::status(&*segment).unwrap();
    assert_eq!(
        (status.producer, status.consumer),
        (SideStatus::Alive, SideStatus::Alive)
    );
    assert_eq!(status.consumer_position, 0);
    peer.kill();
    assert_eq!(
        SpscRing::status(&*segment).unwrap().producer,
        SideStatus::Dead
    );
    drop(rx);
    assert_eq!(
        SpscRing::status(&*segment).unwrap().consumer,
        SideStatus::Closed
    );
}

#[test]
fn an_mpmc_queue_tells_its_fill_and_its_live_handles() {
    let memory = MpmcQueue::heap_memory(8, 16).unwrap();
    let tx = MpmcProducer::attach(memory.clone()).unwrap();
    let mut tx2 = tx.try_clone().unwrap();
    let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
    for _ in 0..3 {
        tx2.try_push(b"x").unwrap();
    }
    rx.try_pop().unwrap();
    let status = MpmcQueue::status(&*memory).unwrap();
    assert_eq!((status.capacity, status.slot_size), (8, 16));
    assert_eq!(
        (status.enqueued, status.dequeued, status.queued()),
        (3, 1, 2)
    );
    assert_eq!((status.producers, status.consumers), (2, 1));
    drop(tx);
    assert_eq!(MpmcQueue::status(&*memory).unwrap().producers, 1);
}

#[test]
fn a_broadcast_ring_tells_what_was_published_and_its_writer() {
    let memory = Broadcast::heap_memory(4, 8).unwrap();
    assert_eq!(
        Broadcast::status(&*memory).unwrap().writer,
        SideStatus::Free
    );
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let _reader = BroadcastReader::attach(memory.clone()).unwrap();
    for _ in 0..6 {
        writer.write(b"q").unwrap();
    }
    let status = Broadcast::status(&*memory).unwrap();
    assert_eq!(
        (status.capacity, status.slot_size, status.published),
        (4, 8, 6)
    );
    assert_eq!(status.writer, SideStatus::Alive);
    drop(writer);
    assert_eq!(
        Broadcast::status(&*memory).unwrap().writer,
        SideStatus::Closed
    );
}

#[test]
fn status_refuses_memory_of_another_structure() {
    let memory = MpmcQueue::heap_memory(8, 16).unwrap();
    assert!(SpscRing::status(&*memory).is_err());
    assert!(Broadcast::status(&*memory).is_err());
}
