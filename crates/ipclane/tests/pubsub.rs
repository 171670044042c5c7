//! Publish/subscribe between processes: subscribers that join early, late, or fall a
//! whole ring behind; a publisher killed under its subscribers; and `gc` removing what a
//! dead publisher left.

use std::time::Duration;

use bytes::Bytes;
use ipclane::{Error, PublishOptions, Publisher, Start, Subscriber};
use ipclane_testkit::{Peer, ShmName, bounded, hold, listen, say};

/// Message `seq`: its sequence number, then a tail derived from it.
fn message(seq: u64) -> Vec<u8> {
    let mut msg = seq.to_le_bytes().to_vec();
    msg.extend((0..(seq % 48)).map(|k| (seq as u8).wrapping_add(k as u8)));
    msg
}

/// Checks a received message whole and returns its sequence number.
fn check(msg: &Bytes) -> u64 {
    let seq = u64::from_le_bytes(msg[..8].try_into().expect("a sequence number"));
    assert_eq!(&msg[..], &message(seq)[..], "message {seq} arrived changed");
    seq
}

/// Reads the feed to its end; returns (first sequence number, messages, missed).
fn read_to_end(sub: &mut Subscriber) -> (Option<u64>, u64, u64) {
    let (mut first, mut got, mut missed, mut last) = (None, 0u64, 0u64, None::<u64>);
    loop {
        match sub.recv() {
            Ok(msg) => {
                let seq = check(&msg);
                if let Some(last) = last {
                    assert!(seq > last, "{seq} after {last}: reordered or duplicated");
                }
                first.get_or_insert(seq);
                last = Some(seq);
                got += 1;
            }
            Err(Error::Lagged { missed: m }) => missed += m,
            Err(Error::Disconnected { .. }) => return (first, got, missed),
            Err(e) => panic!("recv: {e}"),
        }
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Subscribes, says where it starts, waits for "go", then reads to the end.
        "subscriber" => {
            let mut sub = Subscriber::open(&args[0]).unwrap();
            say(format!("ready {}", sub.position()));
            assert_eq!(listen().as_deref(), Some("go"));
            let (first, got, missed) = read_to_end(&mut sub);
            say(format!("{} {got} {missed}", first.map_or(-1, |f| f as i64)));
        }
        "publisher" => {
            let mut publisher = Publisher::create(&args[0], PublishOptions::default()).unwrap();
            for seq in 0..10 {
                publisher.publish(&message(seq)).unwrap();
            }
            say("published");
            hold();
        }
        other => panic!("unknown role {other}"),
    });
}

/// The parts of a subscriber's last report.
fn report(peer: &mut Peer) -> (i64, u64, u64) {
    let line = peer.recv();
    let mut parts = line.split(' ').map(|p| p.parse::<i64>().unwrap());
    let mut next = || parts.next().expect("three numbers");
    (next(), next() as u64, next() as u64)
}

