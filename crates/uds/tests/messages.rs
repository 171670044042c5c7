//! Seqpacket and datagram sockets keep message boundaries and never return a short message.

use ipclane_testkit::{Deadline, Peer, TempDir, WAIT_LIMIT, say};
use ipclane_uds::{DatagramSocket, SeqpacketListener, SeqpacketStream, UdsAddr, UdsError};

/// Entry point of the peer processes these tests start.
#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "seqpacket_client" => {
            let mut s = SeqpacketStream::connect(&args[0].parse().unwrap()).unwrap();
            for size in [1usize, 100, 65_536, 150_000] {
                s.send(&vec![size as u8; size]).unwrap();
            }
            let reply = s.recv().unwrap().unwrap();
            say(String::from_utf8_lossy(&reply));
        }
        "raw_seqpacket_empty_messages" => {
            // A foreign peer: a plain socket and send(2), not SeqpacketStream::send.
            let fd = rustix::net::socket(
                rustix::net::AddressFamily::UNIX,
                rustix::net::SocketType::SEQPACKET,
                None,
            )
            .unwrap();
            let addr = rustix::net::SocketAddrUnix::new(args[0].as_str()).unwrap();
            rustix::net::connect(&fd, &addr).unwrap();
            for msg in [&b""[..], b"after", b""] {
                rustix::net::send(&fd, msg, rustix::net::SendFlags::empty()).unwrap();
            }
            // Still connected: the server's reply arrives, then this end closes.
            let mut buf = [0u8; 64];
            let (n, _) = rustix::net::recv(&fd, &mut buf, rustix::net::RecvFlags::empty()).unwrap();
            say(String::from_utf8_lossy(&buf[..n]));
        }
        other => panic!("unknown peer role {other}"),
    });
}

#[test]
fn seqpacket_keeps_boundaries_across_processes() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "seqpacket_keeps_boundaries_across_processes: its accepts and socket reads",
    );
    let dir = TempDir::new("seqpacket");
    let addr: UdsAddr = dir.path().join("sp.sock").into();
    let listener = SeqpacketListener::bind(&addr).unwrap();
    let mut peer = Peer::spawn("seqpacket_client", &[&addr.to_string()]);
    let (mut conn, creds) = listener.accept().unwrap();
    assert_eq!(creds.pid, peer.pid());
    for size in [1usize, 100, 65_536, 150_000] {
        let msg = conn.recv().unwrap().unwrap();
        assert_eq!(msg.len(), size);
        assert!(msg.iter().all(|&b| b == size as u8));
    }
    conn.send(b"got 4").unwrap();
    assert_eq!(peer.recv(), "got 4");
    assert!(peer.finish().success());
    assert_eq!(conn.recv().unwrap(), None, "the peer closed");
}

#[test]
fn seqpacket_refuses_oversized_and_empty_messages() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "seqpacket_refuses_oversized_and_empty_messages: its accepts and socket reads",
    );
    let (a, mut b) = SeqpacketStream::pair().unwrap();
    match a.send(&vec![0; 4 << 20]) {
        Err(UdsError::TooLarge { len, max }) => {
            assert_eq!(len, 4 << 20);
            assert!(max > 0 && max < 4 << 20);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(matches!(a.send(b""), Err(UdsError::EmptyMessage)));
    a.send(b"still usable").unwrap();
    assert_eq!(b.recv().unwrap().as_deref(), Some(&b"still usable"[..]));
}

#[test]
fn seqpacket_reports_truncation_and_stays_usable() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "seqpacket_reports_truncation_and_stays_usable: its accepts and socket reads",
    );
    let (a, mut b) = SeqpacketStream::pair().unwrap();
    b.set_max_message_len(10);
    a.send(&[1; 20]).unwrap();
    a.send(&[2; 10]).unwrap();
    match b.recv() {
        Err(UdsError::MessageTruncated { len, capacity }) => assert_eq!((len, capacity), (20, 10)),
        other => panic!("expected MessageTruncated, got {other:?}"),
    }
    assert_eq!(b.recv().unwrap().as_deref(), Some(&[2u8; 10][..]));
}

#[test]
fn datagrams_keep_boundaries_and_empty_messages() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "datagrams_keep_boundaries_and_empty_messages: its accepts and socket reads",
    );
    let (a, mut b) = DatagramSocket::pair().unwrap();
    for msg in [&b"one"[..], b"", b"three"] {
        a.send(msg).unwrap();
    }
    assert_eq!(&b.recv().unwrap()[..], b"one");
    assert!(
        b.recv().unwrap().is_empty(),
        "a zero-length datagram is a message"
    );
    assert_eq!(&b.recv().unwrap()[..], b"three");
}

#[test]
fn datagrams_report_truncation_and_size_limits() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "datagrams_report_truncation_and_size_limits: its accepts and socket reads",
    );
    let (a, mut b) = DatagramSocket::pair().unwrap();
    b.set_max_message_len(4);
    a.send(b"too long").unwrap();
    assert!(matches!(
        b.recv(),
        Err(UdsError::MessageTruncated {
            len: 8,
            capacity: 4
        })
    ));
    assert!(matches!(
        a.send(&vec![0; 8 << 20]),
        Err(UdsError::TooLarge { .. })
    ));
}

