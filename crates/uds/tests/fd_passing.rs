//! Descriptor passing: what arrives works, and no error path leaks a descriptor.
//!
//! The leak checks count the entries of `/proc/self/fd`, so every test of this binary
//! holds one lock: no other test opens or closes descriptors meanwhile.

use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};

use ipclane_testkit::{Deadline, Peer, TempDir, WAIT_LIMIT, say};
use ipclane_uds::{
    DatagramSocket, Listener, SeqpacketStream, UdsAddr, UdsError, connect, recv_fds, send_fds,
};
use rustix::fs::MemfdFlags;

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn memfd(contents: &[u8]) -> std::fs::File {
    let mut f =
        std::fs::File::from(rustix::fs::memfd_create("fd-test", MemfdFlags::CLOEXEC).unwrap());
    f.write_all(contents).unwrap();
    f
}

/// Entry point of the peer processes these tests start.
#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "receive_memfd" => {
            let stream = connect(&args[0].parse().unwrap()).unwrap();
            let mut byte = [0u8; 1];
            let (n, fds) = recv_fds(&stream, &mut byte, 4).unwrap();
            assert_eq!((n, fds.len()), (1, 1));
            let fd = fds.into_iter().next().unwrap();
            let cloexec = rustix::io::fcntl_getfd(&fd)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC);
            let mut file = std::fs::File::from(fd);
            let mut text = String::new();
            file.rewind().unwrap();
            file.read_to_string(&mut text).unwrap();
            say(format!("{text} cloexec={cloexec}"));
        }
        other => panic!("unknown peer role {other}"),
    });
}

#[test]
fn a_memfd_passed_to_another_process_is_readable_there() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_memfd_passed_to_another_process_is_readable_there: its accepts and socket reads",
    );
    let _serial = serial();
    let dir = TempDir::new("memfd");
    let addr: UdsAddr = dir.path().join("fd.sock").into();
    let listener = Listener::bind(&addr).unwrap();
    let mut peer = Peer::spawn("receive_memfd", &[&addr.to_string()]);
    let (stream, _) = listener.accept().unwrap();
    let file = memfd(b"market data");
    send_fds(&stream, b"!", &[file.as_fd()]).unwrap();
    assert_eq!(peer.recv(), "market data cloexec=true");
    assert!(peer.finish().success());
}

#[test]
fn more_descriptors_than_accepted_are_all_closed() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "more_descriptors_than_accepted_are_all_closed: its accepts and socket reads",
    );
    let _serial = serial();
    let (a, b) = UnixStream::pair().unwrap();
    let files: Vec<_> = (0..10).map(|_| memfd(b"x")).collect();
    let borrowed: Vec<BorrowedFd<'_>> = files.iter().map(AsFd::as_fd).collect();
    let before = open_fds();

    send_fds(&a, b"1", &borrowed[..2]).unwrap();
    let mut buf = [0u8; 1];
    assert!(matches!(
        recv_fds(&b, &mut buf, 1),
        Err(UdsError::TooManyFds {
            received: 2,
            max: 1
        })
    ));
    assert_eq!(open_fds(), before, "TooManyFds leaked a descriptor");

    // Far more than the control buffer holds: the kernel truncates.
    send_fds(&a, b"2", &borrowed).unwrap();
    let r = recv_fds(&b, &mut buf, 1);
    assert!(matches!(r, Err(UdsError::ControlTruncated)), "{r:?}");
    assert_eq!(open_fds(), before, "ControlTruncated leaked a descriptor");

    send_fds(&a, b"3", &borrowed[..1]).unwrap();
    assert!(matches!(
        recv_fds(&b, &mut buf, 0),
        Err(UdsError::TooManyFds {
            received: 1,
            max: 0
        })
    ));
    assert_eq!(open_fds(), before, "a refused single descriptor leaked");
}

#[test]
fn a_truncated_message_closes_its_descriptors() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_truncated_message_closes_its_descriptors: its accepts and socket reads",
    );
    let _serial = serial();
    let (a, b) = DatagramSocket::pair().unwrap();
    let file = memfd(b"x");
    let before = open_fds();
    send_fds(&a, b"0123456789", &[file.as_fd()]).unwrap();
    let mut small = [0u8; 4];
    assert!(matches!(
        recv_fds(&b, &mut small, 1),
        Err(UdsError::MessageTruncated {
            len: 10,
            capacity: 4
        })
    ));
    assert_eq!(open_fds(), before);
}

#[test]
fn descriptors_arrive_in_order_over_seqpacket() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "descriptors_arrive_in_order_over_seqpacket: its accepts and socket reads",
    );
    let _serial = serial();
    let (a, b) = SeqpacketStream::pair().unwrap();
    let files = [memfd(b"first"), memfd(b"second")];
    send_fds(&a, b"two", &[files[0].as_fd(), files[1].as_fd()]).unwrap();
    let mut buf = [0u8; 8];
    let (n, fds) = recv_fds(&b, &mut buf, 2).unwrap();
    assert_eq!(&buf[..n], b"two");
    let texts: Vec<String> = fds
        .into_iter()
        .map(|fd: OwnedFd| {
            let mut f = std::fs::File::from(fd);
            let mut s = String::new();
            f.rewind().unwrap();
            f.read_to_string(&mut s).unwrap();
            s
        })
        .collect();
    assert_eq!(texts, ["first", "second"]);
}

#[test]
fn plain_data_and_misuse() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "plain_data_and_misuse: its accepts and socket reads",
    );
    let _serial = serial();
    let (a, b) = UnixStream::pair().unwrap();
    assert!(matches!(
        send_fds(&a, b"", &[]),
        Err(UdsError::EmptyMessage)
    ));
    send_fds(&a, b"no fds", &[]).unwrap();
    let mut buf = [0u8; 16];
    let (n, fds) = recv_fds(&b, &mut buf, 4).unwrap();
    assert_eq!((&buf[..n], fds.len()), (&b"no fds"[..], 0));
    drop(a);
    assert_eq!(recv_fds(&b, &mut buf, 4).unwrap().0, 0, "end of stream");
}

#[test]
fn descriptors_still_arrive_after_a_message_receive_turned_credentials_on() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "descriptors_still_arrive_after_a_message_receive_turned_credentials_on: its accepts and socket reads",
    );
    // SeqpacketStream::recv enables SO_PASSCRED; the credentials then come before the
    // descriptors, and recv_fds makes room for both.
    let (a, mut b) = ipclane_uds::SeqpacketStream::pair().unwrap();
    a.send(b"hello").unwrap();
    assert_eq!(b.recv().unwrap().as_deref(), Some(&b"hello"[..]));
    let file = memfd(b"payload");
    send_fds(&a, b"f", &[file.as_fd()]).unwrap();
    let mut buf = [0u8; 1];
    let (n, fds) = recv_fds(&b, &mut buf, 1).unwrap();
    assert_eq!((n, fds.len()), (1, 1));
}
