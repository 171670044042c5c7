//! A broadcast reader's own controls: its wait strategy and counters, moving to the
//! oldest record, and whether the writer is there.

use std::time::Duration;

use ipclane_queue::{Broadcast, BroadcastReader, BroadcastWriter, QueueError, WaitStrategy};
use ipclane_testkit::bounded;

#[test]
fn a_reader_waits_as_told_and_counts_its_sleeps_and_the_writers_wakes() {
    let memory = Broadcast::heap_memory(4, 8).unwrap();
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory).unwrap();
    assert_eq!(
        reader.wait_stats().spin_budget,
        WaitStrategy::default().initial_spin
    );
    assert_eq!(
        (reader.wait_stats().parks, writer.wait_stats().wakes),
        (0, 0)
    );
    // Told to spin for 20 s, it takes a record written 50 ms later without sleeping.
    let spin = Duration::from_secs(20);
    reader.set_wait_strategy(WaitStrategy {
        initial_spin: spin,
        max_spin: spin,
        ..WaitStrategy::default()
    });
    assert_eq!(reader.wait_stats().spin_budget, spin);
    let spinning = std::thread::spawn(move || {
        let record = bounded("a spinning reader's recv_blocking", || {
            reader.recv_blocking()
        });
        (record.unwrap(), reader)
    });
    std::thread::sleep(Duration::from_millis(50));
    writer.write(b"one").unwrap();
    let (record, mut reader) = spinning.join().unwrap();
    assert_eq!(record, &b"one"[..]);
    assert_eq!(
        (reader.wait_stats().parks, writer.wait_stats().wakes),
        (0, 0),
        "nobody slept, nobody was woken"
    );
    // Told to sleep at once, it sleeps, and the writer wakes it.
    reader.set_wait_strategy(WaitStrategy {
        initial_spin: Duration::ZERO,
        min_spin: Duration::ZERO,
        max_spin: Duration::ZERO,
        ..WaitStrategy::default()
    });
    let sleeping = std::thread::spawn(move || {
        let record = bounded("a sleeping reader's recv_blocking", || {
            reader.recv_blocking()
        });
        (record.unwrap(), reader)
    });
    std::thread::sleep(Duration::from_millis(50));
    writer.write(b"two").unwrap();
    let (record, reader) = sleeping.join().unwrap();
    assert_eq!(record, &b"two"[..]);
    assert!(
        reader.wait_stats().parks >= 1,
        "the reader slept: {}",
        reader.wait_stats().parks
    );
    assert!(
        writer.wait_stats().wakes >= 1,
        "the writer woke it: {}",
        writer.wait_stats().wakes
    );
}

#[test]
fn seek_oldest_moves_a_lagging_reader_to_the_oldest_record_kept() {
    let memory = Broadcast::heap_memory(4, 8).unwrap();
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory).unwrap();
    for i in 0..10u8 {
        writer.write(&[i]).unwrap();
    }
    reader.seek_oldest().unwrap();
    // Of 4 slots, the writer is about to overwrite one: records 7, 8 and 9 are kept.
    assert_eq!(reader.position(), 7);
    assert_eq!(reader.try_recv().unwrap(), &[7][..]);
}

#[test]
fn a_reader_sees_the_writer_until_it_is_dropped() {
    let memory = Broadcast::heap_memory(4, 8).unwrap();
    let writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory).unwrap();
    assert!(reader.is_writer_alive().unwrap());
    drop(writer);
    assert!(!reader.is_writer_alive().unwrap());
    assert!(matches!(reader.try_recv(), Err(QueueError::Disconnected)));
}

#[test]
fn a_record_filling_its_slot_exactly_is_read_whole() {
    let memory = Broadcast::heap_memory(4, 24).unwrap();
    let mut writer = BroadcastWriter::attach(memory.clone()).unwrap();
    let mut reader = BroadcastReader::attach(memory).unwrap();
    writer.write(&[9; 24]).unwrap();
    assert_eq!(reader.try_recv().unwrap(), &[9; 24][..]);
    writer.write(&[8; 24]).unwrap();
    assert_eq!(reader.latest().unwrap(), &[8; 24][..]);
}
