//! The last-values table against a simple model (a `HashMap` of key to tag and value):
//! random sets, gets, short buffers, keys out of range, values too large, writers and
//! readers attaching anew; and random words written over the whole table, after which
//! every read is a valid value or a typed error, never a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use ipclane_queue::{HeapMemory, LastValueReader, LastValueWriter, LastValues, Memory, QueueError};
use proptest::prelude::*;

/// Keys in the table.
const KEYS: usize = 5;
/// Value bytes asked for: not a multiple of 8, so the table rounds it up.
const VALUE: usize = 20;
/// What the table makes of `VALUE`.
const MAX: usize = 24;

#[derive(Debug, Clone)]
enum Op {
    /// Set key (possibly out of range) to a value of this length (possibly too long).
    Set { key: usize, tag: u64, len: usize },
    /// Get a key with one of the two readers.
    Get { key: usize, reader: usize },
    /// Get a key into a buffer of this length.
    GetInto { key: usize, buf: usize },
    /// Drop the writer and attach a new one.
    NewWriter,
    /// Replace one of the readers with a newly attached one.
    NewReader(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS + 2;
    prop_oneof![
        5 => (key.clone(), any::<u64>(), 0..MAX + 6).prop_map(|(key, tag, len)| Op::Set { key, tag, len }),
        4 => (key.clone(), 0..2usize).prop_map(|(key, reader)| Op::Get { key, reader }),
        2 => (key, 0..MAX + 2).prop_map(|(key, buf)| Op::GetInto { key, buf }),
        1 => Just(Op::NewWriter),
        1 => (0..2usize).prop_map(Op::NewReader),
    ]
}

/// The `n`-th value set, of `len` bytes: different from every other.
fn value(n: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as usize * 37 + i * 11) as u8).collect()
}

fn out_of_range<T: std::fmt::Debug>(result: Result<T, QueueError>, key: usize) {
    assert!(
        matches!(result, Err(QueueError::KeyOutOfRange { key: k, keys: KEYS }) if k == key),
        "key {key}: {result:?}"
    );
}

fn run(ops: &[Op]) {
    let memory = LastValues::heap_memory(KEYS, VALUE).unwrap();
    let mut writer = Some(LastValueWriter::attach(memory.clone()).unwrap());
    let mut readers = [
        LastValueReader::attach(memory.clone()).unwrap(),
        LastValueReader::attach(memory.clone()).unwrap(),
    ];
    assert_eq!(readers[0].max_value_len(), MAX);
    let mut model: HashMap<usize, (u64, Vec<u8>)> = HashMap::new();
    let mut sets = 0u32;
    for op in ops {
        match *op {
            Op::Set { key, tag, len } => {
                sets += 1;
                let v = value(sets, len);
                let result = writer.as_mut().unwrap().set(key, tag, &v);
                if key >= KEYS {
                    out_of_range(result, key);
                } else if len > MAX {
                    assert!(
                        matches!(result, Err(QueueError::TooLarge { len: l, max: MAX }) if l == len),
                        "{result:?}"
                    );
                } else {
                    result.unwrap();
                    model.insert(key, (tag, v));
                }
            }
            Op::Get { key, reader } => {
                let got = readers[reader].get(key);
                if key >= KEYS {
                    out_of_range(got, key);
                } else {
                    let got = got.unwrap().map(|(tag, v)| (tag, v.to_vec()));
                    assert_eq!(got.as_ref(), model.get(&key), "key {key}");
                }
            }
            Op::GetInto { key, buf } => {
                let mut out = vec![0xa5; buf];
                let got = readers[0].get_into(key, &mut out);
                if key >= KEYS {
                    out_of_range(got, key);
                    continue;
                }
                match (model.get(&key), got) {
                    (None, Ok(None)) => {}
                    (Some((tag, v)), Ok(Some((t, len)))) => {
                        assert_eq!((t, &out[..len]), (*tag, &v[..]), "key {key}")
                    }
                    (Some((_, v)), Err(QueueError::BufferTooSmall { len, capacity })) => {
                        assert!(v.len() > buf, "a {}-byte value fits {buf} bytes", v.len());
                        assert_eq!((len, capacity), (v.len(), buf));
                    }
                    (expected, got) => panic!("key {key}: {got:?}, expected {expected:?}"),
                }
            }
            Op::NewWriter => {
                drop(writer.take());
                writer = Some(LastValueWriter::attach(memory.clone()).unwrap());
            }
            Op::NewReader(i) => readers[i] = LastValueReader::attach(memory.clone()).unwrap(),
        }
    }
    // A second writer is refused while this one lives.
    assert!(matches!(
        LastValueWriter::attach(memory),
        Err(QueueError::AlreadyClaimed { side: "writer" })
    ));
}

