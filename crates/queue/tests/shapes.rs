//! Every constructor refuses a shape it cannot hold with a `Layout` error naming it, and
//! accepts the smallest one it can: capacities that are not powers of two, too small,
//! and empty slots.

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, MpmcConsumer, MpmcProducer, MpmcQueue, QueueError,
    SpscRing,
};

fn layout_error<T: std::fmt::Debug>(result: Result<T, QueueError>, shape: &str) {
    match result {
        Err(QueueError::Layout { reason }) => {
            assert!(reason.contains("capacity"), "{shape}: {reason}")
        }
        other => panic!("{shape} was not refused: {other:?}"),
    }
}

#[test]
fn spsc_rings_refuse_capacities_that_are_not_powers_of_two_or_below_256_bytes() {
    for capacity in [0, 128, 255, 384, 1000] {
        layout_error(
            SpscRing::heap(capacity),
            &format!("an SPSC ring of {capacity} bytes"),
        );
    }
    let _ = SpscRing::heap(256).expect("the smallest ring");
}

#[test]
fn mpmc_queues_refuse_a_capacity_that_is_not_a_power_of_two_of_two_or_more_or_empty_slots() {
    for (capacity, slot) in [(0, 8), (1, 8), (3, 8), (6, 8), (4, 0)] {
        layout_error(
            MpmcQueue::heap_memory(capacity, slot),
            &format!("an MPMC queue of {capacity} slots of {slot} bytes"),
        );
    }
    let smallest = MpmcQueue::heap_memory(2, 1).expect("the smallest queue");
    let _ = MpmcProducer::attach(smallest.clone()).expect("a producer of the smallest queue");
    let _ = MpmcConsumer::attach(smallest).expect("a consumer of the smallest queue");
}

#[test]
fn broadcast_rings_refuse_a_capacity_that_is_not_a_power_of_two_of_two_or_more_or_empty_slots() {
    for (capacity, slot) in [(0, 8), (1, 8), (3, 8), (6, 8), (4, 0)] {
        layout_error(
            Broadcast::heap_memory(capacity, slot),
            &format!("a broadcast ring of {capacity} slots of {slot} bytes"),
        );
    }
    let smallest = Broadcast::heap_memory(2, 1).expect("the smallest ring");
    let _ = BroadcastWriter::attach(smallest.clone()).expect("a writer of the smallest ring");
    let _ = BroadcastReader::attach(smallest).expect("a reader of the smallest ring");
}

/// A ring's handles report the shape it was made with.
#[test]
fn an_spsc_ring_reports_its_capacity_and_largest_record() {
    for capacity in [256, 1024, 1 << 20] {
        let (tx, _rx) = SpscRing::heap(capacity).unwrap();
        assert_eq!(tx.capacity(), capacity);
        assert_eq!(tx.max_record_len(), SpscRing::max_record_len(capacity));
        assert_eq!(tx.max_record_len(), capacity / 2 - 64);
        // The control block, then the ring (docs/queue-layout.md).
        assert_eq!(SpscRing::required_len(capacity), 896 + capacity);
    }
}
