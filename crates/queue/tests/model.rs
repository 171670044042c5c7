//! Random operation sequences against a simple model (`VecDeque`), and random corruption
//! of every control word and record header: never a panic, never an out-of-bounds read.

use std::collections::VecDeque;
use std::sync::Arc;

use ipclane_queue::{Broadcast, HeapMemory, Memory, MpmcQueue, QueueError, SpscRing};
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

fn record(counter: &mut u32, len: usize) -> Vec<u8> {
    *counter += 1;
    (0..len)
        .map(|i| (*counter as usize * 31 + i) as u8)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ipclane_testkit::proptest_cases(200)))]

    #[test]
    fn spsc_matches_a_vecdeque(ops in proptest::collection::vec(spsc_op(), 1..300)) {
        let (mut tx, mut rx) = SpscRing::heap(1024).unwrap();
        // Published records, staged records, records the consumer moved past but did not
        // release yet (they still take room).
        let mut published: VecDeque<Vec<u8>> = VecDeque::new();
        let mut staged: Vec<Vec<u8>> = Vec::new();
        // Records the consumer staged (read, not yet released): they still take room.
        let mut unreleased = 0usize;
        let mut counter = 0;
        for op in ops {
            match op {
                SpscOp::Push(len) | SpscOp::Stage(len) => {
                    let r = record(&mut counter, len);
                    let stage = matches!(op, SpscOp::Stage(_));
                    match tx.reserve(len) {
                        Ok(mut guard) => {
                            guard.write(0, &r).unwrap();
                            if stage {
                                guard.stage();
                                staged.push(r);
                            } else {
                                guard.commit();
                                published.extend(staged.drain(..));
                                published.push_back(r);
                            }
                        }
                        // Full only while something takes room: the largest record fits an
                        // empty ring at every offset.
                        Err(QueueError::Full) => prop_assert!(
                            !published.is_empty() || !staged.is_empty() || unreleased > 0,
                            "a record of {} bytes refused by an empty ring", len
                        ),
                        Err(QueueError::TooLarge { .. }) => prop_assert!(len > tx.max_record_len()),
                        Err(e) => prop_assert!(false, "push: {e}"),
                    }
                }
                SpscOp::Flush => {
                    tx.flush();
                    published.extend(staged.drain(..));
                }
                SpscOp::Pop => match rx.try_pop() {
                    Ok(got) => prop_assert_eq!(Some(got), published.pop_front()),
                    Err(QueueError::Empty) => prop_assert!(published.is_empty()),
                    Err(e) => prop_assert!(false, "pop: {e}"),
                },
                SpscOp::Peek => match rx.read() {
                    Ok(guard) => prop_assert_eq!(Some(&guard.to_vec()), published.front()),
                    Err(QueueError::Empty) => prop_assert!(published.is_empty()),
                    Err(e) => prop_assert!(false, "peek: {e}"),
                },
                SpscOp::StageRelease => match rx.read() {
                    Ok(guard) => {
                        prop_assert_eq!(Some(guard.to_vec()), published.pop_front());
                        guard.stage();
                        unreleased += 1;
                    }
                    Err(QueueError::Empty) => prop_assert!(published.is_empty()),
                    Err(e) => prop_assert!(false, "stage: {e}"),
                },
                SpscOp::ConsumerFlush => {
                    rx.flush();
                    unreleased = 0;
                }
            }
        }
        drop(tx); // publishes what was staged
        published.extend(staged.drain(..));
        while let Some(expected) = published.pop_front() {
            prop_assert_eq!(rx.try_pop().unwrap(), expected);
        }
        prop_assert!(matches!(rx.try_pop(), Err(QueueError::Disconnected)));
    }

    #[test]
    fn mpmc_matches_a_vecdeque(ops in proptest::collection::vec(prop_oneof![(0usize..40).prop_map(Some), Just(None)], 1..300)) {
        let memory = MpmcQueue::heap(8, 32).unwrap();
        let mut tx = MpmcQueue::producer(memory.clone()).unwrap();
        let mut rx = MpmcQueue::consumer(memory).unwrap();
        let mut model = VecDeque::new();
        let mut counter = 0;
        for op in ops {
            match op {
                Some(len) => {
                    let r = record(&mut counter, len);
                    match tx.try_push(&r) {
                        Ok(()) => model.push_back(r),
                        Err(QueueError::Full) => prop_assert_eq!(model.len(), 8),
                        Err(QueueError::TooLarge { .. }) => prop_assert!(len > 32),
                        Err(e) => prop_assert!(false, "push: {e}"),
                    }
                }
                None => match rx.try_pop() {
                    Ok(got) => prop_assert_eq!(Some(got), model.pop_front()),
                    Err(QueueError::Empty) => prop_assert!(model.is_empty()),
                    Err(e) => prop_assert!(false, "pop: {e}"),
                },
            }
        }
    }

    #[test]
    fn broadcast_readers_see_the_model_or_a_counted_lag(ops in proptest::collection::vec(prop_oneof![(1usize..24).prop_map(Some), Just(None)], 1..200)) {
        let memory = Broadcast::heap(4, 24).unwrap();
        let mut writer = Broadcast::writer(memory.clone()).unwrap();
        let mut reader = Broadcast::reader(memory).unwrap();
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut counter = 0;
        for op in ops {
            match op {
                Some(len) => {
                    let r = record(&mut counter, len);
                    writer.write(&r).unwrap();
                    written.push(r);
                }
                None => {
                    let at = reader.position() as usize;
                    match reader.try_recv() {
                        Ok(got) => prop_assert_eq!(&got, &written[at]),
                        Err(QueueError::Empty) => prop_assert_eq!(at, written.len()),
                        Err(QueueError::Lagged { missed }) => {
                            prop_assert!(written.len() - at > 3);
                            prop_assert_eq!(reader.position(), at as u64 + missed);
                            prop_assert_eq!(reader.position() as usize, written.len() - 3);
                        }
                        Err(e) => prop_assert!(false, "recv: {e}"),
                    }
                }
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
        let memory = MpmcQueue::heap(8, 32).unwrap();
        let mut tx = MpmcQueue::producer(memory.clone()).unwrap();
        for i in 0..pushes {
            let _ = tx.try_push(&vec![i as u8; i * 3]);
        }
        poke(&memory, word * 8, value);
        if let Ok(mut rx) = MpmcQueue::consumer(memory.clone()) {
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
    fn corrupted_broadcast_never_panics(word in 0usize..(512 + 4 * 48) / 8, value in interesting(), writes in 0usize..10) {
        let memory = Broadcast::heap(4, 32).unwrap();
        let mut writer = Broadcast::writer(memory.clone()).unwrap();
        let mut reader = Broadcast::reader(memory.clone()).unwrap();
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
        if let Ok(mut fresh) = Broadcast::reader(memory) {
            let _ = fresh.seek_oldest();
            for _ in 0..20 {
                let _ = fresh.try_recv();
            }
        }
    }
}