/// The table's words, as a hostile process would see them.
fn words(memory: &HeapMemory) -> &[AtomicU64] {
    // SAFETY: the allocation is 128-aligned and `len` bytes long (a multiple of 8 here:
    // the control block and every entry are); the table accesses it only through atomics
    // of the same size; the borrow keeps it alive.
    unsafe {
        std::slice::from_raw_parts(
            memory.as_ptr().as_ptr().cast::<AtomicU64>(),
            memory.len() / 8,
        )
    }
}

/// Every read after `writes` (word index past the meta block, value) were stored over a
/// table holding values: a value of at most `MAX` bytes, `None`, or a typed error.
fn survive(writes: &[(usize, u64)]) {
    let memory = LastValues::heap_memory(KEYS, VALUE).unwrap();
    let mut writer = LastValueWriter::attach(memory.clone()).unwrap();
    let reader = LastValueReader::attach(memory.clone()).unwrap();
    for key in 0..KEYS {
        writer
            .set(key, key as u64, &value(key as u32, key * 4))
            .unwrap();
    }
    let table = words(&memory);
    assert_eq!(table.len(), LastValues::required_len(KEYS, VALUE) / 8);
    for &(at, word) in writes {
        // Past the 128-byte meta block (read only on attach, and checked there).
        table[16 + at % (table.len() - 16)].store(word, Ordering::Relaxed);
        for key in 0..KEYS {
            match reader.get(key) {
                Ok(None) => {}
                Ok(Some((_, v))) => assert!(v.len() <= MAX, "a {}-byte value", v.len()),
                Err(QueueError::Corrupted { reason }) => {
                    assert!(reason.contains(&format!("key {key}")), "{reason}")
                }
                Err(QueueError::Busy { key: k }) => assert_eq!(k, key),
                Err(e) => panic!("key {key}: {e}"),
            }
            let mut buf = [0u8; MAX];
            match reader.get_into(key, &mut buf) {
                Ok(None | Some(_))
                | Err(QueueError::Corrupted { .. } | QueueError::Busy { .. }) => {}
                Err(e) => panic!("key {key}: {e}"),
            }
        }
    }
    // The writer read nothing back: its values are whole, whatever the words held.
    for key in 0..KEYS {
        writer.set(key, 100 + key as u64, &value(7, MAX)).unwrap();
        let (tag, v) = reader.get(key).unwrap().unwrap();
        assert_eq!((tag, &v[..]), (100 + key as u64, &value(7, MAX)[..]));
    }
    // A writer attaching over garbage continues or refuses; never panics.
    drop(writer);
    match LastValueWriter::attach(memory) {
        Ok(_) | Err(QueueError::Corrupted { .. }) => {}
        Err(e) => panic!("attach: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ipclane_testkit::proptest_cases(300)))]

    #[test]
    fn last_values_match_a_map(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops);
    }

    #[test]
    fn random_words_over_the_table_give_values_or_typed_errors(
        writes in proptest::collection::vec(
            (any::<usize>(), prop_oneof![
                any::<u64>(),
                0..64u64,
                Just(u64::MAX),
                (60..64u32).prop_map(|b| 1u64 << b),
            ]),
            1..40,
        )
    ) {
        survive(&writes);
    }
}
