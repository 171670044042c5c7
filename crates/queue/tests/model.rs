//! Random operation sequences against a simple model (`VecDeque`), and random corruption
//! of every control word and record header: never a panic, never an out-of-bounds read.

use std::collections::VecDeque;
use std::sync::Arc;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, HeapMemory, Memory, MpmcConsumer, MpmcProducer,
    MpmcQueue, QueueError, SpscRing,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum SpscOp {
    Push(usize),
    Stage(usize),
    Flush,
    Pop,
    Peek,
    StageRelease,
    ConsumerFlush,
}

fn spsc_op() -> impl Strategy<Value = SpscOp> {
    prop_oneof![
        4 => (0usize..300).prop_map(SpscOp::Push),
        2 => (0usize..300).prop_map(SpscOp::Stage),
        1 => Just(SpscOp::Flush),
        4 => Just(SpscOp::Pop),
        1 => Just(SpscOp::Peek),
        1 => Just(SpscOp::StageRelease),
        1 => Just(SpscOp::ConsumerFlush),
    ]
}

/// What the MPMC model test does next.
#[derive(Debug, Clone)]
enum MpmcOp {
    Push(usize),
    Pop,
    PopInto(usize),
}

/// What the broadcast model test does next.
#[derive(Debug, Clone)]
enum BroadcastOp {
    Write(usize),
    Recv,
    RecvInto(usize),
}

fn mpmc_op() -> impl Strategy<Value = MpmcOp> {
    prop_oneof![
        (0usize..40).prop_map(MpmcOp::Push),
        Just(MpmcOp::Pop),
        (0usize..40).prop_map(MpmcOp::PopInto),
    ]
}

fn record(counter: &mut u32, len: usize) -> Vec<u8> {
    *counter += 1;
    (0..len)
        .map(|i| (*counter as usize * 31 + i) as u8)
        .collect()
}

/// Ring bytes of the SPSC model test.
const RING: usize = 1024;

/// The SPSC ring as byte positions, written from the layout's rules (docs/queue-layout.md), not
/// from the code: a record takes an 8-byte header and its payload rounded up to 8; one
/// that would cross the ring's end starts at the next lap, the rest of the lap padding;
/// the producer needs room for the record and an empty header word after it, and stops
/// short of the cache line holding the consumer's released position.
#[derive(Default)]
struct RingModel {
    /// The producer's position: the end of its last record, staged ones included.
    tail: u64,
    /// Where the consumer reads next.
    read: u64,
    /// What the consumer released to the producer.
    released: u64,
    /// Published records and where each ends.
    published: VecDeque<(Vec<u8>, u64)>,
    /// Records the producer staged but did not publish.
    staged: Vec<(Vec<u8>, u64)>,
}

/// Positions and record ends only: a failure names the state, not every payload byte.
impl std::fmt::Debug for RingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn ends<'a>(records: impl Iterator<Item = &'a (Vec<u8>, u64)>) -> Vec<(usize, u64)> {
            records.map(|(r, end)| (r.len(), *end)).collect()
        }
        f.debug_struct("RingModel")
            .field("tail", &self.tail)
            .field("read", &self.read)
            .field("released", &self.released)
            .field("published (len, end)", &ends(self.published.iter()))
            .field("staged (len, end)", &ends(self.staged.iter()))
            .finish()
    }
}

impl RingModel {
    /// Where a record of `len` payload bytes would end, if it fits.
    fn room(&self, len: usize) -> Option<u64> {
        let ring = RING as u64;
        let total = 8 + (len as u64).div_ceil(8) * 8;
        let lap_left = ring - self.tail % ring;
        let start = if total > lap_left {
            self.tail + lap_left
        } else {
            self.tail
        };
        let end = start + total;
        let consumer_line = self.released / 64 * 64;
        (end + 8 <= consumer_line + ring).then_some(end)
    }

    fn push(&mut self, record: Vec<u8>, end: u64, stage: bool) {
        self.tail = end;
        self.staged.push((record, end));
        if !stage {
            self.publish();
        }
    }

    fn publish(&mut self) {
        self.published.extend(self.staged.drain(..));
    }

