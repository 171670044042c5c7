//! What a hostile peer can and cannot do, between real processes: values no correct peer
//! writes are `Corrupted` in bounded time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ipclane_queue::{Broadcast, Consumer, Producer, QueueError, SpscRing};
use ipclane_segment::{Kind, Segment};
use ipclane_testkit::{Peer, listen, say, unique};

/// Offsets of the side words in the user region (`docs/queue-layout.md`).
const SPSC_PRODUCER_SIDE: usize = 384;
const SPSC_CONSUMER_SIDE: usize = 512;
const BROADCAST_WRITER_SIDE: usize = 256;

/// How long a blocking call may take to report a corrupted side (it needs one liveness
/// period, 10 ms by default; the bug blocked forever).
const BOUND: Duration = Duration::from_secs(3);

/// Removes `/dev/shm/ipclane.<name>` when dropped, whatever happened.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        Self(unique(tag))
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/ipclane.{}", self.0));
    }
}

fn open(name: &str, kind: Kind) -> Arc<Segment> {
    Arc::new(
        Segment::named(name)
            .kind(kind)
            .open()
            .expect("open segment"),
    )
}

/// In a peer: after "attached", stores each `store <offset> <value>` line's value into the
/// u32 at that offset of `segment` and answers "stored", until stdin closes.
fn store_on_request(segment: &Segment) {
    say("attached");
    while let Some(line) = listen() {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[0], "store", "{line}");
        let offset: usize = words[1].parse().unwrap();
        let value: u32 = words[2].parse().unwrap();
        segment
            .region()
            .atomic::<AtomicU32>(offset)
            .unwrap()
            .store(value, Ordering::Release);
        say("stored");
    }
}

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "spsc_producer_stores" => {
            let segment = open(&args[0], SpscRing::KIND);
            let _tx = Producer::attach(segment.clone()).unwrap();
            store_on_request(&segment);
        }
        "spsc_consumer_stores" => {
            let segment = open(&args[0], SpscRing::KIND);
            let _rx = Consumer::attach(segment.clone()).unwrap();
            store_on_request(&segment);
        }
        "broadcast_writer_stores" => {
            let segment = open(&args[0], Broadcast::KIND);
            let _w = Broadcast::writer(segment.clone()).unwrap();
            store_on_request(&segment);
        }
        other => panic!("unknown peer role {other}"),
    });
}

/// When the peer holding a side stores an unknown state into its side word.
#[derive(Debug, Clone, Copy)]
enum Case {
    /// While the other side is blocked; the peer stays alive.
    WhileBlockedPeerAlive(u32),
    /// Before the other side blocks; the peer is killed in between.
    ThenPeerKilled(u32),
}

const CASES: [Case; 4] = [
    Case::WhileBlockedPeerAlive(7),
    Case::WhileBlockedPeerAlive(u32::MAX),
    Case::ThenPeerKilled(7),
    Case::ThenPeerKilled(u32::MAX),
];

/// Drives one case: `peer` holds the side whose word is at `offset`; `start` begins the
/// blocking call and returns a receiver of its result. Checks that it is `Corrupted`,
/// naming `side` and the value, within [`BOUND`].
fn check_case(
    case: Case,
    mut peer: Peer,
    offset: usize,
    side: &str,
    start: impl FnOnce() -> mpsc::Receiver<Result<(), QueueError>>,
) {
    assert_eq!(peer.recv(), "attached");
    let (value, result) = match case {
        Case::WhileBlockedPeerAlive(value) => {
            let result = start();
            // Let the call spin out its budget and go to sleep on the futex.
            std::thread::sleep(Duration::from_millis(100));
            assert!(
                matches!(result.try_recv(), Err(mpsc::TryRecvError::Empty)),
                "{case:?}: the call must block while the state is valid"
            );
            peer.send(&format!("store {offset} {value}"));
            assert_eq!(peer.recv(), "stored");
            (value, result)
        }
        Case::ThenPeerKilled(value) => {
            peer.send(&format!("store {offset} {value}"));
            assert_eq!(peer.recv(), "stored");
            peer.kill();
            (value, start())
        }
    };
    let result = result
        .recv_timeout(BOUND)
        .unwrap_or_else(|_| panic!("{case:?}: still blocked after {BOUND:?}"));
    match result {
        Err(QueueError::Corrupted { what }) => {
            assert!(
                what.contains(side) && what.contains(&value.to_string()),
                "{case:?}: {what}"
            );
        }
        other => panic!("{case:?}: {other:?}"),
    }
    drop(peer);
}

/// Runs `call` on a thread; its result comes through the receiver.
fn spawn_call(
    call: impl FnOnce() -> Result<(), QueueError> + Send + 'static,
) -> mpsc::Receiver<Result<(), QueueError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx
}

#[test]
fn pop_blocking_reports_an_unknown_producer_state_as_corrupted() {
    for case in CASES {
        let name = Name::new("side-pop");
        let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
        let mut rx = Consumer::attach(segment).unwrap();
        let peer = Peer::spawn("spsc_producer_stores", &[&name.0]);
        check_case(case, peer, SPSC_PRODUCER_SIDE, "producer", move || {
            spawn_call(move || rx.pop_blocking().map(drop))
        });
    }
}

#[test]
fn push_blocking_on_a_full_ring_reports_an_unknown_consumer_state_as_corrupted() {
    for case in CASES {
        let name = Name::new("side-push");
        let segment = Arc::new(SpscRing::create_named(&name.0, 1 << 12).unwrap());
        let mut tx = Producer::attach(segment).unwrap();
        let peer = Peer::spawn("spsc_consumer_stores", &[&name.0]);
        while tx.try_push(&[1; 100]).is_ok() {}
        assert!(matches!(tx.try_push(&[1; 100]), Err(QueueError::Full)));
        check_case(case, peer, SPSC_CONSUMER_SIDE, "consumer", move || {
            spawn_call(move || tx.push_blocking(&[2; 100]))
        });
    }
}

#[test]
fn recv_blocking_reports_an_unknown_writer_state_as_corrupted() {
    for case in CASES {
        let name = Name::new("side-recv");
        let _segment = Broadcast::create_named(&name.0, 8, 32).unwrap();
        let mut reader = Broadcast::reader(open(&name.0, Broadcast::KIND)).unwrap();
        let peer = Peer::spawn("broadcast_writer_stores", &[&name.0]);
        check_case(case, peer, BROADCAST_WRITER_SIDE, "writer", move || {
            spawn_call(move || reader.recv_blocking().map(drop))
        });
    }
}
