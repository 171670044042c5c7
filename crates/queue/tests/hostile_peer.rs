//! What a hostile peer can and cannot do, between real processes: values no correct peer
//! writes are `Corrupted` in bounded time, a named segment truncated under a reader kills
//! it with `SIGBUS` (the documented limit of named backing), and a sealed memfd cannot be
//! truncated at all.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ipclane_queue::{
    Broadcast, BroadcastReader, BroadcastWriter, Consumer, MpmcConsumer, MpmcProducer, MpmcQueue,
    Producer, QueueError, SpscRing,
};
use ipclane_segment::{Kind, Segment};
use ipclane_testkit::{Peer, ShmName, bounded, hold, listen, say, unique};
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Offsets of the side words in the user region (`docs/queue-layout.md`).
const SPSC_PRODUCER_SIDE: usize = 384;
const SPSC_CONSUMER_SIDE: usize = 512;
const BROADCAST_WRITER_SIDE: usize = 256;

/// How long a blocking call may take to report a corrupted side (it needs one liveness
/// period, 10 ms by default; the bug blocked forever).
const BOUND: Duration = Duration::from_secs(3);

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
            let _w = BroadcastWriter::attach(segment.clone()).unwrap();
            store_on_request(&segment);
        }
        "spsc_consumer_reads_after_truncation" => {
            // The test expects this process to die of SIGBUS: no core dump for it.
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
                .unwrap();
            let mut rx = Consumer::attach(open(&args[0], SpscRing::KIND)).unwrap();
            say("attached");
            assert_eq!(listen().as_deref(), Some("go"));
            let result = rx.pop_timeout(Duration::from_millis(100));
            say(format!("survived: {result:?}"));
        }
        "hostile_memfd_producer" => {
            let received = receive_fd(&args[0]);
            let mine = received.try_clone().unwrap();
            let segment = Segment::from_fd(mine).kind(SpscRing::KIND).open().unwrap();
            let size = rustix::fs::fstat(&received).unwrap().st_size;
            let mut tx = Producer::attach(Arc::new(segment)).unwrap();
            tx.try_push(b"before").unwrap();
            let errno = |r: Result<(), Errno>| r.err().map_or(0, |e| e.raw_os_error());
            let shrink = errno(rustix::fs::ftruncate(&received, 0));
            let grow = errno(rustix::fs::ftruncate(&received, size as u64 * 2));
            tx.try_push(b"after").unwrap();
            say(format!("shrink {shrink} grow {grow}"));
            hold();
        }
        other => panic!("unknown peer role {other}"),
    });
}

/// Sends `fd` over `stream` with `SCM_RIGHTS`.
fn send_fd(stream: &UnixStream, fd: impl AsFd) {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    let sent = rustix::net::sendmsg(
        stream,
        &[IoSlice::new(b"fd")],
        &mut control,
        SendFlags::empty(),
    )
    .expect("sendmsg");
    assert_eq!(sent, 2);
}

