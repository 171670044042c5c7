//! The last-values table between real processes, through a named segment: a writer
//! process setting keys at full speed while this process reads every key, each value
//! checked whole (every word derived from its key and tag) and tags never going back; and
//! a hostile process writing garbage over the table's words while this one reads: only
//! valid values or typed errors.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipclane_queue::{LastValueReader, LastValueWriter, LastValues, QueueError};
use ipclane_segment::Segment;
use ipclane_testkit::{Peer, ShmName, bounded, listen, say};

/// Keys in the tables.
const KEYS: usize = 64;
/// The largest value.
const MAX: usize = 256;
/// Offset of the first entry in the segment's region, and an entry's header: seq, tag,
/// len (`crates/queue/src/keyed/table.rs`).
const ENTRIES: usize = 256;
const HEADER: usize = 24;

fn open(name: &str) -> Arc<Segment> {
    Arc::new(LastValues::open_named(name).expect("open the table"))
}

/// A 64-bit mix of its inputs (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The value of `key` tagged `tag`: 8..=MAX bytes, a multiple of 8 or not, each word
/// derived from (key, tag, its index), so that a torn, stale or misplaced word shows.
fn value(key: usize, tag: u64) -> Vec<u8> {
    let seed = mix(tag ^ (key as u64).rotate_left(40));
    let len = 8 + (seed % (MAX as u64 - 7)) as usize;
    let mut out = Vec::with_capacity(len + 8);
    for i in 0..len.div_ceil(8) as u64 {
        out.extend_from_slice(&mix(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Xorshift64: the peers' random choices.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Sets random keys at full speed for `args[1]` ms, tag = a counter over all sets
        // (so rising per key); reports the sets made and each key's last tag.
        "writer" => {
            let millis: u64 = args[1].parse().unwrap();
            let mut writer = LastValueWriter::attach(open(&args[0])).unwrap();
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            let mut last = [0u64; KEYS];
            let (mut tag, mut rng) = (0u64, 0x2545_f491_4f6c_dd1d_u64);
            let end = Instant::now() + Duration::from_millis(millis);
            // Values computed ahead of time would be stale by the next set: compute each.
            while tag % 1024 != 0 || Instant::now() < end {
                tag += 1;
                let key = (next(&mut rng) % KEYS as u64) as usize;
                writer.set(key, tag, &value(key, tag)).unwrap();
                last[key] = tag;
            }
            let tags: Vec<String> = last.iter().map(u64::to_string).collect();
            say(format!("done {tag} {}", tags.join(",")));
        }
        // Stores random words over the entries of the table for `args[1]` ms: sequence
        // numbers (odd, even, huge), lengths (just over the largest, huge), tags, payload.
        "hostile" => {
            let millis: u64 = args[1].parse().unwrap();
            let segment = open(&args[0]);
            let region = segment.region();
            let stride = HEADER + MAX;
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            let (mut stores, mut rng) = (0u64, 0x9e37_79b9_7f4a_7c15_u64);
            let end = Instant::now() + Duration::from_millis(millis);
            while stores % 256 != 0 || Instant::now() < end {
                stores += 1;
                let r = next(&mut rng);
                let key = (r % KEYS as u64) as usize;
                let field = match (r >> 8) % 8 {
                    0..=2 => 0,                                // seq
                    3..=4 => 2,                                // len
                    5 => 1,                                    // tag
                    _ => 3 + ((r >> 16) as usize % (MAX / 8)), // a payload word
                };
                let word = match (r >> 24) % 8 {
                    0 => (r >> 32) | 1,              // odd: "being written"
                    1 => (r >> 32) & !1,             // even: "written"
                    2 => MAX as u64 + 1 + (r >> 60), // a length just over the largest
                    3 => u64::MAX - (r >> 62),       // huge
                    4 => 0,                          // never set, or empty
                    _ => next(&mut rng),             // anything
                };
                region
                    .atomic::<AtomicU64>(ENTRIES + key * stride + field * 8)
                    .unwrap()
                    .store(word, Ordering::Relaxed);
            }
            say(format!("done {stores}"));
        }
        other => panic!("unknown role {other}"),
    });
}

/// Waits for a peer's `done ...` line on a thread of its own, so the test can read while
/// it waits; gives the peer and the line back.
fn await_done(mut peer: Peer) -> (Arc<AtomicBool>, std::thread::JoinHandle<(Peer, String)>) {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let waiter = std::thread::spawn(move || {
        let line = peer.recv();
        flag.store(true, Ordering::Release);
        (peer, line)
    });
    (done, waiter)
}

fn stress(millis: u64) {
    let name = ShmName::new("last-values-stress");
    let segment = Arc::new(LastValues::create_named(&name.0, KEYS, MAX).unwrap());
    let reader = LastValueReader::attach(segment.clone()).unwrap();
    let mut writer = Peer::spawn("writer", &[&name.0, &millis.to_string()]);
    assert_eq!(writer.recv(), "attached");
    writer.send("go");
    let (done, waiter) = await_done(writer);
    let mut last = [0u64; KEYS];
    let (mut reads, mut values, mut busy) = (0u64, 0u64, 0u64);
    let mut seen = HashSet::new();
    let mut buf = [0u8; MAX];
    bounded("reading while the writer writes", || {
        while !done.load(Ordering::Acquire) {
            for (key, last) in last.iter_mut().enumerate() {
                reads += 1;
                // Both calls, alternately: the copying one and the one into a buffer.
                let got = if reads % 2 == 0 {
                    reader.get(key).map(|v| v.map(|(tag, v)| (tag, v.to_vec())))
                } else {
                    reader
                        .get_into(key, &mut buf)
                        .map(|v| v.map(|(tag, len)| (tag, buf[..len].to_vec())))
                };
                let got = match got {
                    Ok(got) => got,
                    // The writer was preempted in the middle of this key for longer than
                    // a reader waits: an outcome, not a failure (counted below).
                    Err(QueueError::Busy { key: k }) if k == key => {
                        busy += 1;
                        continue;
                    }
                    Err(e) => panic!("key {key}: {e}"),
                };
                let Some((tag, got)) = got else {
                    assert_eq!(*last, 0, "key {key} unset after tag {last}");
                    continue;
                };
                assert!(got == value(key, tag), "key {key} tag {tag}: a torn value");
                assert!(tag >= *last, "key {key}: tag {tag} after {last}");
                *last = tag;
                values += 1;
                seen.insert((key, tag));
            }
        }
    });
    let (writer, line) = waiter.join().unwrap();
    assert!(writer.finish().success());
    let mut words = line.split(' ');
    assert_eq!(words.next(), Some("done"));
    let sets: u64 = words.next().unwrap().parse().unwrap();
    let finals: Vec<u64> = words
        .next()
        .unwrap()
        .split(',')
        .map(|t| t.parse().unwrap())
        .collect();
    // The table ends with each key's last value, whole.
    for (key, &tag) in finals.iter().enumerate() {
        let got = reader.get(key).unwrap();
        if tag == 0 {
            assert!(got.is_none(), "key {key} never set");
        } else {
            let (t, v) = got.unwrap();
            assert_eq!(t, tag, "key {key} ends with its last value");
            assert_eq!(&v[..], &value(key, tag)[..]);
        }
    }
    // The reads overlapped the writes: many values, many of them different.
    assert!(sets > 10_000, "the writer made only {sets} sets");
    assert!(
        seen.len() > 10 * KEYS,
        "{reads} reads saw only {} distinct values of {sets} sets",
        seen.len()
    );
    assert!(
        busy * 10 < values,
        "{busy} reads were busy, {values} gave values"
    );
    eprintln!(
        "{sets} sets, {reads} reads, {values} values, {} distinct, {busy} busy",
        seen.len()
    );
}

#[test]
fn a_reader_never_sees_a_torn_value_or_a_tag_going_back() {
    stress(1500);
}

#[test]
#[ignore = "long: run by name in release mode"]
fn a_reader_never_sees_a_torn_value_or_a_tag_going_back_long() {
    stress(30_000);
}

#[test]
fn garbage_over_the_table_gives_valid_values_or_typed_errors() {
    let name = ShmName::new("last-values-hostile");
    let segment = Arc::new(LastValues::create_named(&name.0, KEYS, MAX).unwrap());
    let reader = LastValueReader::attach(segment.clone()).unwrap();
    let mut writer = LastValueWriter::attach(segment.clone()).unwrap();
    for key in 0..KEYS {
        writer.set(key, 1, &value(key, 1)).unwrap();
    }
    // A correct writer keeps writing too, beside the hostile one.
    let stop = Arc::new(AtomicBool::new(false));
    let honest = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut tag = 1u64;
            while !stop.load(Ordering::Relaxed) {
                tag += 1;
                let key = (mix(tag) % KEYS as u64) as usize;
                writer.set(key, tag, &value(key, tag)).unwrap();
            }
        })
    };
    let mut hostile = Peer::spawn("hostile", &[&name.0, "1000"]);
    assert_eq!(hostile.recv(), "attached");
    hostile.send("go");
    let (done, waiter) = await_done(hostile);
    let (mut ok, mut unset, mut corrupted, mut busy) = (0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; MAX];
    bounded("reading while a hostile process writes", || {
        while !done.load(Ordering::Acquire) {
            for key in 0..KEYS {
                let got = if (ok + corrupted) % 2 == 0 {
                    reader.get(key).map(|v| v.map(|(_, v)| v.len()))
                } else {
                    reader
                        .get_into(key, &mut buf)
                        .map(|v| v.map(|(_, len)| len))
                };
                match got {
                    Ok(Some(len)) => {
                        assert!(len <= MAX, "key {key}: a {len}-byte value");
                        ok += 1;
                    }
                    Ok(None) => unset += 1,
                    Err(QueueError::Corrupted { reason }) => {
                        assert!(reason.contains(&format!("key {key}:")), "{reason}");
                        corrupted += 1;
                    }
                    Err(QueueError::Busy { key: k }) => {
                        assert_eq!(k, key);
                        busy += 1;
                    }
                    Err(e) => panic!("key {key}: {e}"),
                }
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    honest.join().unwrap();
    let (hostile, line) = waiter.join().unwrap();
    assert!(hostile.finish().success());
    eprintln!("{line}: {ok} values, {unset} unset, {corrupted} corrupted, {busy} busy");
    assert!(line.starts_with("done "), "{line}");
    // The garbage landed: readers saw it refused, and values all along.
    assert!(
        corrupted > 0 && ok > 0,
        "{ok} values, {corrupted} corrupted"
    );
}
