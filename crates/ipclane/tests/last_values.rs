//! Keyed feeds: a publisher process publishing keyed quotes at full speed while a
//! subscriber process joins late, reads the book from the feed's table, then the stream
//! (re-reading the table after a lag), and ends with exactly the publisher's final book;
//! and, in this process, the table's lifecycle and errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ipclane::queue::QueueError;
use ipclane::{Error, PublishOptions, Publisher, Subscriber};
use ipclane_testkit::{Peer, ShmName, bounded, listen, say};

/// Keys (instruments) of the feed.
const KEYS: usize = 32;
/// Slots of its ring: small, so that quotes published before the subscriber joined are
/// long gone from the ring, and a subscriber that falls behind is lapped.
const SLOTS: usize = 256;
/// The stream message that ends the test (never keyed).
const END: &[u8] = b"END";

/// Quote number `n` (counted over all keys) of `key`: the key, the number, then bytes
/// derived from both, of a length that varies, so that a torn or misplaced quote shows.
fn quote(key: usize, n: u64) -> Vec<u8> {
    let mut q = (key as u32).to_le_bytes().to_vec();
    q.extend_from_slice(&n.to_le_bytes());
    let tail = (n % 40) as usize;
    q.extend((0..tail).map(|i| (n as usize * 7 + key * 13 + i) as u8));
    q
}

/// Checks a quote whole and returns (key, n).
fn check(msg: &[u8]) -> (usize, u64) {
    let key = u32::from_le_bytes(msg[..4].try_into().unwrap()) as usize;
    let n = u64::from_le_bytes(msg[4..12].try_into().unwrap());
    assert!(key < KEYS, "key {key}");
    assert_eq!(
        msg,
        &quote(key, n)[..],
        "quote {n} of key {key} arrived changed"
    );
    (key, n)
}

