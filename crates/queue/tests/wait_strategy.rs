//! Each handle's wait strategy and its counters: the strategy it is given is the one it
//! waits with, a handle that slept counts it, and the peer that woke it counts the wake
//! system call. Threads of one process on heap memory; between processes: `wake_up.rs`.

use std::time::Duration;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, HeapMemory, MpmcConsumer, MpmcProducer,
    MpmcQueue, Producer, SpscRing, WaitStats, WaitStrategy,
};
use ipclane_testkit::bounded;

/// The counters every handle has.
trait Counts: Send + 'static {
    fn wait_stats(&self) -> WaitStats;
}

/// The setting every handle that blocks has.
trait Waits: Counts {
    fn set_wait_strategy(&mut self, strategy: WaitStrategy);
}

macro_rules! counts {
    ($($handle:ty),*) => {$(
        impl Counts for $handle {
            fn wait_stats(&self) -> WaitStats {
                <$handle>::wait_stats(self)
            }
        }
    )*};
}

macro_rules! waits {
    ($($handle:ty),*) => {$(
        impl Waits for $handle {
            fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
                <$handle>::set_wait_strategy(self, strategy)
            }
        }
    )*};
}

counts!(
    Producer<HeapMemory>,
    Consumer<HeapMemory>,
    MpmcProducer<HeapMemory>,
    MpmcConsumer<HeapMemory>,
    BroadcastReader<HeapMemory>,
    BroadcastWriter<HeapMemory>
);
waits!(
    Producer<HeapMemory>,
    Consumer<HeapMemory>,
    MpmcProducer<HeapMemory>,
    MpmcConsumer<HeapMemory>,
    BroadcastReader<HeapMemory>
);

/// Sleeps at once when it must wait.
fn sleeping() -> WaitStrategy {
    WaitStrategy {
        initial_spin: Duration::ZERO,
        min_spin: Duration::ZERO,
        max_spin: Duration::ZERO,
        ..WaitStrategy::default()
    }
}

/// `waiter` is told to sleep at once, then runs `wait` on a thread of its own (a
/// blocking call that must sleep); after a pause, `release` lets it through from here.
/// Both count what happened.
fn sleeps_and_is_woken<W: Waits, N: Counts>(
    what: &str,
    mut waiter: W,
    mut notifier: N,
    wait: impl FnOnce(&mut W) + Send + 'static,
    release: impl FnOnce(&mut N),
) {
    assert_eq!(
        waiter.wait_stats().spin_budget,
        WaitStrategy::default().initial_spin,
        "{what}"
    );
    let counts = |w: &W, n: &N| {
        (
            w.wait_stats().parks,
            w.wait_stats().wakes,
            n.wait_stats().parks,
            n.wait_stats().wakes,
        )
    };
    assert_eq!(
        counts(&waiter, &notifier),
        (0, 0, 0, 0),
        "{what}: nothing counted yet"
    );
    waiter.set_wait_strategy(sleeping());
    assert_eq!(
        waiter.wait_stats().spin_budget,
        Duration::ZERO,
        "{what}: the strategy it was given"
    );
    let what_ = what.to_owned();
    let waiting = std::thread::spawn(move || {
        bounded(&what_, || wait(&mut waiter));
        waiter
    });
    // Long enough for the waiter to be asleep before it is let through.
    std::thread::sleep(Duration::from_millis(50));
    release(&mut notifier);
    let waiter = waiting.join().unwrap();
    assert!(
        waiter.wait_stats().parks >= 1,
        "{what}: the waiter slept: {}",
        waiter.wait_stats().parks
    );
    assert!(
        notifier.wait_stats().wakes >= 1,
        "{what}: its peer woke it: {}",
        notifier.wait_stats().wakes
    );
}

fn spsc() -> (Producer<HeapMemory>, Consumer<HeapMemory>) {
    SpscRing::heap(256).unwrap()
}

