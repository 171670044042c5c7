//! MPMC peers killed inside an operation, between real processes.
//!
//! The deterministic tests stop a real handle in another process at the instant the attack
//! run found: just after it won the CAS on a position, before it finished with the slot
//! (`ipclane_queue::fault`, a test-only feature). A stopped peer must be waited for, and a
//! continued one finishes its operation; a killed one must have its slot repaired, with
//! nothing committed lost and the loss counted. The random-kill rounds kill real producers
//! and consumers at random instants.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipclane_queue::fault::{Point, stop_at};
use ipclane_queue::{Abandoned, MpmcConsumer, MpmcProducer, MpmcQueue, QueueError};
use ipclane_segment::Segment;
use ipclane_testkit::{Peer, ShmName, bounded, hold, say};

/// Offset of the enqueue position in the MPMC control block (docs/queue-layout.md).
const ENQUEUE: usize = 128;

fn open(name: &str) -> Arc<Segment> {
    Arc::new(
        Segment::named(name)
            .kind(MpmcQueue::KIND)
            .open()
            .expect("open segment"),
    )
}

/// Payload bytes of a slot: records fill it.
const SLOT: usize = 32;

fn record(producer: u64, seq: u64) -> Vec<u8> {
    let mut out = producer.to_le_bytes().to_vec();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(producer ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    out.extend((24..SLOT).map(|j| (seq as usize ^ j) as u8));
    out
}

/// Checks every byte of a record; returns (producer, seq).
fn parse(r: &[u8]) -> (u64, u64) {
    assert_eq!(r.len(), SLOT, "record length");
    let w = |i: usize| u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().unwrap());
    let (producer, seq) = (w(0), w(1));
    assert_eq!(
        w(2),
        producer ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        "torn record"
    );
    assert!(
        r.iter()
            .enumerate()
            .skip(24)
            .all(|(j, b)| *b == (seq as usize ^ j) as u8),
        "torn payload"
    );
    (producer, seq)
}

/// Waits until the peer has stopped itself at its fault point.
fn wait_stopped(peer: &Peer) {
    let stat = format!("/proc/{}/stat", peer.pid());
    let stopped = ipclane_testkit::eventually(Duration::from_secs(30), || {
        std::fs::read_to_string(&stat).is_ok_and(|s| {
            // The state follows the command name, which is in parentheses.
            s.rfind(')').and_then(|i| s[i + 2..].chars().next()) == Some('T')
        })
    });
    assert!(stopped, "the peer never reached its fault point");
}

