//! Typed messages between processes (features `serde` and `pod`): serde values and
//! plain-old-data values go through every transport and a feed whole, and a message
//! that is not of the type is a `Decode` error, never a panic or a made-up value, after
//! which the next message arrives.

use ipclane::{Error, Options, PublishOptions, Publisher, TypedReceiver, TypedSender};
use ipclane_testkit::{Peer, ShmName, SubscriberRecords, TempDir, bounded, hold, say};
use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes};

/// A serde type with what postcard encodes with lengths and varints.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u64,
    symbol: String,
    qty: i32,
    legs: Vec<(u16, f64)>,
}

fn order(i: u64) -> Order {
    Order {
        id: i,
        symbol: format!("SYM{}", i % 97),
        qty: i as i32 * if i.is_multiple_of(2) { 1 } else { -1 },
        legs: (0..i % 5).map(|k| (k as u16, i as f64 / 3.0)).collect(),
    }
}

/// A market-data quote as plain old data: no padding, every bit pattern valid.
#[derive(FromBytes, IntoBytes, Immutable, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
struct Quote {
    bid: i64,
    ask: i64,
    instrument: u32,
    size: u32,
}

fn quote(i: u64) -> Quote {
    Quote {
        bid: 1000 + i as i64,
        ask: 1001 + i as i64,
        instrument: (i % 64) as u32,
        size: (i * 7) as u32,
    }
}

const SCHEMES: [&str; 4] = ["unix", "seqpacket", "tcp", "shm"];

fn url(scheme: &str, dir: &TempDir) -> String {
    match scheme {
        "tcp" => "tcp://127.0.0.1:0".into(),
        _ => format!(
            "{scheme}://{}",
            dir.path().join(format!("{scheme}.sock")).display()
        ),
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        // Sends every message it receives back, as bytes: the types are the test's.
        "echo" => {
            let mut conn = ipclane::connect(&args[0]).unwrap();
            say("connected");
            while let Ok(msg) = conn.recv() {
                conn.send(&msg).unwrap();
            }
        }
        "quotes" => {
            let mut sub = ipclane::Subscriber::open_at(&args[0], ipclane::Start::Oldest).unwrap();
            say("subscribed");
            let n: u64 = args[1].parse().unwrap();
            for i in 0..n {
                assert_eq!(sub.recv_pod::<Quote>().unwrap(), quote(i), "quote {i}");
            }
            let wrong = sub.recv_pod::<Quote>();
            assert!(
                matches!(wrong, Err(Error::Decode { len: 3, .. })),
                "{wrong:?}"
            );
            assert_eq!(sub.recv_pod::<Quote>().unwrap(), quote(n));
            say(format!("got {}", n + 1));
            hold();
        }
        other => panic!("unknown role {other}"),
    });
}

/// A connection to an echo process on `scheme`.
fn echo(scheme: &str, dir: &TempDir) -> (ipclane::Connection, Peer) {
    let listener = Options::default().listen(&url(scheme, dir)).unwrap();
    let mut peer = Peer::spawn("echo", &[&listener.url().to_string()]);
    let conn = bounded(scheme, || listener.accept()).unwrap();
    assert_eq!(peer.recv(), "connected");
    (conn, peer)
}

/// Serde values of every shape go through each transport to another process and back,
/// equal; bytes that are not an `Order` (garbage, an `Order` cut short, one with bytes
/// after it) are each a `Decode` error naming the type, and the value after them comes.
#[test]
fn serde_values_cross_every_transport_and_other_bytes_are_decode_errors() {
    let dir = TempDir::new("typed-serde");
    for scheme in SCHEMES {
        let (conn, _peer) = echo(scheme, &dir);
        let (tx, rx) = conn.split();
        let (mut tx, mut rx) = (
            TypedSender::<Order>::new(tx),
            TypedReceiver::<Order>::new(rx),
        );
        bounded(scheme, || {
            for i in 0..200 {
                tx.send(&order(i)).unwrap();
                assert_eq!(rx.recv().unwrap(), order(i), "{scheme}: order {i}");
            }
            // An `Order`'s bytes as they travel, read back raw.
            tx.send(&order(7)).unwrap();
            let mut raw_rx = rx.into_inner();
            let whole = raw_rx.recv().unwrap().to_vec();
            let mut rx = TypedReceiver::<Order>::new(raw_rx);
            let mut raw_tx = tx.into_inner();
            let mut longer = whole.clone();
            longer.push(0);
            for bad in [&[0xff; 40][..], &whole[..whole.len() - 1], &longer[..]] {
                raw_tx.send(bad).unwrap();
                match rx.recv() {
                    Err(Error::Decode { what, len, .. }) => {
                        assert!(what.ends_with("Order"), "{scheme}: {what}");
                        assert_eq!(len, bad.len(), "{scheme}");
                    }
                    other => panic!("{scheme}: {other:?}"),
                }
            }
            let mut tx = TypedSender::<Order>::new(raw_tx);
            tx.send(&order(8)).unwrap();
            assert_eq!(rx.recv().unwrap(), order(8), "{scheme}: the next value");
        });
    }
}

/// Plain-old-data quotes go through each transport to another process and back, equal
/// (as new values and into one);
/// a message shorter or longer than a `Quote` is a `Decode` error (the longer one taken,
/// not left to block the next), and the quote after it comes.
#[test]
fn pod_values_cross_every_transport_and_other_sizes_are_decode_errors() {
    let dir = TempDir::new("typed-pod");
    for scheme in SCHEMES {
        let (mut conn, _peer) = echo(scheme, &dir);
        bounded(scheme, || {
            let mut into = Quote::new_zeroed();
            for i in 0..500 {
                conn.sender().send_pod(&quote(i)).unwrap();
                if i % 2 == 0 {
                    assert_eq!(conn.receiver().recv_pod::<Quote>().unwrap(), quote(i));
                } else {
                    conn.receiver().recv_pod_into(&mut into).unwrap();
                    assert_eq!(into, quote(i), "{scheme}: quote {i}, into a value");
                }
            }
            for len in [0, 23, 25, 4096] {
                conn.send(&vec![0xa5; len]).unwrap();
                match conn.receiver().recv_pod::<Quote>() {
                    Err(Error::Decode { len: got, .. }) => assert_eq!(got, len, "{scheme}"),
                    other => panic!("{scheme}: {len} bytes: {other:?}"),
                }
            }
            conn.sender().send_pod(&quote(9)).unwrap();
            assert_eq!(
                conn.receiver().recv_pod::<Quote>().unwrap(),
                quote(9),
                "{scheme}"
            );
        });
    }
}

/// Quotes published as plain old data reach a subscriber process through the feed's
/// ring, each equal; a message of another size is refused there too.
#[test]
fn pod_quotes_reach_a_subscriber_process_through_a_feed() {
    let feed = ShmName::new("typed-feed");
    // Room for every quote: the subscriber is never lapped, however late it runs.
    let options = PublishOptions::default().slots(2048);
    let mut publisher = Publisher::create(&feed.0, options).unwrap();
    let mut sub = Peer::spawn("quotes", &[&feed.0, "1000"]);
    let _records = SubscriberRecords(vec![sub.pid()]);
    assert_eq!(sub.recv(), "subscribed");
    for i in 0..1000 {
        publisher.publish_pod(&quote(i)).unwrap();
    }
    publisher.publish(b"abc").unwrap();
    publisher.publish_pod(&quote(1000)).unwrap();
    assert_eq!(sub.recv(), "got 1001");
}