#[test]
fn an_spsc_consumer_waits_as_told_and_counts_its_sleep_and_the_producers_wake() {
    let (tx, rx) = spsc();
    sleeps_and_is_woken(
        "SPSC consumer",
        rx,
        tx,
        |rx| assert_eq!(rx.pop_blocking().unwrap(), &b"wake up"[..]),
        |tx| tx.try_push(b"wake up").unwrap(),
    );
}

#[test]
fn an_spsc_producer_waits_as_told_and_counts_its_sleep_and_the_consumers_wake() {
    let (mut tx, rx) = spsc();
    while tx.try_push(&[1; 32]).is_ok() {}
    sleeps_and_is_woken(
        "SPSC producer",
        tx,
        rx,
        |tx| tx.push_blocking(&[2; 32]).unwrap(),
        // Two records: the producer stops short of the consumer's cache line, so the
        // first one alone frees nothing it may write.
        |rx| {
            for _ in 0..2 {
                assert_eq!(rx.try_pop().unwrap(), &[1; 32][..]);
            }
        },
    );
}

fn mpmc() -> (MpmcProducer<HeapMemory>, MpmcConsumer<HeapMemory>) {
    MpmcQueue::heap(2, 8).unwrap()
}

#[test]
fn an_mpmc_consumer_waits_as_told_and_counts_its_sleep_and_the_producers_wake() {
    let (tx, rx) = mpmc();
    sleeps_and_is_woken(
        "MPMC consumer",
        rx,
        tx,
        |rx| assert_eq!(rx.pop_blocking().unwrap(), &b"wake up"[..]),
        |tx| tx.try_push(b"wake up").unwrap(),
    );
}

#[test]
fn an_mpmc_producer_waits_as_told_and_counts_its_sleep_and_the_consumers_wake() {
    let (mut tx, rx) = mpmc();
    tx.try_push(b"1").unwrap();
    tx.try_push(b"2").unwrap();
    sleeps_and_is_woken(
        "MPMC producer",
        tx,
        rx,
        |tx| tx.push_blocking(b"3").unwrap(),
        |rx| assert_eq!(rx.try_pop().unwrap(), &b"1"[..]),
    );
}

#[test]
fn a_broadcast_reader_waits_as_told_and_counts_its_sleep_and_the_writers_wake() {
    let (writer, reader) = Broadcast::heap(2, 8).unwrap();
    sleeps_and_is_woken(
        "broadcast reader",
        reader,
        writer,
        |rx| assert_eq!(rx.recv_blocking().unwrap(), &b"wake up"[..]),
        |tx| tx.write(b"wake up").unwrap(),
    );
}

/// A strategy that would sleep for a minute between checks of its peers.
fn long_sleeper() -> WaitStrategy {
    WaitStrategy {
        liveness_period: Duration::from_secs(60),
        ..sleeping()
    }
}

/// Dropping the last handle of a role wakes the other role's sleepers, which then see
/// `Disconnected` (after the records left): they do not sleep on until their liveness
/// period. Heap memory: the live count is the only liveness there is.
#[test]
fn dropping_the_last_mpmc_handle_of_a_role_disconnects_the_sleepers_of_the_other() {
    let (mut tx, mut rx) = mpmc();
    rx.set_wait_strategy(long_sleeper());
    tx.try_push(b"last").unwrap();
    let consumer = std::thread::spawn(move || {
        let last = rx.pop_timeout(Duration::from_secs(30));
        let then = rx.pop_timeout(Duration::from_secs(30));
        (last, then)
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(tx);
    let (last, then) = consumer.join().unwrap();
    assert_eq!(last.unwrap(), &b"last"[..]);
    assert!(
        matches!(then, Err(ipclane_queue::QueueError::Disconnected)),
        "{then:?}"
    );

    let (mut tx, rx) = mpmc();
    tx.set_wait_strategy(long_sleeper());
    tx.try_push(b"1").unwrap();
    tx.try_push(b"2").unwrap();
    let producer = std::thread::spawn(move || tx.push_timeout(b"3", Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(50));
    drop(rx);
    let pushed = producer.join().unwrap();
    assert!(
        matches!(pushed, Err(ipclane_queue::QueueError::Disconnected)),
        "{pushed:?}"
    );
}
