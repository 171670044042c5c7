//! Loom models of every lock-free protocol of the crate. Run with
//!
//! ```text
//! RUSTFLAGS="--cfg ipclane_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ipclane-queue --test loom --release
//! ```
//!
//! (`scripts/test.sh` does, which `.ci/run` calls.) Loom explores the thread interleavings and memory orderings the
//! models allow; the data those structures copy is checked for content, so a torn,
//! duplicated, lost or reordered record fails the model.

#![cfg(ipclane_loom)]

use std::sync::Arc;
use std::time::Duration;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, Doorbell, HeapMemory, LastValueReader,
    LastValueWriter, LastValues, MpmcConsumer, MpmcProducer, MpmcQueue, Producer, QueueError,
    SpscRing, WaitStrategy,
};
use loom::thread;

fn record(i: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| i.wrapping_mul(17).wrapping_add(j as u8))
        .collect()
}

fn spsc(capacity: usize) -> (Producer<HeapMemory>, Consumer<HeapMemory>) {
    let memory = HeapMemory::new(SpscRing::required_len(capacity));
    SpscRing::init(&memory, capacity).unwrap();
    let memory = Arc::new(memory);
    (
        Producer::attach(memory.clone()).unwrap(),
        Consumer::attach(memory).unwrap(),
    )
}