/// In a peer: connects to the abstract socket `name` and receives one descriptor.
fn receive_fd(name: &str) -> OwnedFd {
    let addr = SocketAddr::from_abstract_name(name).unwrap();
    let stream = UnixStream::connect_addr(&addr).expect("connect");
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 2];
    rustix::net::recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    control
        .drain()
        .find_map(|message| match message {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .expect("a descriptor")
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
        Err(QueueError::Corrupted { reason }) => {
            assert!(
                reason.contains(side) && reason.contains(&value.to_string()),
                "{case:?}: {reason}"
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
        let name = ShmName::new("side-pop");
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
        let name = ShmName::new("side-push");
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
        let name = ShmName::new("side-recv");
        let _segment = Broadcast::create_named(&name.0, 8, 32).unwrap();
        let mut reader = BroadcastReader::attach(open(&name.0, Broadcast::KIND)).unwrap();
        let peer = Peer::spawn("broadcast_writer_stores", &[&name.0]);
        check_case(case, peer, BROADCAST_WRITER_SIDE, "writer", move || {
            spawn_call(move || reader.recv_blocking().map(drop))
        });
    }
}

/// The limit of named backing, pinned so the docs stay honest: any process of the same
/// user can truncate `/dev/shm/ipclane.<name>`, and the kernel then removes the pages
/// from every mapping, so the next access of a process mapping it faults with `SIGBUS`.
/// No validation of the ring's contents can prevent that.
#[test]
fn a_named_ring_truncated_under_a_consumer_kills_it_with_sigbus() {
    let name = ShmName::new("truncate-named");
    // This process never touches the ring after the truncation (it would fault too).
    let segment = SpscRing::create_named(&name.0, 1 << 12).unwrap();
    let mut peer = Peer::spawn("spsc_consumer_reads_after_truncation", &[&name.0]);
    assert_eq!(peer.recv(), "attached");
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/ipclane.{}", name.0))
        .unwrap()
        .set_len(0)
        .unwrap();
    peer.send("go");
    let status = peer.finish();
    assert_eq!(
        status.signal(),
        Some(rustix::process::Signal::BUS.as_raw()),
        "the consumer was expected to die of SIGBUS: {status:?}"
    );
    drop(segment);
}

/// What sealed memfd backing prevents: the hostile peer that received the ring's
/// descriptor cannot shrink or grow it (`EPERM`), and both sides go on working.
#[test]
fn a_sealed_memfd_ring_cannot_be_truncated_by_a_hostile_peer() {
    let segment = Arc::new(SpscRing::create_memfd(1 << 12).unwrap());
    let size = rustix::fs::fstat(segment.as_fd()).unwrap().st_size;
    let mut rx = Consumer::attach(segment.clone()).unwrap();
    let socket = unique("memfd");
    let listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(&socket).unwrap()).unwrap();
    let mut peer = Peer::spawn("hostile_memfd_producer", &[&socket]);
    let (stream, _) = bounded("the hostile peer's connection", || listener.accept()).unwrap();
    send_fd(&stream, segment.as_fd());
    let perm = Errno::PERM.raw_os_error();
    assert_eq!(peer.recv(), format!("shrink {perm} grow {perm}"));
    assert_eq!(rustix::fs::fstat(segment.as_fd()).unwrap().st_size, size);
    let mut pop = |what: &str| bounded(what, || rx.pop_blocking());
    assert_eq!(
        pop("the record before the truncation").unwrap(),
        &b"before"[..]
    );
    assert_eq!(
        pop("the record after the truncation").unwrap(),
        &b"after"[..]
    );
    assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
    peer.kill();
    let end = bounded("Disconnected after the peer was killed", || {
        rx.pop_blocking()
    });
    assert!(matches!(end, Err(QueueError::Disconnected)));
}

/// Opens the segment behind a copy of `segment`'s descriptor, as a peer that received it
/// does, after checking that it is sealed against shrinking and growing.
fn reopen_sealed(segment: &Segment, kind: Kind) -> Arc<Segment> {
    let seals = rustix::fs::fcntl_get_seals(segment.as_fd()).unwrap();
    assert!(seals.contains(rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW));
    let fd = segment.as_fd().try_clone_to_owned().unwrap();
    Arc::new(Segment::from_fd(fd).kind(kind).open().unwrap())
}

#[test]
fn every_structure_offers_a_sealed_memfd_segment() {
    let spsc = SpscRing::create_memfd(1 << 12).unwrap();
    let mut tx = Producer::attach(reopen_sealed(&spsc, SpscRing::KIND)).unwrap();
    let mut rx = Consumer::attach(Arc::new(spsc)).unwrap();
    tx.try_push(b"spsc").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"spsc"[..]);

    let mpmc = MpmcQueue::create_memfd(8, 32).unwrap();
    let mut tx = MpmcProducer::attach(reopen_sealed(&mpmc, MpmcQueue::KIND)).unwrap();
    let mut rx = MpmcConsumer::attach(Arc::new(mpmc)).unwrap();
    tx.try_push(b"mpmc").unwrap();
    assert_eq!(rx.try_pop().unwrap(), &b"mpmc"[..]);

    let broadcast = Broadcast::create_memfd(8, 32).unwrap();
    let mut reader = BroadcastReader::attach(reopen_sealed(&broadcast, Broadcast::KIND)).unwrap();
    let mut writer = BroadcastWriter::attach(Arc::new(broadcast)).unwrap();
    writer.write(b"broadcast").unwrap();
    assert_eq!(reader.try_recv().unwrap(), &b"broadcast"[..]);

    assert!(matches!(
        SpscRing::create_memfd(1000),
        Err(QueueError::Layout { .. })
    ));
}
