//! One live handle per side: on heap memory, where no liveness claim exists, the side's
//! state word alone refuses a second producer, consumer or writer; a closed side can be
//! taken again. (Between processes, the segment's claims do the same:
//! `cross_process.rs`.)

use std::sync::Arc;

use ipclane_queue::{Broadcast, Consumer, HeapMemory, Producer, QueueError, SpscRing};

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
    Producer::attach(memory).expect("the producer side was closed");
}

#[test]
fn a_second_spsc_consumer_is_refused_until_the_first_is_dropped() {
    let memory = spsc();
    let first = Consumer::attach(memory.clone()).unwrap();
    refused(Consumer::attach(memory.clone()), "consumer");
    drop(first);
    Consumer::attach(memory).expect("the consumer side was closed");
}

#[test]
fn a_second_broadcast_writer_is_refused_until_the_first_is_dropped() {
    let memory = Broadcast::heap(4, 24).unwrap();
    let first = Broadcast::writer(memory.clone()).unwrap();
    refused(Broadcast::writer(memory.clone()), "writer");
    drop(first);
    Broadcast::writer(memory).expect("the writer side was closed");
}