/// A book, one line: each key's quote number, `-` for none.
fn show(book: &[Option<u64>]) -> String {
    book.iter()
        .map(|n| n.map_or("-".to_owned(), |n| n.to_string()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Merges the feed's table into `book` (sequence number and quote number per key): a
/// key's table value replaces the book's when its sequence number is higher.
fn read_table(sub: &mut Subscriber, book: &mut [Option<(u64, u64)>]) {
    for (key, kept) in book.iter_mut().enumerate() {
        let got = loop {
            match sub.latest_for(key) {
                Ok(got) => break got,
                // The publisher was preempted in the middle of this key: try again.
                Err(Error::Queue(QueueError::Busy { .. })) => std::thread::yield_now(),
                Err(e) => panic!("latest_for({key}): {e}"),
            }
        };
        if let Some((seq, msg)) = got {
            let (k, n) = check(&msg);
            assert_eq!(
                k, key,
                "the table's value of key {key} is a quote of key {k}"
            );
            if kept.is_none_or(|(s, _)| seq > s) {
                *kept = Some((seq, n));
            }
        }
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Publishes `args[1]` quotes, says "ready", then publishes at full speed from
        // "go" to "stop"; then END, and reports its book.
        "publisher" => {
            let before: u64 = args[1].parse().unwrap();
            let options = PublishOptions::default()
                .slots(SLOTS)
                .max_message_len(64)
                .keys(KEYS);
            let mut publisher = Publisher::create(&args[0], options).unwrap();
            assert_eq!(publisher.keys(), KEYS);
            let mut book = vec![None; KEYS];
            let mut rng = 0x2545_f491_4f6c_dd1d_u64;
            let mut n = 0u64;
            let mut publish = |publisher: &mut Publisher, n: &mut u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Some keys far more often than others, as in a market; the last few never
                // before "go".
                let key = ((rng % KEYS as u64) * (rng >> 32 & 3)).min(KEYS as u64 - 1) as usize;
                let key = if *n < before { key % (KEYS - 4) } else { key };
                publisher.publish_keyed(key, &quote(key, *n)).unwrap();
                book[key] = Some(*n);
                *n += 1;
            };
            while n < before {
                publish(&mut publisher, &mut n);
            }
            say("ready");
            assert_eq!(listen().as_deref(), Some("go"));
            let stop = Arc::new(AtomicBool::new(false));
            let stdin = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    assert_eq!(listen().as_deref(), Some("stop"));
                    stop.store(true, Ordering::Relaxed);
                })
            };
            while !stop.load(Ordering::Relaxed) {
                publish(&mut publisher, &mut n);
                if n.is_multiple_of(512) {
                    // Now and then, let the subscriber catch up (not always: laps happen).
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            stdin.join().unwrap();
            publisher.publish(END).unwrap();
            say(format!("done {n} {}", show(&book)));
            // Stays (the feed with it) until the test is done with the subscriber.
            assert_eq!(listen(), None);
        }
        // Joins late: subscribes, reads the table, says so, then applies the stream
        // above each key's sequence number until END; reports its book.
        "subscriber" => {
            let mut sub = Subscriber::open(&args[0]).unwrap();
            assert_eq!(sub.keys(), KEYS);
            let start = sub.position();
            let mut book = vec![None::<(u64, u64)>; KEYS];
            read_table(&mut sub, &mut book);
            let from_table = book.iter().filter(|v| v.is_some()).count();
            say(format!("subscribed {start} {from_table}"));
            let (mut applied, mut lags) = (0u64, 0u64);
            loop {
                let seq = sub.position();
                match sub.recv() {
                    Ok(msg) if msg == END => break,
                    Ok(msg) => {
                        let (key, n) = check(&msg);
                        if book[key].is_none_or(|(kept, _)| seq > kept) {
                            book[key] = Some((seq, n));
                            applied += 1;
                        }
                    }
                    Err(Error::Lagged { .. }) => {
                        lags += 1;
                        read_table(&mut sub, &mut book);
                    }
                    Err(e) => panic!("recv: {e}"),
                }
            }
            let book: Vec<Option<u64>> = book.iter().map(|v| v.map(|(_, n)| n)).collect();
            say(format!("book {applied} {lags} {}", show(&book)));
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
fn a_late_subscriber_ends_with_exactly_the_publishers_book() {
    let name = ShmName::new("book");
    let _table = ShmName(format!("{}.last", name.0));
    bounded("a late joiner's book", || {
        let mut publisher = Peer::spawn("publisher", &[&name.0, "20000"]);
        assert_eq!(publisher.recv(), "ready");
        publisher.send("go");
        let mut subscriber = Peer::spawn("subscriber", &[&name.0]);
        let line = subscriber.recv();
        let mut words = line.strip_prefix("subscribed ").unwrap().split(' ');
        let start: u64 = words.next().unwrap().parse().unwrap();
        let from_table: usize = words.next().unwrap().parse().unwrap();
        // It joined late: 20000 quotes before it, far more than the ring holds, so the
        // book it started from came from the table.
        assert!(start >= 20_000, "joined at {start}");
        assert!(from_table >= KEYS - 4, "{from_table} keys from the table");
        // Publishing goes on while it reads the stream.
        std::thread::sleep(Duration::from_millis(300));
        publisher.send("stop");
        let published = publisher.recv();
        let mut words = published.strip_prefix("done ").unwrap().split(' ');
        let total: u64 = words.next().unwrap().parse().unwrap();
        let expected = words.next().unwrap();
        let got = subscriber.recv();
        let mut words = got.strip_prefix("book ").unwrap().split(' ');
        let applied: u64 = words.next().unwrap().parse().unwrap();
        let lags: u64 = words.next().unwrap().parse().unwrap();
        let book = words.next().unwrap();
        eprintln!(
            "joined at {start} of {total}; {applied} quotes applied from the stream, {lags} lags"
        );
        assert_eq!(book, expected, "the subscriber's book is the publisher's");
        assert!(total > start, "quotes were published after it joined");
        assert!(subscriber.finish().success());
        assert!(publisher.finish().success());
    });
}

#[test]
fn the_table_lives_and_goes_with_its_feed() {
    let name = ShmName::new("table-life");
    let table = ShmName(format!("{}.last", name.0));
    let path = format!("/dev/shm/ipclane.{}", table.0);
    let options = PublishOptions::default().max_message_len(16).keys(3);
    assert_eq!(options.get_keys(), 3);
    assert_eq!(
        PublishOptions::default().get_keys(),
        0,
        "no table by default"
    );
    let mut publisher = Publisher::create(&name.0, options).unwrap();
    assert!(std::path::Path::new(&path).exists(), "{path}");
    publisher.publish_keyed(2, b"two").unwrap();
    publisher.publish(b"unkeyed").unwrap();
    publisher.publish_keyed(0, b"zero").unwrap();
    let mut sub = Subscriber::open(&name.0).unwrap();
    assert_eq!(sub.keys(), 3);
    assert_eq!(
        sub.latest_for(0).unwrap(),
        Some((2, Bytes::from_static(b"zero")))
    );
    assert_eq!(sub.latest_for(1).unwrap(), None);
    assert_eq!(
        sub.latest_for(2).unwrap(),
        Some((0, Bytes::from_static(b"two")))
    );
    // Refused before anything is stored or published.
    assert!(matches!(
        publisher.publish_keyed(3, b"x"),
        Err(Error::Queue(QueueError::KeyOutOfRange { key: 3, keys: 3 }))
    ));
    assert!(matches!(
        publisher.publish_keyed(1, &[0; 17]),
        Err(Error::MessageTooLarge { len: 17, max: 16 })
    ));
    assert_eq!(publisher.published(), 3);
    assert_eq!(sub.latest_for(1).unwrap(), None);
    assert!(matches!(
        sub.latest_for(3),
        Err(Error::Queue(QueueError::KeyOutOfRange { key: 3, keys: 3 }))
    ));
    // A keyed message goes on the stream like any other, numbered as the table says.
    assert_eq!(
        sub.try_recv().unwrap(),
        None,
        "a new subscriber starts at the newest"
    );
    publisher.publish_keyed(1, b"one").unwrap();
    let seq = sub.position();
    assert_eq!(sub.try_recv().unwrap(), Some(Bytes::from_static(b"one")));
    assert_eq!(
        sub.latest_for(1).unwrap(),
        Some((seq, Bytes::from_static(b"one")))
    );
    assert_eq!(seq, 3);
    drop(publisher);
    assert!(
        !std::path::Path::new(&path).exists(),
        "the table goes with the feed"
    );
    // What a subscriber attached keeps reading.
    assert_eq!(
        sub.latest_for(0).unwrap(),
        Some((2, Bytes::from_static(b"zero")))
    );
}

#[test]
fn a_feed_without_keys_has_no_table() {
    let name = ShmName::new("no-table");
    let mut publisher = Publisher::create(&name.0, PublishOptions::default()).unwrap();
    assert!(!std::path::Path::new(&format!("/dev/shm/ipclane.{}.last", name.0)).exists());
    assert_eq!(publisher.keys(), 0);
    assert!(matches!(
        publisher.publish_keyed(0, b"x"),
        Err(Error::Queue(QueueError::KeyOutOfRange { key: 0, keys: 0 }))
    ));
    assert_eq!(publisher.published(), 0, "nothing published");
    let mut sub = Subscriber::open(&name.0).unwrap();
    assert_eq!(sub.keys(), 0);
    let err = sub.latest_for(5).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Queue(QueueError::KeyOutOfRange { key: 5, keys: 0 })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "key 5 is out of range for a table of 0 keys"
    );
}

/// The order the late-joiner recipe rests on: every message published before a
/// subscriber's position is in the table (or superseded there). One key hammered from a
/// thread while this one takes positions and reads the table right after: a publisher
/// that published before it set the table is caught in between.
#[test]
fn every_message_before_a_position_is_in_the_table() {
    use ipclane::queue::{Broadcast, BroadcastReader, LastValueReader, LastValues};
    let name = ShmName::new("table-order");
    let _table = ShmName(format!("{}.last", name.0));
    let options = PublishOptions::default().max_message_len(8).keys(1);
    let mut publisher = Publisher::create(&name.0, options).unwrap();
    let feed = Arc::new(Broadcast::open_named(&name.0).unwrap());
    let table = LastValueReader::attach(Arc::new(
        LastValues::open_named(&format!("{}.last", name.0)).unwrap(),
    ))
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                publisher.publish_keyed(0, &n.to_le_bytes()).unwrap();
                n += 1;
            }
            publisher
        })
    };
    let (mut probes, mut busy) = (0u64, 0u64);
    let end = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < end {
        // A subscriber's position: what it will read from the stream.
        let position = BroadcastReader::attach(feed.clone()).unwrap().position();
        let got = match table.get(0) {
            Ok(got) => got,
            Err(QueueError::Busy { .. }) => {
                busy += 1;
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        probes += 1;
        if position > 0 {
            let (tag, msg) = got.expect("a message before the position, none in the table");
            assert!(
                tag + 1 >= position,
                "message {} was published before position {position}, the table has {tag}",
                position - 1
            );
            assert_eq!(&msg[..], &tag.to_le_bytes()[..], "value {tag}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let publisher = hammer.join().unwrap();
    eprintln!(
        "{probes} probes ({busy} busy) over {} messages",
        publisher.published()
    );
    assert!(probes > 1000 && publisher.published() > 1000);
}
