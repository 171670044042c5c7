//! Stress and crash tests between real processes, through named segments: sequence numbers
//! and checksums prove no loss, duplication, reordering or torn read.
//!
//! The default sizes keep the suite fast; the `#[ignore]`d `*_long` variants run the sizes
//! of the issue (`cargo test -p ipclane-queue --release --test cross_process -- --ignored`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, QueueError, SpscRing,
};
use ipclane_segment::Segment;
use ipclane_testkit::{Deadline, Peer, ShmName, bounded, hold, listen, say};

fn open(name: &str, kind: ipclane_segment::Kind) -> Arc<Segment> {
    Arc::new(
        Segment::named(name)
            .kind(kind)
            .open()
            .expect("open segment"),
    )
}

/// The record number `i` of a stream seeded `seed`: length 1..=4096, bytes derived from
/// (seed, i) so that any torn, stale or misplaced byte is detected.
fn spsc_record(seed: u64, i: u64) -> Vec<u8> {
    let mut x = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    let len = 1 + (x % 4096) as usize;
    let mut out = Vec::with_capacity(len);
    let mut word = x | 1;
    while out.len() < len {
        word ^= word << 13;
        word ^= word >> 7;
        word ^= word << 17;
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn tagged(producer: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(24));
    out.extend_from_slice(&producer.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(
        &(producer.wrapping_mul(31) ^ seq.wrapping_mul(0x100_0000_01b3)).to_le_bytes(),
    );
    while out.len() < len {
        out.push((seq as usize + out.len()) as u8);
    }
    out
}

fn check_tagged(r: &[u8]) -> (u64, u64) {
    let word = |i: usize| u64::from_le_bytes(r[i * 8..i * 8 + 8].try_into().unwrap());
    let (producer, seq) = (word(0), word(1));
    assert_eq!(
        word(2),
        producer.wrapping_mul(31) ^ seq.wrapping_mul(0x100_0000_01b3),
        "torn record"
    );
    for (j, b) in r.iter().enumerate().skip(24) {
        assert_eq!(*b, (seq as usize + j) as u8, "torn payload");
    }
    (producer, seq)
}

fn mix(producer: u64, seq: u64) -> (u64, u64) {
    let h = producer.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seq;
    (
        h.wrapping_mul(0xff51_afd7_ed55_8ccd),
        h.rotate_left(17).wrapping_mul(0xc4ce_b9fe_1a85_ec53),
    )
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "spsc_producer" => {
            let count: u64 = args[1].parse().unwrap();
            let seed: u64 = args[2].parse().unwrap();
            let mut tx = Producer::attach(open(&args[0], SpscRing::KIND)).unwrap();
            for i in 0..count {
                tx.push_blocking(&spsc_record(seed, i)).unwrap();
            }
            say(format!("done parks={}", tx.wait_stats().parks));
        }
        "spsc_producer_dies_mid_record" => {
            let mut tx = Producer::attach(open(&args[0], SpscRing::KIND)).unwrap();
            for i in 0..5u64 {
                tx.try_push(&spsc_record(7, i)).unwrap();
            }
            let mut guard = tx.try_reserve(1000).unwrap();
            guard.write_at(0, &[0xee; 500]).unwrap();
            say("half written");
            hold();
            guard.commit(); // never reached: the test kills us while holding
        }
        "spsc_producer_dies_with_staged_records" => {
            let mut tx = Producer::attach(open(&args[0], SpscRing::KIND)).unwrap();
            for i in 0..3u64 {
                tx.try_push(&spsc_record(9, i)).unwrap();
            }
            for i in 3..5u64 {
                let record = spsc_record(9, i);
                let mut guard = tx.try_reserve(record.len()).unwrap();
                guard.write_at(0, &record).unwrap();
                guard.stage();
            }
            say("staged");
            hold();
            tx.flush(); // never reached
        }
        "spsc_consumer_that_never_reads" => {
            let _rx = Consumer::attach(open(&args[0], SpscRing::KIND)).unwrap();
            say("attached");
            hold();
        }
        "mpmc_producer" => {
            let id: u64 = args[1].parse().unwrap();
            let count: u64 = args[2].parse().unwrap();
            let mut tx = MpmcProducer::attach(open(&args[0], MpmcQueue::KIND)).unwrap();
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            for seq in 0..count {
                tx.push_blocking(&tagged(id, seq, 24 + (seq % 40) as usize))
                    .unwrap();
            }
            say("done");
        }
        "mpmc_consumer" => {
            let mut rx = MpmcConsumer::attach(open(&args[0], MpmcQueue::KIND)).unwrap();
            say("attached");
            let (mut count, mut h1, mut h2) = (0u64, 0u64, 0u64);
            let mut last = [None::<u64>; 2];
            loop {
                match rx.pop_blocking() {
                    Ok(r) => {
                        let (p, seq) = check_tagged(&r);
                        let slot = &mut last[p as usize];
                        assert!(
                            slot.is_none_or(|l| seq > l),
                            "producer {p}: {seq} after {slot:?}"
                        );
                        *slot = Some(seq);
                        let (a, b) = mix(p, seq);
                        h1 = h1.wrapping_add(a);
                        h2 = h2.wrapping_add(b);
                        count += 1;
                    }
                    Err(QueueError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            say(format!("{count} {h1} {h2}"));
        }
        "broadcast_writer" => {
            let count: u64 = args[1].parse().unwrap();
            let mut w = BroadcastWriter::attach(open(&args[0], Broadcast::KIND)).unwrap();
            assert_eq!(listen().as_deref(), Some("go"));
            for seq in 0..count {
                w.write(&tagged(0, seq, 24 + (seq % 100) as usize)).unwrap();
                if seq % 64 == 0 {
                    std::thread::yield_now(); // give readers a chance; some still lag
                }
            }
            say("done");
        }
        "broadcast_reader" => {
            let mut r = BroadcastReader::attach(open(&args[0], Broadcast::KIND)).unwrap();
            say("attached");
            let (mut received, mut missed, mut next) = (0u64, 0u64, 0u64);
            loop {
                match r.recv_blocking() {
                    Ok(rec) => {
                        let (_, seq) = check_tagged(&rec);
                        assert_eq!(seq, next, "in order, nothing skipped silently");
                        next += 1;
                        received += 1;
                    }
                    Err(QueueError::Lagged { missed: m }) => {
                        missed += m;
                        next += m;
                    }
                    Err(QueueError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            say(format!("{received} {missed}"));
        }
        "mpmc_producer_then_hang" => {
            let mut tx = MpmcProducer::attach(open(&args[0], MpmcQueue::KIND)).unwrap();
            for seq in 0..3 {
                tx.try_push(&tagged(0, seq, 24)).unwrap();
            }
            say("pushed");
            hold();
        }
        "broadcast_writer_then_hang" => {
            let mut w = BroadcastWriter::attach(open(&args[0], Broadcast::KIND)).unwrap();
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            for seq in 0..3 {
                w.write(&tagged(0, seq, 24)).unwrap();
            }
            say("written");
            hold();
        }
        other => panic!("unknown peer role {other}"),
    });
}

fn spsc_stress(records: u64) {
    let name = ShmName::new("spsc-stress");
    let segment = SpscRing::create_named(&name.0, 1 << 16).unwrap();
    let mut rx = Consumer::attach(Arc::new(segment)).unwrap();
    let seed = 0x5eed_u64 ^ u64::from(std::process::id());
    let mut peer = Peer::spawn(
        "spsc_producer",
        &[&name.0, &records.to_string(), &seed.to_string()],
    );
    let mut i = 0u64;
    let mut buf = Vec::new();
    let _deadline = Deadline::new(
        Duration::from_secs(240),
        format!("spsc stress: {records} records from the producer peer"),
    );
    loop {
        match rx.read_blocking() {
            Ok(guard) => {
                buf.resize(guard.len(), 0);
                guard.copy_to(&mut buf);
                guard.release();
                assert_eq!(buf, spsc_record(seed, i), "record {i}");
                i += 1;
            }
            Err(QueueError::Disconnected) => break,
            Err(e) => panic!("after {i} records: {e}"),
        }
    }
    assert_eq!(i, records, "every record exactly once");
    assert!(peer.recv().starts_with("done"));
    assert!(peer.finish().success());
}

#[test]
fn spsc_stress_between_processes() {
    spsc_stress(100_000);
}

#[test]
#[ignore = "long: 10 million records; run by name in release mode"]
fn spsc_stress_between_processes_long() {
    spsc_stress(10_000_000);
}

fn mpmc_stress(per_producer: u64) {
    let name = ShmName::new("mpmc-stress");
    let _segment = MpmcQueue::create_named(&name.0, 64, 64).unwrap();
    let mut consumers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn("mpmc_consumer", &[&name.0]))
        .collect();
    let mut producers: Vec<Peer> = (0..2)
        .map(|id| {
            Peer::spawn(
                "mpmc_producer",
                &[&name.0, &id.to_string(), &per_producer.to_string()],
            )
        })
        .collect();
    for p in consumers.iter_mut().chain(producers.iter_mut()) {
        assert_eq!(p.recv(), "attached");
    }
    for p in &mut producers {
        p.send("go");
    }
    for p in &mut producers {
        assert_eq!(p.recv(), "done");
    }
    for p in producers {
        assert!(p.finish().success());
    }
    let (mut count, mut h1, mut h2) = (0u64, 0u64, 0u64);
    for c in &mut consumers {
        let report = c.recv();
        let v: Vec<u64> = report.split(' ').map(|x| x.parse().unwrap()).collect();
        count += v[0];
        h1 = h1.wrapping_add(v[1]);
        h2 = h2.wrapping_add(v[2]);
    }
    let (mut e1, mut e2) = (0u64, 0u64);
    for p in 0..2 {
        for seq in 0..per_producer {
            let (a, b) = mix(p, seq);
            e1 = e1.wrapping_add(a);
            e2 = e2.wrapping_add(b);
        }
    }
    assert_eq!(count, 2 * per_producer, "no loss, no duplicate");
    assert_eq!((h1, h2), (e1, e2), "exactly the records sent");
    for c in consumers {
        assert!(c.finish().success());
    }
}

#[test]
fn mpmc_stress_two_producers_two_consumers() {
    mpmc_stress(50_000);
}

#[test]
#[ignore = "long: run by name in release mode"]
fn mpmc_stress_two_producers_two_consumers_long() {
    mpmc_stress(2_000_000);
}

fn broadcast_stress(records: u64) {
    let name = ShmName::new("bcast-stress");
    let _segment = Broadcast::create_named(&name.0, 256, 128).unwrap();
    let mut readers: Vec<Peer> = (0..3)
        .map(|_| Peer::spawn("broadcast_reader", &[&name.0]))
        .collect();
    for r in &mut readers {
        assert_eq!(r.recv(), "attached");
    }
    let mut writer = Peer::spawn("broadcast_writer", &[&name.0, &records.to_string()]);
    writer.send("go");
    assert_eq!(writer.recv(), "done");
    assert!(writer.finish().success());
    for r in &mut readers {
        let v: Vec<u64> = r.recv().split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(
            v[0] + v[1],
            records,
            "received + missed accounts for every record"
        );
        assert!(v[0] > 0);
    }
    for r in readers {
        assert!(r.finish().success());
    }
}

#[test]
fn broadcast_stress_one_writer_three_readers() {
    broadcast_stress(100_000);
}

#[test]
#[ignore = "long: run by name in release mode"]
fn broadcast_stress_one_writer_three_readers_long() {
    broadcast_stress(5_000_000);
}

#[test]
fn a_producer_killed_mid_record_is_never_seen_and_disconnects() {
    let name = ShmName::new("spsc-kill-writer");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 14).unwrap());
    let mut rx = Consumer::attach(segment.clone()).unwrap();
    let mut peer = Peer::spawn("spsc_producer_dies_mid_record", &[&name.0]);
    assert_eq!(peer.recv(), "half written");
    peer.kill();
    for i in 0..5 {
        let got = bounded("a record the killed producer committed", || {
            rx.pop_blocking()
        });
        assert_eq!(got.unwrap(), spsc_record(7, i));
    }
    let started = Instant::now();
    let end = bounded("Disconnected after the producer was killed", || {
        rx.pop_blocking()
    });
    assert!(matches!(end, Err(QueueError::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
    assert!(!rx.is_producer_alive().unwrap());
    // The dead producer's role can be taken over.
    let mut tx = Producer::attach(segment).unwrap();
    tx.try_push(b"new producer").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"new producer"[..]);
}

#[test]
fn a_producer_taking_over_continues_after_the_published_records() {
    let name = ShmName::new("spsc-takeover");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 16).unwrap());
    let mut rx = Consumer::attach(segment.clone()).unwrap();
    assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    let mut peer = Peer::spawn("spsc_producer_dies_with_staged_records", &[&name.0]);
    assert_eq!(peer.recv(), "staged");
    peer.kill();
    // The new producer finds where the dead one stopped publishing, with nothing read
    // yet; the staged records were never published and never appear.
    let mut tx = Producer::attach(segment).unwrap();
    tx.try_push(b"after the takeover").unwrap();
    for i in 0..3 {
        assert_eq!(rx.try_pop().unwrap(), spsc_record(9, i));
    }
    assert_eq!(rx.try_pop().unwrap(), &b"after the takeover"[..]);
    assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
}

#[test]
fn a_consumer_killed_while_the_producer_waits_disconnects_it() {
    let name = ShmName::new("spsc-kill-reader");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
    let mut tx = Producer::attach(segment).unwrap();
    let mut peer = Peer::spawn("spsc_consumer_that_never_reads", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    while tx.try_push(&[1; 100]).is_ok() {}
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        peer.kill();
    });
    let started = Instant::now();
    let result = bounded(
        "Disconnected on a full ring whose consumer was killed",
        || tx.push_blocking(&[2; 100]),
    );
    assert!(
        matches!(result, Err(QueueError::Disconnected)),
        "{result:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "it was blocked"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
    killer.join().unwrap();
}

#[test]
fn a_second_live_consumer_is_refused() {
    let name = ShmName::new("spsc-claim");
    let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
    let mut peer = Peer::spawn("spsc_consumer_that_never_reads", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    assert!(matches!(
        Consumer::attach(segment.clone()),
        Err(QueueError::AlreadyClaimed { side: "consumer" })
    ));
    peer.kill();
    assert!(
        Consumer::attach(segment).is_ok(),
        "taken over once its holder is proven dead"
    );
}

#[test]
fn mpmc_consumers_see_a_killed_producer_as_disconnected() {
    let name = ShmName::new("mpmc-kill");
    let _segment = MpmcQueue::create_named(&name.0, 8, 32).unwrap();
    let mut rx = MpmcConsumer::attach(open(&name.0, MpmcQueue::KIND)).unwrap();
    let mut peer = Peer::spawn("mpmc_producer_then_hang", &[&name.0]);
    assert_eq!(peer.recv(), "pushed");
    peer.kill();
    for seq in 0..3 {
        let got = bounded("a record the killed producer committed", || {
            rx.pop_blocking()
        });
        assert_eq!(check_tagged(&got.unwrap()), (0, seq));
    }
    let started = Instant::now();
    let end = bounded("Disconnected after the producer was killed", || {
        rx.pop_blocking()
    });
    assert!(matches!(end, Err(QueueError::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
}

#[test]
fn broadcast_readers_see_a_killed_writer_as_disconnected() {
    let name = ShmName::new("bcast-kill");
    let _segment = Broadcast::create_named(&name.0, 8, 32).unwrap();
    let mut reader = BroadcastReader::attach(open(&name.0, Broadcast::KIND)).unwrap();
    let mut peer = Peer::spawn("broadcast_writer_then_hang", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    peer.send("go");
    assert_eq!(peer.recv(), "written");
    peer.kill();
    for seq in 0..3 {
        let got = bounded("a record the killed writer wrote", || {
            reader.recv_blocking()
        });
        assert_eq!(check_tagged(&got.unwrap()), (0, seq));
    }
    let started = Instant::now();
    let end = bounded("Disconnected after the writer was killed", || {
        reader.recv_blocking()
    });
    assert!(matches!(end, Err(QueueError::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(5), "bounded time");
    assert!(!reader.is_writer_alive().unwrap());
    // A new writer takes over and continues the sequence.
    let mut writer = BroadcastWriter::attach(open(&name.0, Broadcast::KIND)).unwrap();
    assert_eq!(writer.position(), 3);
    writer.write(b"after takeover").unwrap();
    assert_eq!(reader.try_recv().unwrap(), &b"after takeover"[..]);
}