    /// Takes the next published record; `release` frees its room (and that of any staged
    /// before it) at once.
    fn take(&mut self, release: bool) -> Option<Vec<u8>> {
        let (record, end) = self.published.pop_front()?;
        self.read = end;
        if release {
            self.released = end;
        }
        Some(record)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ipclane_testkit::proptest_cases(200)))]

    #[test]
    fn spsc_matches_a_vecdeque(ops in proptest::collection::vec(spsc_op(), 1..300)) {
        let mut tx_rx = SpscRing::heap(RING).unwrap();
        let (tx, rx) = (&mut tx_rx.0, &mut tx_rx.1);
        let mut model = RingModel::default();
        let mut counter = 0;
        for op in ops {
            match op {
                SpscOp::Push(len) | SpscOp::Stage(len) => {
                    let r = record(&mut counter, len);
                    let stage = matches!(op, SpscOp::Stage(_));
                    let room = model.room(len);
                    match tx.try_reserve(len) {
                        Ok(mut guard) => {
                            prop_assert!(room.is_some(), "a record of {} bytes accepted past the consumer: {:?}", len, model);
                            guard.write_at(0, &r).unwrap();
                            if stage {
                                guard.stage();
                            } else {
                                guard.commit();
                            }
                            model.push(r, room.unwrap(), stage);
                        }
                        Err(QueueError::Full) => prop_assert!(
                            room.is_none(),
                            "a record of {} bytes refused with room for it: {:?}", len, model
                        ),
                        Err(QueueError::TooLarge { .. }) => prop_assert!(len > tx.max_record_len()),
                        Err(e) => prop_assert!(false, "push: {e}"),
                    }
                }
                SpscOp::Flush => {
                    tx.flush();
                    model.publish();
                }
                SpscOp::Pop => match rx.try_pop() {
                    Ok(got) => prop_assert_eq!(Some(got.to_vec()), model.take(true)),
                    Err(QueueError::Empty) => prop_assert!(model.published.is_empty()),
                    Err(e) => prop_assert!(false, "pop: {e}"),
                },
                SpscOp::Peek => match rx.try_read() {
                    Ok(guard) => prop_assert_eq!(Some(&guard.to_vec()), model.published.front().map(|(r, _)| r)),
                    Err(QueueError::Empty) => prop_assert!(model.published.is_empty()),
                    Err(e) => prop_assert!(false, "peek: {e}"),
                },
                SpscOp::StageRelease => match rx.try_read() {
                    Ok(guard) => {
                        prop_assert_eq!(Some(guard.to_vec()), model.take(false));
                        guard.stage();
                    }
                    Err(QueueError::Empty) => prop_assert!(model.published.is_empty()),
                    Err(e) => prop_assert!(false, "stage: {e}"),
                },
                SpscOp::ConsumerFlush => {
                    rx.flush();
                    model.released = model.read;
                }
            }
        }
        drop(tx_rx.0); // publishes what was staged
        model.publish();
        while let Some(expected) = model.take(true) {
            prop_assert_eq!(tx_rx.1.try_pop().unwrap(), expected);
        }
        prop_assert!(matches!(tx_rx.1.try_pop(), Err(QueueError::Disconnected)));
    }

    #[test]
    fn mpmc_matches_a_vecdeque(ops in proptest::collection::vec(mpmc_op(), 1..300)) {
        let memory = MpmcQueue::heap_memory(8, 32).unwrap();
        let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
        let mut rx = MpmcConsumer::attach(memory).unwrap();
        let mut model = VecDeque::new();
        let mut counter = 0;
        for op in ops {
            match op {
                MpmcOp::Push(len) => {
                    let r = record(&mut counter, len);
                    match tx.try_push(&r) {
                        Ok(()) => model.push_back(r),
                        Err(QueueError::Full) => prop_assert_eq!(model.len(), 8),
                        Err(QueueError::TooLarge { .. }) => prop_assert!(len > 32),
                        Err(e) => prop_assert!(false, "push: {e}"),
                    }
                }
                MpmcOp::Pop => match rx.try_pop() {
                    Ok(got) => prop_assert_eq!(Some(got.to_vec()), model.pop_front()),
                    Err(QueueError::Empty) => prop_assert!(model.is_empty()),
                    Err(e) => prop_assert!(false, "pop: {e}"),
                },
                // Into a buffer: a record longer than it stays first in line.
                MpmcOp::PopInto(room) => {
                    let mut buf = vec![0u8; room];
                    match rx.try_pop_into(&mut buf) {
                        Ok(len) => prop_assert_eq!(Some(buf[..len].to_vec()), model.pop_front()),
                        Err(QueueError::Empty) => prop_assert!(model.is_empty()),
                        Err(QueueError::BufferTooSmall { len, capacity }) => {
                            prop_assert_eq!(model.front().map(Vec::len), Some(len));
                            prop_assert!(len > room && capacity == room);
                        }
                        Err(e) => prop_assert!(false, "pop into {room} bytes: {e}"),
                    }
                }
            }
        }
    }

    #[test]
    fn broadcast_readers_see_the_model_or_a_counted_lag(ops in proptest::collection::vec(prop_oneof![(1usize..24).prop_map(BroadcastOp::Write), Just(BroadcastOp::Recv), (0usize..24).prop_map(BroadcastOp::RecvInto)], 1..200)) {
        let memory = Broadcast::heap_memory(4, 24).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let mut reader = BroadcastReader::attach(memory).unwrap();
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut counter = 0;
        for op in ops {
            let room = match op {
                BroadcastOp::Write(len) => {
                    let r = record(&mut counter, len);
                    writer.write(&r).unwrap();
                    written.push(r);
                    continue;
                }
                BroadcastOp::Recv => None,
                BroadcastOp::RecvInto(room) => Some(room),
            };
            let at = reader.position() as usize;
            let got = match room {
                None => reader.try_recv().map(Vec::from),
                Some(room) => {
                    let mut buf = vec![0u8; room];
                    reader.try_recv_into(&mut buf).map(|len| buf[..len].to_vec())
                }
            };
            match got {
                Ok(got) => prop_assert_eq!(&got, &written[at]),
                Err(QueueError::Empty) => prop_assert_eq!(at, written.len()),
                Err(QueueError::Lagged { missed }) => {
                    prop_assert!(written.len() - at > 3);
                    prop_assert_eq!(reader.position(), at as u64 + missed);
                    prop_assert_eq!(reader.position() as usize, written.len() - 3);
                }
                // A record longer than the buffer stays next.
                Err(QueueError::BufferTooSmall { len, capacity }) => {
                    prop_assert_eq!(Some(capacity), room);
                    prop_assert!(len > capacity && len == written[at].len());
                    prop_assert_eq!(reader.position() as usize, at);
                }
                Err(e) => prop_assert!(false, "recv: {e}"),
            }
        }
        if let Some(last) = written.last() {
            prop_assert_eq!(&reader.latest().unwrap(), last);
        }
    }
}