#[test]
fn three_subscriber_processes_one_late_one_lapped() {
    const SLOTS: usize = 1024;
    const FIRST: u64 = 500;
    const TOTAL: u64 = 3000;
    let name = ShmName::new("feed");
    bounded("pub/sub", || {
        let options = PublishOptions::default().slots(SLOTS).max_message_len(64);
        let mut publisher = Publisher::create(&name.0, options).unwrap();
        let mut early = Peer::spawn("subscriber", &[&name.0]);
        let mut lapped = Peer::spawn("subscriber", &[&name.0]);
        assert_eq!(early.recv(), "ready 0");
        assert_eq!(lapped.recv(), "ready 0");
        early.send("go");
        let mut publish = |range: std::ops::Range<u64>| {
            for seq in range {
                publisher.publish(&message(seq)).unwrap();
                if seq % 64 == 0 {
                    // Paced, so that the early subscriber keeps up (it is not asserted:
                    // the publisher never waits, and a loaded machine may lap anyone).
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        };
        publish(0..FIRST);
        let mut late = Peer::spawn("subscriber", &[&name.0]);
        let start: u64 = late.recv().strip_prefix("ready ").unwrap().parse().unwrap();
        assert_eq!(
            start, FIRST,
            "a late subscriber starts at the newest message"
        );
        late.send("go");
        publish(FIRST..TOTAL);
        drop(publisher); // ends the feed
        lapped.send("go");

        let (first, got, missed) = report(&mut early);
        assert_eq!(
            (first, got + missed),
            (0, TOTAL),
            "early: {got} received, {missed} missed"
        );
        let (first, got, missed) = report(&mut late);
        assert_eq!(
            first,
            FIRST as i64 + missed as i64,
            "late: its first message"
        );
        assert_eq!(
            got + missed,
            TOTAL - FIRST,
            "late: {got} received, {missed} missed"
        );
        let (first, got, missed) = report(&mut lapped);
        assert_eq!(
            missed,
            TOTAL - (SLOTS as u64 - 1),
            "lapped: told how many it missed"
        );
        assert_eq!(
            (first as u64, got),
            (missed, SLOTS as u64 - 1),
            "lapped: resynced at the oldest"
        );
        for peer in [early, late, lapped] {
            assert!(peer.finish().success());
        }
    });
}

#[test]
fn a_killed_publisher_is_disconnected_and_its_feed_is_collected() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let name = ShmName::new("killed");
    let path = format!("/dev/shm/ipclane.{}", name.0);
    bounded("killed publisher", || {
        let mut publisher = Peer::spawn("publisher", &[&name.0]);
        assert_eq!(publisher.recv(), "published");
        let mut sub = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
        for seq in 0..10 {
            assert_eq!(check(&sub.recv().unwrap()), seq);
        }
        let mut polling = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
        publisher.kill();
        assert!(matches!(sub.recv(), Err(Error::Disconnected { .. })));
        // A subscriber that never waits sees it too, after what was published.
        let mut read = 0;
        loop {
            match polling.try_recv() {
                Ok(Some(msg)) => {
                    assert_eq!(check(&msg), read);
                    read += 1;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Err(Error::Disconnected { .. }) => break,
                Err(e) => panic!("try_recv: {e}"),
            }
        }
        assert_eq!(read, 10);
        drop(polling);
        drop(sub);
        assert!(
            std::path::Path::new(&path).exists(),
            "a killed publisher leaves its feed"
        );
        let report = ipclane::segment::gc().unwrap();
        assert!(report.removed.contains(&name.0), "gc: {report:?}");
        assert!(!std::path::Path::new(&path).exists());
    });
}

#[test]
fn receiving_without_waiting_without_allocating_and_only_the_latest() {
    let name = ShmName::new("calls");
    let mut publisher = Publisher::create(
        &name.0,
        PublishOptions::default().slots(8).max_message_len(16),
    )
    .unwrap();
    assert_eq!(publisher.max_message_len(), 16);
    let mut sub = Subscriber::open(&name.0).unwrap();
    assert_eq!(sub.try_recv().unwrap(), None);
    assert_eq!(sub.latest().unwrap(), None);
    assert!(matches!(
        sub.recv_timeout(Duration::from_millis(10)),
        Err(Error::Timeout { .. })
    ));
    assert!(matches!(
        publisher.publish(&[0; 17]),
        Err(Error::MessageTooLarge { len: 17, max: 16 })
    ));
    for seq in 0..3u8 {
        publisher.publish(&[seq; 4]).unwrap();
    }
    let mut buf = [0u8; 16];
    let len = sub.recv_into(&mut buf).unwrap();
    assert_eq!(&buf[..len], &[0; 4]);
    assert_eq!(sub.try_recv().unwrap().as_deref(), Some(&[1u8; 4][..]));
    assert_eq!(sub.latest().unwrap().as_deref(), Some(&[2u8; 4][..]));
    assert_eq!(
        sub.try_recv().unwrap(),
        None,
        "latest moved past what it skipped"
    );
    assert_eq!(publisher.published(), 3);
    let mut from_oldest = Subscriber::open_at(&name.0, Start::Oldest).unwrap();
    assert_eq!(from_oldest.recv().unwrap(), &[0u8; 4][..]);
    assert!(matches!(
        Subscriber::open("no-such-feed-here"),
        Err(Error::Segment(_))
    ));
}
