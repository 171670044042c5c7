//! Every blocking wait is ended by its peer's notification, not by the liveness poll.
//!
//! Each waiter here parks at once (no spin) with a liveness period of 60 s, and its peer,
//! another process, makes it ready 100 ms later; the peer reports the wake system calls its
//! notifications made. The wait must end long before its 30 s deadline: without the futex
//! wake (or with a lost wake-up) it would sleep until the deadline, and the test fails
//! naming the wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, QueueError, SpscRing, WaitStrategy,
};
use ipclane_segment::{Kind, Segment};
use ipclane_testkit::{Peer, ShmName, listen, say};

/// Parks at once; only a notification (or 60 s) ends the sleep.
const PARK_AT_ONCE: WaitStrategy = WaitStrategy {
    initial_spin: Duration::ZERO,
    min_spin: Duration::ZERO,
    max_spin: Duration::ZERO,
    spin_worth: 0,
    wake_cost: Duration::from_micros(50),
    liveness_period: Duration::from_secs(60),
    yield_every: Duration::MAX,
    share_cpus: false,
};

/// How long the peer waits before making the waiter ready: the waiter is asleep by then.
const PEER_DELAY: Duration = Duration::from_millis(100);

/// The waiter's deadline: far below the liveness period, far above a wake-up on a loaded
/// machine (tens of microseconds to milliseconds).
const WAIT: Duration = Duration::from_secs(30);

fn open(name: &str, kind: Kind) -> Arc<Segment> {
    Arc::new(
        Segment::named(name)
            .kind(kind)
            .open()
            .expect("open segment"),
    )
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| {
        let name = &args[0];
        // Attach, say so, wait for the cue, sleep past the waiter's park, act, hold on.
        let cue = || {
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            std::thread::sleep(PEER_DELAY);
        };
        // Reports the wake system calls made, then stays attached until the test is done:
        // only the wake can end the wait.
        let done = |wakes: u64| {
            say(format!("wakes {wakes}"));
            ipclane_testkit::hold();
        };
        match role {
            "spsc_push" => {
                let mut tx = Producer::attach(open(name, SpscRing::KIND)).unwrap();
                cue();
                tx.try_push(b"wake").unwrap();
                done(tx.wait_stats().wakes);
            }
            "spsc_pop" => {
                let mut rx = Consumer::attach(open(name, SpscRing::KIND)).unwrap();
                cue();
                // Empty the ring: one record's room may be within the line the producer
                // keeps clear of the consumer.
                while rx.try_pop().is_ok() {}
                done(rx.wait_stats().wakes);
            }
            "mpmc_push" => {
                let mut tx = MpmcProducer::attach(open(name, MpmcQueue::KIND)).unwrap();
                cue();
                tx.try_push(b"wake").unwrap();
                done(tx.wait_stats().wakes);
            }
            "mpmc_pop" => {
                let mut rx = MpmcConsumer::attach(open(name, MpmcQueue::KIND)).unwrap();
                cue();
                rx.try_pop().unwrap();
                done(rx.wait_stats().wakes);
            }
            "broadcast_write" => {
                let mut w = BroadcastWriter::attach(open(name, Broadcast::KIND)).unwrap();
                cue();
                w.write(b"wake").unwrap();
                done(w.wait_stats().wakes);
            }
            other => panic!("unknown peer role {other}"),
        }
    });
}

/// Starts the peer in `role`, lets it act once `wait` has parked, and checks that the wait
/// ended through the notification.
fn woken_by_peer<T>(name: &str, role: &str, wait: impl FnOnce() -> Result<T, QueueError>) {
    let mut peer = Peer::spawn(role, &[name]);
    assert_eq!(peer.recv(), "attached");
    peer.send("go");
    let started = Instant::now();
    match wait() {
        Ok(_) => {}
        Err(QueueError::Timeout) => {
            panic!("{role}: the waiter was not woken within {WAIT:?} (lost or missing wake)")
        }
        Err(e) => panic!("{role}: {e}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= PEER_DELAY,
        "{role}: ready before the peer acted ({waited:?})"
    );
    assert!(
        waited < WAIT / 3,
        "{role}: woken after {waited:?}, by the deadline, not by the notification"
    );
    // At least one: a waiter woken before enough room was free sleeps again, and is
    // woken again.
    let report = peer.recv();
    let wakes: u64 = report.strip_prefix("wakes ").unwrap().parse().unwrap();
    assert!(
        wakes >= 1,
        "{role}: the peer made no wake system call ({report})"
    );
}

#[test]
fn a_sleeping_spsc_consumer_is_woken_by_the_push() {
    let name = ShmName::new("wake-spsc-pop");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
    let mut rx = Consumer::attach(segment).unwrap();
    rx.set_wait_strategy(PARK_AT_ONCE);
    woken_by_peer(&name.0, "spsc_push", || rx.pop_timeout(WAIT));
    assert_eq!(
        rx.wait_stats().parks,
        1,
        "it slept, and one wake ended the sleep"
    );
}

#[test]
fn a_sleeping_spsc_producer_is_woken_by_the_pop() {
    let name = ShmName::new("wake-spsc-push");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
    let mut tx = Producer::attach(segment).unwrap();
    tx.set_wait_strategy(PARK_AT_ONCE);
    while tx.try_push(&[7; 100]).is_ok() {}
    woken_by_peer(&name.0, "spsc_pop", || tx.push_timeout(&[8; 100], WAIT));
    assert_eq!(
        tx.wait_stats().parks,
        1,
        "it slept, and one wake ended the sleep"
    );
}

#[test]
fn a_sleeping_mpmc_consumer_is_woken_by_the_push() {
    let name = ShmName::new("wake-mpmc-pop");
    let segment = Arc::new(MpmcQueue::create_named(&name.0, 4, 16).unwrap());
    let mut rx = MpmcConsumer::attach(segment).unwrap();
    rx.set_wait_strategy(PARK_AT_ONCE);
    woken_by_peer(&name.0, "mpmc_push", || rx.pop_timeout(WAIT));
    assert_eq!(
        rx.wait_stats().parks,
        1,
        "it slept, and one wake ended the sleep"
    );
}

#[test]
fn a_sleeping_mpmc_producer_is_woken_by_the_pop() {
    let name = ShmName::new("wake-mpmc-push");
    let segment = Arc::new(MpmcQueue::create_named(&name.0, 4, 16).unwrap());
    let mut tx = MpmcProducer::attach(segment).unwrap();
    tx.set_wait_strategy(PARK_AT_ONCE);
    while tx.try_push(b"full").is_ok() {}
    woken_by_peer(&name.0, "mpmc_pop", || tx.push_timeout(b"more", WAIT));
    assert_eq!(
        tx.wait_stats().parks,
        1,
        "it slept, and one wake ended the sleep"
    );
}

#[test]
fn a_sleeping_broadcast_reader_is_woken_by_the_write() {
    let name = ShmName::new("wake-bcast");
    let segment = Arc::new(Broadcast::create_named(&name.0, 4, 16).unwrap());
    let mut reader = BroadcastReader::attach(segment).unwrap();
    reader.set_wait_strategy(PARK_AT_ONCE);
    woken_by_peer(&name.0, "broadcast_write", || reader.recv_timeout(WAIT));
}