/// Overwrites the 8-byte word at `offset` of `memory`.
fn poke(memory: &HeapMemory, offset: usize, value: u64) {
    assert!(offset + 8 <= memory.len());
    // SAFETY: in bounds (asserted) and 8-aligned (offsets are multiples of 8 from an
    // ALIGN-aligned base); this test plays a hostile peer writing shared memory.
    unsafe {
        memory
            .as_ptr()
            .as_ptr()
            .add(offset)
            .cast::<u64>()
            .write_volatile(value)
    };
}

fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1u64 << 63),
        Just((1u64 << 63) - 8),
        Just(1u64 << 32),
        Just(7u64),
        Just(1024u64),
        Just((1u64 << 32) | 4096),
        Just((2u64 << 32) | 100),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ipclane_testkit::proptest_cases(300)))]

    /// Any control word or record header overwritten with anything: every call returns
    /// (possibly an error), nothing panics, reads stay in bounds.
    #[test]
    fn corrupted_spsc_never_panics(word in 0usize..SpscRing::required_len(512) / 8, value in interesting(), pushes in 0usize..20) {
        let memory = Arc::new(HeapMemory::new(SpscRing::required_len(512)));
        SpscRing::init(&*memory, 512).unwrap();
        {
            let mut tx = ipclane_queue::Producer::attach(memory.clone()).unwrap();
            for i in 0..pushes {
                let _ = tx.try_push(&vec![i as u8; i * 5]);
            }
            std::mem::forget(tx); // leave the side attached, as a crashed producer would
        }
        poke(&memory, word * 8, value);
        if let Ok(mut rx) = ipclane_queue::Consumer::attach(memory.clone()) {
            for _ in 0..40 {
                match rx.try_pop() {
                    Ok(r) => prop_assert!(r.len() <= 256),
                    Err(QueueError::Empty | QueueError::Disconnected | QueueError::Corrupted { .. }) => break,
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }
        if let Ok(mut tx) = ipclane_queue::Producer::attach(memory.clone()) {
            for _ in 0..40 {
                let _ = tx.try_push(&[1; 100]);
            }
        }
    }

    #[test]
    fn corrupted_mpmc_never_panics(word in 0usize..(17408 + 8 * 48) / 8, value in interesting(), pushes in 0usize..10) {
        let memory = MpmcQueue::heap_memory(8, 32).unwrap();
        let mut tx = MpmcProducer::attach(memory.clone()).unwrap();
        for i in 0..pushes {
            let _ = tx.try_push(&vec![i as u8; i * 3]);
        }
        poke(&memory, word * 8, value);
        if let Ok(mut rx) = MpmcConsumer::attach(memory.clone()) {
            for _ in 0..20 {
                match rx.try_pop() {
                    Ok(r) => prop_assert!(r.len() <= 32),
                    // Corrupted counts can make the producers look gone: a clean outcome.
                    Err(QueueError::Empty | QueueError::Disconnected | QueueError::Corrupted { .. }) => break,
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }
        for _ in 0..20 {
            let _ = tx.try_push(&[2; 16]);
        }
    }

    #[test]
    fn corrupted_broadcast_never_panics(word in 0usize..(640 + 4 * 48) / 8, value in interesting(), writes in 0usize..10) {
        let memory = Broadcast::heap_memory(4, 32).unwrap();
        let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
        let mut reader = BroadcastReader::attach(memory.clone()).unwrap();
        reader.seek_oldest().unwrap();
        for i in 0..writes {
            writer.write(&vec![i as u8; i * 3]).unwrap();
        }
        poke(&memory, word * 8, value);
        for _ in 0..20 {
            match reader.try_recv() {
                Ok(r) => prop_assert!(r.len() <= 32),
                Err(QueueError::Empty | QueueError::Corrupted { .. } | QueueError::Lagged { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        let _ = reader.latest();
        if let Ok(mut fresh) = BroadcastReader::attach(memory) {
            let _ = fresh.seek_oldest();
            for _ in 0..20 {
                let _ = fresh.try_recv();
            }
        }
    }
}