fn signal(peer: &Peer, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(peer.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, signal).expect("kill");
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| {
        let segment = open(&args[0]);
        match role {
            // args: name, producer id, records to push before the one it stops inside
            "producer_stops_inside_a_push" => {
                let id: u64 = args[1].parse().unwrap();
                let count: u64 = args[2].parse().unwrap();
                let mut tx = MpmcProducer::attach(segment).unwrap();
                for seq in 0..count {
                    tx.try_push(&record(id, seq)).unwrap();
                }
                say("stopping");
                stop_at(Point::MpmcAfterEnqueue);
                tx.try_push(&record(id, count)).unwrap(); // stops inside, after its CAS
                say("pushed");
                hold();
            }
            "consumer_stops_inside_a_pop" => {
                let mut rx = MpmcConsumer::attach(segment).unwrap();
                say("attached");
                assert_eq!(ipclane_testkit::listen().as_deref(), Some("take"));
                stop_at(Point::MpmcAfterDequeue);
                let r = rx.try_pop().unwrap(); // stops inside, after its CAS
                say(format!("popped {:?}", parse(&r)));
                hold();
            }
            // args: name, producer id, records
            "producer" => {
                let id: u64 = args[1].parse().unwrap();
                let mut tx = MpmcProducer::attach(segment).unwrap();
                say("attached");
                for seq in 0..args[2].parse().unwrap() {
                    tx.push_blocking(&record(id, seq)).unwrap();
                }
            }
            "idle_producer" => {
                let _tx = MpmcProducer::attach(segment).unwrap();
                say("attached");
                hold();
            }
            "consumer" => {
                let mut rx = MpmcConsumer::attach(segment).unwrap();
                say("attached");
                loop {
                    match rx.pop_blocking() {
                        Ok(r) => {
                            std::hint::black_box(parse(&r));
                        }
                        Err(QueueError::Disconnected) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            other => panic!("unknown peer role {other}"),
        }
    });
}

#[test]
fn a_stopped_producer_holding_a_slot_is_waited_for_and_a_killed_one_skipped() {
    let name = ShmName::new("mpmc-hole");
    let _owner = MpmcQueue::create_named(&name.0, 8, SLOT).unwrap();
    // The peer commits one record, then stops holding position 1.
    let mut peer = Peer::spawn("producer_stops_inside_a_push", &[&name.0, "100", "1"]);
    assert_eq!(peer.recv(), "stopping");
    wait_stopped(&peer);
    let segment = open(&name.0);
    let mut tx = MpmcProducer::attach(segment.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(segment).unwrap();
    for seq in 0..3 {
        tx.try_push(&record(0, seq)).unwrap();
    }
    assert_eq!(parse(&rx.try_pop().unwrap()), (100, 0));
    // Stopped, not dead: its slot is its own, and what follows waits behind it.
    for _ in 0..1000 {
        assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    }
    assert!(matches!(
        rx.pop_timeout(Duration::from_millis(300)),
        Err(QueueError::Timeout)
    ));
    assert_eq!(rx.abandoned(), Abandoned::default());
    peer.kill();
    // Proven dead: the hole is passed, by the non-blocking call too.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 {
        match rx.try_pop() {
            Ok(r) => got.push(parse(&r)),
            Err(QueueError::Empty) => {
                assert!(
                    Instant::now() < deadline,
                    "the dead producer's slot wedges the queue"
                );
                std::hint::spin_loop();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, [(0, 0), (0, 1), (0, 2)]);
    assert_eq!(rx.abandoned(), Abandoned { pushes: 1, pops: 0 });
    drop(tx);
    // The dead producer never detached: a few calls in, the non-blocking call asks its
    // claim and reports what the blocking one would.
    let mut calls = 0;
    loop {
        calls += 1;
        match rx.try_pop() {
            Err(QueueError::Empty) => assert!(calls < 1000, "never Disconnected"),
            Err(QueueError::Disconnected) => break,
            other => panic!("{other:?}"),
        }
    }
}

/// A stopped producer is alive: continued, it finishes its push, which is delivered in
/// its place, and nothing is counted abandoned.
#[test]
fn a_stopped_producer_continued_finishes_its_push_in_order() {
    let name = ShmName::new("mpmc-cont");
    let _owner = MpmcQueue::create_named(&name.0, 8, SLOT).unwrap();
    let mut peer = Peer::spawn("producer_stops_inside_a_push", &[&name.0, "100", "0"]);
    assert_eq!(peer.recv(), "stopping");
    wait_stopped(&peer);
    let segment = open(&name.0);
    let mut tx = MpmcProducer::attach(segment.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(segment).unwrap();
    tx.try_push(&record(0, 0)).unwrap();
    for _ in 0..1000 {
        assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    }
    assert!(matches!(
        rx.pop_timeout(Duration::from_millis(300)),
        Err(QueueError::Timeout)
    ));
    signal(&peer, rustix::process::Signal::CONT);
    assert_eq!(peer.recv(), "pushed");
    let first = bounded("the continued producer's record", || rx.pop_blocking());
    assert_eq!(parse(&first.unwrap()), (100, 0), "in its place, first");
    assert_eq!(parse(&rx.try_pop().unwrap()), (0, 0));
    assert_eq!(rx.abandoned(), Abandoned::default());
}

#[test]
fn records_behind_slots_of_dead_producers_are_delivered_before_disconnected() {
    let name = ShmName::new("mpmc-holes");
    let _owner = MpmcQueue::create_named(&name.0, 8, SLOT).unwrap();
    // Two producers die holding positions 0 and 1; a third commits 2, 3, 4 and leaves.
    let mut first = Peer::spawn("producer_stops_inside_a_push", &[&name.0, "100", "0"]);
    assert_eq!(first.recv(), "stopping");
    wait_stopped(&first);
    let mut second = Peer::spawn("producer_stops_inside_a_push", &[&name.0, "101", "0"]);
    assert_eq!(second.recv(), "stopping");
    wait_stopped(&second);
    let segment = open(&name.0);
    let mut rx = MpmcConsumer::attach(segment.clone()).unwrap();
    // No spinning: the attempts made while spinning would repair the slots one by one
    // before the consumer learns that every producer is gone; parked at once, it learns
    // that with two dead slots still ahead, and must repair them then.
    rx.set_wait_strategy(ipclane_queue::WaitStrategy {
        initial_spin: Duration::ZERO,
        min_spin: Duration::ZERO,
        max_spin: Duration::ZERO,
        ..Default::default()
    });
    let mut tx = MpmcProducer::attach(segment).unwrap();
    for seq in 0..3 {
        tx.try_push(&record(0, seq)).unwrap();
    }
    drop(tx);
    first.kill();
    second.kill();
    let started = Instant::now();
    for seq in 0..3 {
        let got = bounded("a record committed behind the dead slots", || {
            rx.pop_blocking()
        });
        assert_eq!(parse(&got.unwrap()), (0, seq), "committed, so delivered");
    }
    let end = bounded("Disconnected after the last producer left", || {
        rx.pop_blocking()
    });
    assert!(matches!(end, Err(QueueError::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
    assert_eq!(rx.abandoned(), Abandoned { pushes: 2, pops: 0 });
}

#[test]
fn a_stopped_consumer_holding_a_slot_is_waited_for_and_a_killed_one_handed_back() {
    let name = ShmName::new("mpmc-taken");
    let _owner = MpmcQueue::create_named(&name.0, 4, SLOT).unwrap();
    let mut peer = Peer::spawn("consumer_stops_inside_a_pop", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    let segment = open(&name.0);
    let mut tx = MpmcProducer::attach(segment.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(segment).unwrap();
    for seq in 0..4 {
        tx.try_push(&record(0, seq)).unwrap();
    }
    peer.send("take"); // the peer takes record 0 and stops before handing its slot back
    wait_stopped(&peer);
    for seq in 1..4 {
        assert_eq!(parse(&rx.try_pop().unwrap()), (0, seq));
    }
    for _ in 0..1000 {
        assert!(matches!(tx.try_push(&record(0, 4)), Err(QueueError::Full)));
    }
    assert!(matches!(
        tx.push_timeout(&record(0, 4), Duration::from_millis(300)),
        Err(QueueError::Timeout)
    ));
    assert_eq!(tx.abandoned(), Abandoned::default());
    peer.kill();
    tx.push_timeout(&record(0, 4), Duration::from_secs(10))
        .expect("the dead consumer's slot is handed back");
    assert_eq!(tx.abandoned(), Abandoned { pushes: 0, pops: 1 });
    // The non-blocking call gets the slot back too, once the queue is full again.
    assert_eq!(parse(&rx.try_pop().unwrap()), (0, 4));
    for seq in 5..9 {
        tx.try_push(&record(0, seq)).unwrap();
    }
    for seq in 5..9 {
        assert_eq!(parse(&rx.try_pop().unwrap()), (0, seq));
    }
    // The last live consumer leaves; the dead one never detached, and a producer that
    // only polls hears of it a few calls in.
    drop(rx);
    let mut calls = 0;
    loop {
        calls += 1;
        match tx.try_push(&record(0, 9)) {
            Ok(()) | Err(QueueError::Full) => assert!(calls < 1000, "never Disconnected"),
            Err(QueueError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

/// A small deterministic generator, so a failing round can be replayed.
fn delay_for(round: u64) -> Duration {
    let x = (round + 1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(29);
    Duration::from_micros(x % 10_000)
}

/// Drains `rx` until `Disconnected`; every record parsed, per producer in order.
fn drain(rx: &mut ipclane_queue::MpmcConsumer<Segment>) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    loop {
        match rx.pop_timeout(Duration::from_secs(20)) {
            Ok(r) => got.push(parse(&r)),
            Err(QueueError::Disconnected) => return got,
            Err(e) => panic!("after {} records: {e} (the queue is wedged)", got.len()),
        }
    }
}

fn seqs_of(got: &[(u64, u64)], producer: u64) -> Vec<u64> {
    got.iter()
        .filter(|r| r.0 == producer)
        .map(|r| r.1)
        .collect()
}

#[test]
fn producers_killed_at_random_instants_lose_nothing_committed() {
    const RECORDS: u64 = 3000;
    let mut holes = 0;
    for round in 0..24 {
        let name = ShmName::new("mpmc-kill-p");
        let _owner = MpmcQueue::create_named(&name.0, 16, SLOT).unwrap();
        let mut rx = MpmcConsumer::attach(open(&name.0)).unwrap();
        let mut victim = Peer::spawn("producer", &[&name.0, "1", "1000000000"]);
        let mut survivor = Peer::spawn("producer", &[&name.0, "2", &RECORDS.to_string()]);
        assert_eq!(victim.recv(), "attached");
        assert_eq!(survivor.recv(), "attached");
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay_for(round));
            victim.kill();
        });
        let got = drain(&mut rx);
        killer.join().unwrap();
        assert!(survivor.finish().success());
        assert_eq!(
            seqs_of(&got, 2),
            (0..RECORDS).collect::<Vec<_>>(),
            "round {round}"
        );
        let victim_seqs = seqs_of(&got, 1);
        assert_eq!(
            victim_seqs,
            (0..victim_seqs.len() as u64).collect::<Vec<_>>(),
            "round {round}: a gap, duplicate or reordering"
        );
        let abandoned = rx.abandoned();
        assert!(
            abandoned.pushes <= 1 && abandoned.pops == 0,
            "{abandoned:?}"
        );
        holes += abandoned.pushes;
    }
    eprintln!("slots of killed producers skipped, over 24 rounds: {holes}");
}

#[test]
fn consumers_killed_at_random_instants_never_wedge_the_queue() {
    const RECORDS: u64 = 20_000;
    let mut lost = 0;
    for round in 0..24 {
        let name = ShmName::new("mpmc-kill-c");
        let _owner = MpmcQueue::create_named(&name.0, 16, SLOT).unwrap();
        let mut rx = MpmcConsumer::attach(open(&name.0)).unwrap();
        let mut victim = Peer::spawn("consumer", &[&name.0]);
        assert_eq!(victim.recv(), "attached");
        let mut producer = Peer::spawn("producer", &[&name.0, "1", &RECORDS.to_string()]);
        assert_eq!(producer.recv(), "attached");
        // The victim drains alone until it is killed, so the kill finds it inside a pop
        // (with data waiting) far more often than not.
        std::thread::sleep(delay_for(round));
        victim.kill();
        let got = drain(&mut rx);
        assert!(
            producer.finish().success(),
            "round {round}: the producer wedged"
        );
        let seqs = seqs_of(&got, 1);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "round {round}: a duplicate or reordering"
        );
        let abandoned = rx.abandoned();
        assert!(
            abandoned.pushes == 0 && abandoned.pops <= 1,
            "{abandoned:?}"
        );
        lost += abandoned.pops;
    }
    eprintln!("records lost with killed consumers, over 24 rounds: {lost}");
}

/// Between threads of one process nothing is announced and nothing may be repaired: a slot
/// taken by a thread that is still writing it (here: the enqueue position moved by hand,
/// as a thread's CAS would) stays a wait, however long the consumer polls.
#[test]
fn on_heap_memory_a_slot_in_flight_is_never_repaired() {
    let memory = MpmcQueue::heap_memory(4, 32).unwrap();
    let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
    let _tx = MpmcProducer::attach(memory.clone()).unwrap();
    // SAFETY: the enqueue position is an 8-aligned u64 inside the queue's memory, which
    // lives as long as `memory`; it is only ever accessed atomically.
    let enqueue = unsafe {
        AtomicU64::from_ptr(
            ipclane_queue::Memory::as_ptr(&*memory)
                .as_ptr()
                .add(ENQUEUE)
                .cast(),
        )
    };
    enqueue.fetch_add(1, Ordering::SeqCst);
    for _ in 0..10_000 {
        assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    }
    assert_eq!(rx.abandoned(), Abandoned::default());
}

/// Attaching reads the queue's shape once and refuses one that cannot be right: a
/// capacity that is not a power of two >= 2, a zero slot size, or more slots than the
/// memory holds. (Offsets 16 and 24 of the meta block, docs/queue-layout.md.)
#[test]
fn attaching_refuses_a_corrupted_shape_with_a_layout_error() {
    for (offset, value) in [
        (16, 0u64),
        (16, 1),
        (16, 3),
        (16, 6),
        (16, 1 << 20),
        (16, 1 << 62),
        (24, 0),
        (24, 1 << 40),
        (24, u64::MAX),
    ] {
        let memory = MpmcQueue::heap_memory(8, 32).unwrap();
        // SAFETY: offset is an 8-aligned word of the meta block inside the memory; the
        // queue has no handle yet.
        unsafe {
            AtomicU64::from_ptr(
                ipclane_queue::Memory::as_ptr(&*memory)
                    .as_ptr()
                    .add(offset)
                    .cast(),
            )
            .store(value, Ordering::SeqCst)
        };
        for result in [
            MpmcProducer::attach(memory.clone()).map(drop),
            MpmcConsumer::attach(memory.clone()).map(drop),
        ] {
            assert!(
                matches!(result, Err(QueueError::Layout { .. })),
                "word {offset} = {value:#x}: {result:?}"
            );
        }
    }
    // The limits themselves are accepted: the smallest queue, two slots of one byte.
    let smallest = MpmcQueue::heap_memory(2, 1).unwrap();
    let mut tx = MpmcProducer::attach(smallest.clone()).unwrap();
    let mut rx = MpmcConsumer::attach(smallest).unwrap();
    tx.try_push(b"a").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"a"[..]);
}

/// One producer dead, another alive and idle: the queue is not disconnected, however long
/// the consumer waits or polls; once the second goes too, it is.
#[test]
fn a_dead_producer_beside_a_live_one_is_not_a_disconnect() {
    let name = ShmName::new("mpmc-one-dead");
    let _owner = MpmcQueue::create_named(&name.0, 8, SLOT).unwrap();
    let mut first = Peer::spawn("idle_producer", &[&name.0]);
    assert_eq!(first.recv(), "attached");
    let mut second = Peer::spawn("idle_producer", &[&name.0]);
    assert_eq!(second.recv(), "attached");
    let mut rx = MpmcConsumer::attach(open(&name.0)).unwrap();
    first.kill(); // side index 0 dead without detaching, index 1 alive
    for _ in 0..1000 {
        assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    }
    assert!(matches!(
        rx.pop_timeout(Duration::from_millis(300)),
        Err(QueueError::Timeout)
    ));
    second.kill();
    let end = bounded("Disconnected once both are dead", || rx.pop_blocking());
    assert!(matches!(end, Err(QueueError::Disconnected)));
}
