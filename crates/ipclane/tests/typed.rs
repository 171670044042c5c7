//! Typed messages between processes (features `serde` and `pod`): serde values and
//! plain-old-data values go through every transport and a feed whole, and a message
//! that is not of the type is a `Decode` error, never a panic or a made-up value, after
//! which the next message arrives.

use ipclane::{
    Error, MessageType, Options, PublishOptions, Publisher, SubscribeOptions, TypedReceiver,
    TypedSender,
};
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

/// A trade: as large as a `Quote` and as aligned, but another type, which a peer that
/// declares a `Quote` must refuse (by size alone, it would be misread).
#[derive(FromBytes, IntoBytes, Immutable, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
struct Trade {
    price: i64,
    qty: i64,
    instrument: u32,
    side: u32,
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
        // Subscribes to `args[0]` declaring `args[1]` (`Quote` or `Trade`) and says
        // whether it was refused; subscribed, reads 10 quotes.
        "declared-subscriber" => {
            let declared = match args[1].as_str() {
                "Quote" => MessageType::of::<Quote>(),
                _ => MessageType::of::<Trade>(),
            };
            let options = SubscribeOptions::default()
                .start(ipclane::Start::Oldest)
                .message_type(declared);
            match ipclane::Subscriber::open_with(&args[0], options) {
                Err(e) => say(format!("refused: {e}")),
                Ok(mut sub) => {
                    say("subscribed");
                    for i in 0..10 {
                        assert_eq!(sub.recv_pod::<Quote>().unwrap(), quote(i));
                    }
                    say("got 10");
                }
            }
        }
        // Publishes the feed `args[0]` declaring `Quote`, and holds (to be killed).
        "quote-publisher" => {
            let options = PublishOptions::default().message_type(MessageType::of::<Quote>());
            let _publisher = Publisher::create(&args[0], options).unwrap();
            say("publishing");
            hold();
        }
        // An `shm:` server declaring `Quote`: accepts until a client is connected (the
        // clients of another type refuse its rings), echoes its quotes until it leaves,
        // and ends (its listener, and the listener's record, with it).
        "quote-server" => {
            let options = Options::default().message_type(MessageType::of::<Quote>());
            let listener = options.listen(&args[0]).unwrap();
            say("listening");
            let mut conn = loop {
                if let Ok(conn) = listener.accept() {
                    break conn;
                }
            };
            while let Ok(q) = conn.receiver().recv_pod::<Quote>() {
                conn.sender().send_pod(&q).unwrap();
            }
            say("served");
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

/// A feed that declares `Quote`: a subscriber process that declares `Trade` (the same
/// size and alignment, so sizes alone would let it misread every message) is refused at
/// subscribe with both types named; one that declares `Quote` reads the quotes. The
/// publisher's `publish_pod` of a `Trade` is refused, nothing published.
#[test]
fn a_subscriber_of_another_pod_type_is_refused_at_subscribe() {
    let feed = ShmName::new("typed-declared-feed");
    let options = PublishOptions::default()
        .slots(64)
        .message_type(MessageType::of::<Quote>());
    let mut publisher = Publisher::create(&feed.0, options).unwrap();
    let trade = Trade {
        price: 1,
        qty: 2,
        instrument: 3,
        side: 4,
    };
    let wrong = publisher.publish_pod(&trade);
    assert!(
        matches!(&wrong, Err(Error::WrongMessageType { .. })),
        "{wrong:?}"
    );
    assert_eq!(publisher.published(), 0, "nothing was published");
    for i in 0..10 {
        publisher.publish_pod(&quote(i)).unwrap();
    }

    let mut trades = Peer::spawn("declared-subscriber", &[&feed.0, "Trade"]);
    assert_eq!(
        trades.recv(),
        format!(
            "refused: feed {} carries Quote: 24 bytes, align 8, not the Trade: 24 bytes, align 8 declared here",
            feed.0
        )
    );
    assert!(trades.finish().success());

    let mut quotes = Peer::spawn("declared-subscriber", &[&feed.0, "Quote"]);
    let _records = SubscriberRecords(vec![quotes.pid()]);
    assert_eq!(quotes.recv(), "subscribed");
    assert_eq!(quotes.recv(), "got 10");
    assert!(quotes.finish().success());
}

/// An `shm:` server that declares `Quote`: a client that declares `Trade` is refused at
/// connect with the type named, one that declares nothing is refused by the rings' kind,
/// and one that declares `Quote` talks to it; its typed calls with another type are
/// refused, nothing sent or taken.
#[test]
fn an_shm_client_of_another_pod_type_is_refused_at_connect() {
    let dir = TempDir::new("typed-declared-shm");
    let url = format!("shm://{}", dir.path().join("quotes.sock").display());
    let mut server = Peer::spawn("quote-server", &[&url]);
    assert_eq!(server.recv(), "listening");

    let trades = Options::default().message_type(MessageType::of::<Trade>());
    match bounded("connect as Trade", || trades.connect(&url)) {
        Err(Error::WrongMessageType {
            at,
            expected,
            found: None,
        }) => {
            assert_eq!(
                (at, expected),
                (url.clone(), "Trade: 24 bytes, align 8".into())
            );
        }
        other => panic!("a Trade client: {other:?}"),
    }
    let untyped = bounded("connect untyped", || ipclane::connect(&url));
    assert!(
        untyped
            .as_ref()
            .is_err_and(|e| e.to_string().contains("layout hash")),
        "an untyped client: {untyped:?}"
    );

    let quotes = Options::default().message_type(MessageType::of::<Quote>());
    let mut conn = bounded("connect as Quote", || quotes.connect(&url)).unwrap();
    for i in 0..100 {
        conn.sender().send_pod(&quote(i)).unwrap();
        assert_eq!(conn.receiver().recv_pod::<Quote>().unwrap(), quote(i));
    }
    let trade = Trade {
        price: 1,
        qty: 2,
        instrument: 3,
        side: 4,
    };
    assert!(matches!(
        conn.sender().send_pod(&trade),
        Err(Error::WrongMessageType { .. })
    ));
    conn.sender().send_pod(&quote(7)).unwrap();
    assert!(matches!(
        conn.receiver().recv_pod::<Trade>(),
        Err(Error::WrongMessageType { .. })
    ));
    assert_eq!(conn.receiver().recv_pod::<Quote>().unwrap(), quote(7));
    drop(conn);
    assert_eq!(server.recv(), "served");
    assert!(server.finish().success());
}

/// A publisher that declared `Quote`, killed, then restarted without a declaration: its
/// dead declaration goes with the takeover, so a subscriber that declares `Trade` is
/// not refused on the dead one's word (the feed declares nothing now).
#[test]
fn a_restarted_publisher_leaves_no_dead_declaration() {
    let feed = ShmName::new("typed-restarted-feed");
    let mut first = Peer::spawn("quote-publisher", &[&feed.0]);
    assert_eq!(first.recv(), "publishing");
    first.kill();
    let declaration = format!("/dev/shm/ipclane.{}.type", feed.0);
    assert!(std::path::Path::new(&declaration).exists());
    let _restarted = Publisher::create(&feed.0, PublishOptions::default()).unwrap();
    assert!(
        !std::path::Path::new(&declaration).exists(),
        "the dead declaration stayed"
    );
    let trades = SubscribeOptions::default().message_type(MessageType::of::<Trade>());
    assert!(ipclane::Subscriber::open_with(&feed.0, trades).is_ok());
}