#[test]
fn spsc_wraps_without_loss_or_tearing() {
    loom::model(|| {
        // 256-byte ring (the smallest), 72-byte records (8 header + 64 payload): the
        // fourth record does not fit before the end and wraps behind a padding record.
        let (mut tx, mut rx) = spsc(256);
        let producer = thread::spawn(move || {
            for i in 0..4u8 {
                loop {
                    match tx.try_push(&record(i, 64)) {
                        Ok(()) => break,
                        Err(QueueError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        for i in 0..4u8 {
            loop {
                match rx.try_pop() {
                    Ok(got) => {
                        assert_eq!(got, record(i, 64));
                        break;
                    }
                    Err(QueueError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        producer.join().unwrap();
        // After the wrap, ring offset 72 still holds the second record's header from the
        // first lap: the producer must have emptied that word before publishing.
        assert!(matches!(rx.try_pop(), Err(QueueError::Disconnected)));
    });
}

#[test]
fn spsc_blocking_pop_never_loses_a_wake_up() {
    // Four preemptions whatever LOOM_MAX_PREEMPTIONS says (half a second; six take 8 s):
    // with the waiter re-arming before it read the futex value, three were enough for a
    // lost wake-up, which the default bound of 2 never reached.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(4).max(4));
    model.check(|| {
        let (mut tx, mut rx) = spsc(256);
        rx.set_wait_strategy(WaitStrategy {
            initial_spin: Duration::ZERO,
            min_spin: Duration::ZERO,
            max_spin: Duration::ZERO,
            ..WaitStrategy::default()
        });
        let producer = thread::spawn(move || {
            // Two notifications: the second may find the first wake-up still in flight
            // and skip its system call, or find the consumer asleep again.
            tx.try_push(b"wake").unwrap();
            tx.try_push(b"again").unwrap();
            // Keep the producer attached so that only the notification can end the wait.
            tx
        });
        assert_eq!(rx.pop_blocking().unwrap(), &b"wake"[..]);
        assert_eq!(rx.pop_blocking().unwrap(), &b"again"[..]);
        drop(producer.join().unwrap());
        assert!(matches!(rx.pop_blocking(), Err(QueueError::Disconnected)));
    });
}

/// A doorbell as a socket is one: rings accumulate until the waiter drains them, and an
/// await returns once a ring it has not drained is there (a lost one deadlocks the model).
#[derive(Default)]
struct Bell {
    rings: loom::sync::Mutex<u32>,
    rung: loom::sync::Condvar,
}

impl std::fmt::Debug for Bell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bell")
    }
}

impl Doorbell for Bell {
    fn ring(&self) {
        *self.rings.lock().unwrap() += 1;
        self.rung.notify_one();
    }
}

impl Bell {
    /// Awaits a ring after the `drained` first ones; returns how many it drained then.
    fn await_ring(&self, drained: u32) -> u32 {
        let mut rings = self.rings.lock().unwrap();
        while *rings == drained {
            rings = self.rung.wait(rings).unwrap();
        }
        *rings
    }
}

/// An async wait's handle as the model drives it: a look that never waits, and the
/// arming and disarming of its async wait.
trait AsyncTake {
    fn take(&mut self) -> Result<Vec<u8>, QueueError>;
    fn arm(&mut self);
    fn disarm(&mut self);
}

impl AsyncTake for Consumer<HeapMemory> {
    fn take(&mut self) -> Result<Vec<u8>, QueueError> {
        self.try_pop().map(|record| record.to_vec())
    }
    fn arm(&mut self) {
        self.arm_async();
    }
    fn disarm(&mut self) {
        self.disarm_async();
    }
}

/// The async receive of `ipclane::tokio`: arm, look once more, await the bell; once it
/// rang, drain it, disarm, and begin again.
fn take_async(
    handle: &mut impl AsyncTake,
    bell: &Bell,
    drained: &mut u32,
) -> Result<Vec<u8>, QueueError> {
    let mut armed = false;
    loop {
        match handle.take() {
            Err(QueueError::Empty) => {}
            done => {
                handle.disarm();
                return done;
            }
        }
        if armed {
            *drained = bell.await_ring(*drained);
            handle.disarm();
            armed = false;
        } else {
            handle.arm();
            armed = true;
        }
    }
}

/// The async form of the consumer's wait: woken by the bell, never the futex, twice (the
/// second notification may find the first ring not yet heard), then by the close.
#[test]
fn spsc_async_pop_never_loses_a_wake_up() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(3).max(3));
    model.check(|| {
        let (mut tx, mut rx) = spsc(256);
        let bell = Arc::new(Bell::default());
        tx.set_doorbell(bell.clone());
        let producer = thread::spawn(move || {
            tx.try_push(b"wake").unwrap();
            tx.try_push(b"again").unwrap();
            tx
        });
        let mut drained = 0;
        assert_eq!(take_async(&mut rx, &bell, &mut drained).unwrap(), b"wake");
        assert_eq!(take_async(&mut rx, &bell, &mut drained).unwrap(), b"again");
        let tx = producer.join().unwrap();
        let closer = thread::spawn(move || drop(tx));
        assert!(matches!(
            take_async(&mut rx, &bell, &mut drained),
            Err(QueueError::Disconnected)
        ));
        closer.join().unwrap();
    });
}

/// Parks at once: only a notification can end a wait (loom's futex model has no timeout).
const PARK_AT_ONCE: WaitStrategy = WaitStrategy {
    initial_spin: Duration::ZERO,
    min_spin: Duration::ZERO,
    max_spin: Duration::ZERO,
    spin_worth: 0,
    wake_cost: Duration::from_micros(50),
    liveness_period: Duration::from_millis(10),
    yield_every: Duration::MAX,
    share_cpus: false,
};

/// The producer's wait on a full ring, woken by the consumer's pops.
#[test]
fn spsc_blocking_push_never_loses_a_wake_up() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(3).max(3));
    model.check(|| {
        let (mut tx, mut rx) = spsc(256);
        tx.set_wait_strategy(PARK_AT_ONCE);
        // Fill the 256-byte ring with the largest records (the producer keeps a line clear
        // of the consumer); the next one must wait for the consumer.
        let len = tx.max_record_len();
        let mut queued = 0u8;
        while tx.try_push(&record(queued, len)).is_ok() {
            queued += 1;
        }
        let consumer = thread::spawn(move || {
            for i in 0..=queued {
                loop {
                    match rx.try_pop() {
                        Ok(got) => {
                            assert_eq!(got, record(i, len));
                            break;
                        }
                        Err(QueueError::Empty) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            rx
        });
        tx.push_blocking(&record(queued, len)).unwrap();
        drop(consumer.join().unwrap());
    });
}

/// A board entry's bit: the reader is parked.
const PARKED: u8 = 1;
/// A board entry's bit: the parked reader was rung since it parked.
const RUNG: u8 = 2;

/// The writer's doorbell of a broadcast ring with async readers, as the facade's table of
/// bells is one: each reader says it is parked before it arms and that it is not (nor
/// rung) after it disarms, and a ring marks every parked reader not yet rung as rung and
/// rings its bell (once per parking, so a bell holds at most one of its rings).
#[derive(Debug, Default)]
struct Board {
    readers: Vec<(loom::sync::atomic::AtomicU8, Arc<Bell>)>,
}

impl Doorbell for Board {
    fn ring(&self) {
        use loom::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
        for (entry, bell) in &self.readers {
            let word = entry.load(Acquire);
            if word == PARKED
                && entry
                    .compare_exchange(word, word | RUNG, AcqRel, Relaxed)
                    .is_ok()
            {
                bell.ring();
            }
        }
    }
}

/// A broadcast reader as `ipclane::tokio::Subscriber` waits: parked on the board (its
/// entry) before it arms, and unparked after it disarms.
struct Parked<'a> {
    reader: BroadcastReader<HeapMemory>,
    entry: &'a loom::sync::atomic::AtomicU8,
}

impl AsyncTake for Parked<'_> {
    fn take(&mut self) -> Result<Vec<u8>, QueueError> {
        self.reader.try_recv().map(|record| record.to_vec())
    }
    fn arm(&mut self) {
        self.entry
            .store(PARKED, loom::sync::atomic::Ordering::Release);
        self.reader.arm_async();
    }
    fn disarm(&mut self) {
        self.reader.disarm_async();
        self.entry.store(0, loom::sync::atomic::Ordering::Release);
    }
}

/// Two async readers of one ring, sharing its one `rung` flag: whichever re-arms, the
/// next write must ring both that are parked (a reader whose ring was swallowed by the
/// other's flag deadlocks the model: its bell never rings).
#[test]
fn broadcast_two_async_readers_are_both_rung() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(2).max(2));
    model.check(|| {
        let memory = Broadcast::heap_memory(4, 16).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let board = Arc::new(Board {
            readers: (0..2).map(|_| Default::default()).collect(),
        });
        writer.set_doorbell(board.clone());
        let readers: Vec<_> = (0..2)
            .map(|me| {
                let reader = BroadcastReader::attach(memory.clone()).unwrap();
                let board = board.clone();
                thread::spawn(move || {
                    let (entry, bell) = &board.readers[me];
                    let mut reader = Parked { reader, entry };
                    let mut drained = 0;
                    for i in 0..2 {
                        let got = take_async(&mut reader, bell, &mut drained).unwrap();
                        assert_eq!(got, record(i, 16));
                    }
                })
            })
            .collect();
        writer.write(&record(0, 16)).unwrap();
        writer.write(&record(1, 16)).unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        drop(writer);
    });
}

/// A broadcast reader's wait, woken by the writer (twice, as in the SPSC model).
#[test]
fn broadcast_blocking_recv_never_loses_a_wake_up() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(3).max(3));
    model.check(|| {
        let memory = Broadcast::heap_memory(4, 16).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let mut reader = BroadcastReader::attach(memory).unwrap();
        reader.set_wait_strategy(PARK_AT_ONCE);
        let w = thread::spawn(move || {
            writer.write(&record(0, 16)).unwrap();
            writer.write(&record(1, 16)).unwrap();
            writer // stays attached: only the notifications can end the waits
        });
        assert_eq!(reader.recv_blocking().unwrap(), record(0, 16));
        assert_eq!(reader.recv_blocking().unwrap(), record(1, 16));
        drop(w.join().unwrap());
    });
}

/// Two readers asleep on one ring: the writer wakes one, which wakes the other (the chain
/// of `wait::word`); a chain that stopped early, or a wake-up that went to a reader that
/// did not need it, leaves a reader asleep for good (the model's futex has no timeout).
#[test]
fn broadcast_two_sleeping_readers_are_both_woken() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(2).max(2));
    model.check(|| {
        let memory = Broadcast::heap_memory(4, 16).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
                reader.set_wait_strategy(PARK_AT_ONCE);
                thread::spawn(move || {
                    assert_eq!(reader.recv_blocking().unwrap(), record(0, 16));
                    assert_eq!(reader.recv_blocking().unwrap(), record(1, 16));
                })
            })
            .collect();
        writer.write(&record(0, 16)).unwrap();
        writer.write(&record(1, 16)).unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        drop(writer);
    });
}

