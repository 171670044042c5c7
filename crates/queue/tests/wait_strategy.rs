//! Each MPMC handle's wait strategy and its counters: the strategy it is given is the one
//! it waits with, a handle that slept counts it, and the peer that woke it counts the
//! wake system call. (The SPSC and broadcast handles: `wake_up.rs`, between processes.)

use std::time::Duration;

use ipclane_queue::{MpmcQueue, WaitStrategy};
use ipclane_testkit::bounded;

/// Sleeps at once when it must wait.
fn sleeping() -> WaitStrategy {
    WaitStrategy {
        initial_spin: Duration::ZERO,
        min_spin: Duration::ZERO,
        max_spin: Duration::ZERO,
        ..WaitStrategy::default()
    }
}

#[test]
fn an_mpmc_consumer_waits_as_told_and_counts_its_sleep_and_the_producers_wake() {
    let memory = MpmcQueue::heap(2, 8).unwrap();
    let mut tx = MpmcQueue::producer(memory.clone()).unwrap();
    let mut rx = MpmcQueue::consumer(memory).unwrap();
    assert_eq!(rx.spin_budget(), WaitStrategy::default().initial_spin);
    assert_eq!((rx.parks(), rx.wakes(), tx.parks(), tx.wakes()), (0, 0, 0, 0));
    rx.set_wait_strategy(sleeping());
    assert_eq!(rx.spin_budget(), Duration::ZERO);
    let consumer = std::thread::spawn(move || {
        let record = bounded("the MPMC consumer's pop_blocking", || rx.pop_blocking());
        (record.unwrap(), rx)
    });
    // Long enough for the consumer to be asleep before the record comes.
    std::thread::sleep(Duration::from_millis(50));
    tx.try_push(b"wake up").unwrap();
    let (record, rx) = consumer.join().unwrap();
    assert_eq!(record, b"wake up");
    assert!(rx.parks() >= 1, "the consumer slept: {}", rx.parks());
    assert!(tx.wakes() >= 1, "the producer woke it: {}", tx.wakes());
}

#[test]
fn an_mpmc_producer_waits_as_told_and_counts_its_sleep_and_the_consumers_wake() {
    let memory = MpmcQueue::heap(2, 8).unwrap();
    let mut tx = MpmcQueue::producer(memory.clone()).unwrap();
    let mut rx = MpmcQueue::consumer(memory).unwrap();
    assert_eq!(tx.spin_budget(), WaitStrategy::default().initial_spin);
    tx.set_wait_strategy(sleeping());
    assert_eq!(tx.spin_budget(), Duration::ZERO);
    tx.try_push(b"1").unwrap();
    tx.try_push(b"2").unwrap();
    let producer = std::thread::spawn(move || {
        bounded("the MPMC producer's push_blocking", || tx.push_blocking(b"3")).unwrap();
        tx
    });
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(rx.try_pop().unwrap(), b"1");
    let tx = producer.join().unwrap();
    assert!(tx.parks() >= 1, "the producer slept: {}", tx.parks());
    assert!(rx.wakes() >= 1, "the consumer woke it: {}", rx.wakes());
    assert_eq!(rx.try_pop().unwrap(), b"2");
    assert_eq!(rx.try_pop().unwrap(), b"3");
}