#[test]
fn bound_datagram_sockets_exchange_with_addresses() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "bound_datagram_sockets_exchange_with_addresses: its accepts and socket reads",
    );
    let dir = TempDir::new("dgram");
    let server_addr: UdsAddr = dir.path().join("server.sock").into();
    let client_addr: UdsAddr = dir.path().join("client.sock").into();
    let mut server = DatagramSocket::bind(&server_addr).unwrap();
    let mut client = DatagramSocket::bind(&client_addr).unwrap();
    assert_eq!(server.local_addr(), Some(&server_addr));
    client.send_to(b"hello", &server_addr).unwrap();
    let (msg, from) = server.recv_from().unwrap();
    assert_eq!(&msg[..], b"hello");
    assert_eq!(from.as_ref(), Some(&client_addr));
    server.send_to(b"hi back", &client_addr).unwrap();
    assert_eq!(&client.recv().unwrap()[..], b"hi back");

    let anonymous = DatagramSocket::unbound().unwrap();
    anonymous.send_to(b"who?", &server_addr).unwrap();
    assert_eq!(
        server.recv_from().unwrap().1,
        None,
        "an unbound sender has no address"
    );

    let nobody: UdsAddr = dir.path().join("nobody.sock").into();
    assert!(matches!(
        anonymous.send_to(b"x", &nobody),
        Err(UdsError::NotListening { .. })
    ));
    drop(server);
    assert!(!dir.path().join("server.sock").exists(), "removed on drop");
}

#[test]
fn connected_datagram_socket_sends_to_its_peer() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "connected_datagram_socket_sends_to_its_peer: its accepts and socket reads",
    );
    let dir = TempDir::new("dgram-connect");
    let addr: UdsAddr = dir.path().join("d.sock").into();
    let mut server = DatagramSocket::bind(&addr).unwrap();
    let client = DatagramSocket::unbound().unwrap();
    client.connect(&addr).unwrap();
    client.send(b"connected").unwrap();
    assert_eq!(&server.recv().unwrap()[..], b"connected");
}

#[test]
fn an_empty_message_from_a_foreign_peer_is_not_the_end_of_the_stream() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "an_empty_message_from_a_foreign_peer_is_not_the_end_of_the_stream: its accepts and socket reads",
    );
    let dir = TempDir::new("seqpacket-empty");
    let addr: UdsAddr = dir.path().join("sp.sock").into();
    let listener = SeqpacketListener::bind(&addr).unwrap();
    let mut peer = Peer::spawn("raw_seqpacket_empty_messages", &[&addr.to_string()]);
    let (mut conn, _) = listener.accept().unwrap();
    assert_eq!(
        conn.recv().unwrap().as_deref(),
        Some(&b""[..]),
        "an empty message"
    );
    assert_eq!(conn.recv().unwrap().as_deref(), Some(&b"after"[..]));
    assert_eq!(
        conn.recv().unwrap().as_deref(),
        Some(&b""[..]),
        "an empty message"
    );
    conn.send(b"still open").unwrap();
    assert_eq!(peer.recv(), "still open");
    assert!(peer.finish().success());
    assert_eq!(conn.recv().unwrap(), None, "the end of the stream");
    assert_eq!(conn.recv().unwrap(), None, "and it stays ended");
}

#[test]
fn a_datagram_socket_shut_down_for_reading_is_an_error_not_empty_messages() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_datagram_socket_shut_down_for_reading_is_an_error_not_empty_messages: its accepts and socket reads",
    );
    let (a, mut b) = DatagramSocket::pair().unwrap();
    a.send(b"").unwrap();
    a.send(b"queued").unwrap();
    rustix::net::shutdown(&b, rustix::net::Shutdown::Read).unwrap();
    assert!(b.recv().unwrap().is_empty(), "the queued empty datagram");
    assert_eq!(&b.recv().unwrap()[..], b"queued");
    assert!(matches!(b.recv(), Err(UdsError::ReadShutdown)));
}

#[test]
fn the_reported_send_limit_is_exact() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "the_reported_send_limit_is_exact: its accepts and socket reads",
    );
    let (a, mut b) = SeqpacketStream::pair().unwrap();
    let max = a.max_send_len().unwrap();
    b.set_max_message_len(max);
    a.send(&vec![1; max]).unwrap();
    assert_eq!(b.recv().unwrap().unwrap().len(), max);
    match a.send(&vec![1; max + 1]) {
        Err(UdsError::TooLarge { len, max: reported }) => {
            assert_eq!((len, reported), (max as u64 + 1, max as u64))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    let (a, mut b) = DatagramSocket::pair().unwrap();
    // A larger send buffer: the limit follows it.
    rustix::net::sockopt::set_socket_send_buffer_size(&a, 1 << 20).unwrap();
    let max = a.max_send_len().unwrap();
    assert!(max > 1 << 20, "the kernel doubles SO_SNDBUF; limit {max}");
    b.set_max_message_len(max);
    a.send(&vec![2; max]).unwrap();
    assert_eq!(b.recv().unwrap().len(), max);
    match a.send(&vec![2; max + 1]) {
        Err(UdsError::TooLarge { len, max: reported }) => {
            assert_eq!((len, reported), (max as u64 + 1, max as u64))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn message_socket_read_timeouts_are_timeout_errors() {
    let _deadline = Deadline::new(WAIT_LIMIT, "message socket read timeouts: their receives");
    let short = Some(std::time::Duration::from_millis(30));
    let (_a, mut b) = SeqpacketStream::pair().unwrap();
    b.set_read_timeout(short).unwrap();
    assert!(matches!(b.recv(), Err(UdsError::Timeout { op: "recvmsg" })));
    let (_c, mut d) = DatagramSocket::pair().unwrap();
    d.set_read_timeout(short).unwrap();
    assert!(matches!(d.recv(), Err(UdsError::Timeout { op: "recvmsg" })));
    // And still usable afterwards.
    let (e, mut f) = SeqpacketStream::pair().unwrap();
    f.set_read_timeout(short).unwrap();
    assert!(matches!(f.recv(), Err(UdsError::Timeout { .. })));
    e.send(b"late").unwrap();
    assert_eq!(f.recv().unwrap().as_deref(), Some(&b"late"[..]));
}