/// Slots reused: three records through two slots, so the producer writes a slot the
/// consumer has just handed back (the consumer-to-producer direction).
#[test]
fn mpmc_slots_are_reused_without_loss_or_tearing() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(2).max(2));
    model.check(|| {
        let memory = MpmcQueue::heap_memory(2, 8).unwrap();
        let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
        let mut rx = MpmcConsumer::attach(memory).unwrap();
        let producer = thread::spawn(move || {
            for i in 0..3u8 {
                loop {
                    match tx.try_push(&record(i, 8)) {
                        Ok(()) => break,
                        Err(QueueError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            tx
        });
        for i in 0..3u8 {
            loop {
                match rx.try_pop() {
                    Ok(got) => {
                        assert_eq!(got, record(i, 8), "record {i} in order, intact");
                        break;
                    }
                    Err(QueueError::Empty) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        drop(producer.join().unwrap());
    });
}

#[test]
fn mpmc_two_producers_two_consumers() {
    // Five threads: one preemption per execution keeps the search to minutes.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let memory = MpmcQueue::heap_memory(2, 8).unwrap();
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
                thread::spawn(move || {
                    loop {
                        match tx.try_push(&record(p, 8)) {
                            Ok(()) => break,
                            Err(QueueError::Full) => thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        // Consumers make a bounded number of attempts (loom needs loops that end); what
        // they leave is drained at the end.
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        match rx.try_pop() {
                            Ok(record) => got.push(record),
                            // Disconnected: producers gone and the other consumer took the rest.
                            Err(QueueError::Empty | QueueError::Disconnected) => {
                                thread::yield_now()
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    // The handle stays attached until the producers are done, so that
                    // they never see every consumer gone.
                    (got, rx)
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let (got, handles): (Vec<_>, Vec<_>) =
            consumers.into_iter().map(|c| c.join().unwrap()).unzip();
        let mut got: Vec<Vec<u8>> = got.into_iter().flatten().map(Vec::from).collect();
        drop(handles);
        let mut rx = MpmcConsumer::attach(memory.clone()).unwrap();
        while let Ok(record) = rx.try_pop() {
            got.push(record.into());
        }
        got.sort();
        let mut expected = vec![record(0, 8), record(1, 8)];
        expected.sort();
        assert_eq!(got, expected, "each record exactly once, never torn");
    });
}

#[test]
fn broadcast_reader_is_lapped_but_never_torn() {
    loom::model(|| {
        let memory = Broadcast::heap_memory(2, 16).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let mut reader = BroadcastReader::attach(memory).unwrap();
        let w = thread::spawn(move || {
            for i in 0..3u8 {
                writer.write(&record(i, 16)).unwrap();
            }
            writer
        });
        let mut last: Option<u64> = None;
        for _ in 0..3 {
            let at = reader.position();
            match reader.try_recv() {
                Ok(got) => {
                    assert_eq!(got, record(at as u8, 16), "record {at} intact");
                    assert!(last.is_none_or(|l| at > l), "in order");
                    last = Some(at);
                }
                Err(QueueError::Empty) => thread::yield_now(),
                Err(QueueError::Lagged { missed }) => assert!(missed >= 1),
                Err(e) => panic!("{e}"),
            }
        }
        drop(w.join().unwrap());
    });
}

/// One key set twice while a reader reads it (tag 1: 16 bytes derived from the tag; tag 2:
/// 8 bytes, so that a stale length or word shows too): every value the reader returns is
/// one the writer set, whole, under its own tag, and tags never go back.
#[test]
fn last_values_reader_never_sees_a_torn_value() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(model.preemption_bound.unwrap_or(3).max(3));
    model.check(|| {
        let memory = LastValues::heap_memory(1, 16).unwrap();
        let mut writer = LastValueWriter::attach(memory.clone()).unwrap();
        let reader = LastValueReader::attach(memory).unwrap();
        let value = |tag: u64| record(tag as u8, 24 - 8 * tag as usize);
        let w = thread::spawn(move || {
            for tag in 1..=2u64 {
                writer.set(0, tag, &value(tag)).unwrap();
            }
            writer
        });
        let mut last = 0u64;
        for _ in 0..2 {
            match reader.get(0).unwrap() {
                None => assert_eq!(last, 0, "unset after a value"),
                Some((tag, got)) => {
                    assert!((1..=2).contains(&tag), "tag {tag}");
                    assert_eq!(got, value(tag), "value {tag} whole");
                    assert!(tag >= last, "tag {tag} after {last}");
                    last = tag;
                }
            }
        }
        drop(w.join().unwrap());
        assert_eq!(
            reader.get(0).unwrap().map(|(tag, v)| (tag, v.to_vec())),
            Some((2, value(2)))
        );
    });
}
