//! Framed streams between real processes: trickling peers, partial writes, ends of
//! stream, closed peers, TCP.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::BytesMut;
use ipclane_testkit::{Deadline, Peer, TempDir, WAIT_LIMIT, say};
use ipclane_uds::{FrameCodec, FramedStream, Listener, UdsAddr, UdsError, connect};

/// Entry point of the peer processes these tests start.
#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    ipclane_testkit::run_peer(|role, args| match role {
        "trickle" => {
            let mut stream = connect(&args[0].parse().unwrap()).unwrap();
            let mut wire = BytesMut::new();
            let mut codec = FrameCodec::new();
            for frame in &args[1..] {
                codec.encode(frame.as_bytes(), &mut wire).unwrap();
            }
            for byte in wire.iter() {
                stream.write_all(&[*byte]).unwrap();
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        "checksum_reader" => {
            let stream = connect(&args[0].parse().unwrap()).unwrap();
            let mut framed = FramedStream::new(stream);
            let (mut count, mut sum) = (0u64, 0u64);
            while let Some(frame) = framed.read_frame().unwrap() {
                check_frame(count, &frame);
                count += 1;
                sum = sum.wrapping_mul(31).wrapping_add(frame.len() as u64);
                if count % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1)); // a slow reader
                }
            }
            say(format!("{count} {sum}"));
        }
        "write_to_closed_peer" => {
            // Restore the default action of SIGPIPE (death), which the Rust runtime
            // replaces with "ignore", to prove that sends never raise it.
            // SAFETY: setting a signal disposition to SIG_DFL is always sound.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            let (a, b) = UnixStream::pair().unwrap();
            drop(b);
            let mut framed = FramedStream::new(a);
            match framed.write_frame(b"anyone there?") {
                Err(UdsError::Disconnected) => say("disconnected"),
                other => say(format!("unexpected {other:?}")),
            }
        }
        "withhold_last_byte" => {
            // Announces a maximal frame, sends all of it but the last byte, and leaves.
            let mut stream = connect(&args[0].parse().unwrap()).unwrap();
            let max = ipclane_uds::DEFAULT_MAX_FRAME_LENGTH;
            stream.write_all(&(max as u32).to_be_bytes()).unwrap();
            stream.write_all(&vec![0x5a; max - 1]).unwrap();
        }
        other => panic!("unknown peer role {other}"),
    });
}

/// Frame `i` of the partial-write test: a size that varies, bytes that depend on `i`.
fn frame(i: u64) -> Vec<u8> {
    let len = ((i * 7919) % 20_000) as usize;
    (0..len).map(|j| (i as usize + j) as u8).collect()
}

fn check_frame(i: u64, got: &[u8]) {
    assert_eq!(got, &frame(i)[..], "frame {i} differs");
}

fn sock_addr(dir: &TempDir) -> UdsAddr {
    dir.path().join("s.sock").into()
}

#[test]
fn a_trickling_peer_is_reassembled() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_trickling_peer_is_reassembled: its accepts and socket reads",
    );
    let dir = TempDir::new("trickle");
    let addr = sock_addr(&dir);
    let listener = Listener::bind(&addr).unwrap();
    let _peer = Peer::spawn("trickle", &[&addr.to_string(), "first", "", "third frame"]);
    let (stream, _) = listener.accept().unwrap();
    let mut framed = FramedStream::new(stream);
    assert_eq!(framed.read_frame().unwrap().as_deref(), Some(&b"first"[..]));
    assert_eq!(framed.read_frame().unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(
        framed.read_frame().unwrap().as_deref(),
        Some(&b"third frame"[..])
    );
    assert_eq!(framed.read_frame().unwrap(), None);
}

#[test]
fn vectored_writes_survive_partial_writes_to_a_slow_reader() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "vectored_writes_survive_partial_writes_to_a_slow_reader: its accepts and socket reads",
    );
    let dir = TempDir::new("partial");
    let addr = sock_addr(&dir);
    let listener = Listener::bind(&addr).unwrap();
    let mut peer = Peer::spawn("checksum_reader", &[&addr.to_string()]);
    let (stream, _) = listener.accept().unwrap();
    // A tiny send buffer forces many partial sendmsg calls.
    rustix::net::sockopt::set_socket_send_buffer_size(&stream, 4096).unwrap();
    let mut framed = FramedStream::new(stream);
    let frames: Vec<Vec<u8>> = (0..600).map(frame).collect();
    let mut sum = 0u64;
    for batch in frames.chunks(50) {
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        framed.write_frames(&refs).unwrap();
    }
    for f in &frames {
        sum = sum.wrapping_mul(31).wrapping_add(f.len() as u64);
    }
    // Fed frames go out with the next flush.
    for i in 600..700 {
        framed.feed_frame(&frame(i)).unwrap();
        sum = sum.wrapping_mul(31).wrapping_add(frame(i).len() as u64);
    }
    framed.flush().unwrap();
    drop(framed);
    assert_eq!(peer.recv(), format!("700 {sum}"));
    assert!(peer.finish().success());
}

#[test]
fn end_of_stream_in_the_header_or_body_is_truncated() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "end_of_stream_in_the_header_or_body_is_truncated: its accepts and socket reads",
    );
    for (raw, part) in [
        (&b"\x00\x00"[..], "length header"),
        (b"\x00\x00\x00\x09abc", "payload"),
    ] {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(raw).unwrap();
        drop(a);
        let mut framed = FramedStream::new(b);
        match framed.read_frame() {
            Err(UdsError::Truncated { part: p, .. }) => assert_eq!(p, part),
            other => panic!("expected Truncated, got {other:?}"),
        }
    }
}

#[test]
fn an_oversized_header_from_the_peer_is_refused() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "an_oversized_header_from_the_peer_is_refused: its accepts and socket reads",
    );
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut framed = FramedStream::new(b);
    assert!(matches!(
        framed.read_frame(),
        Err(UdsError::TooLarge {
            len: 0xffff_ffff,
            ..
        })
    ));
}

#[test]
fn writes_to_a_closed_peer_are_disconnected_not_sigpipe() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "writes_to_a_closed_peer_are_disconnected_not_sigpipe: its accepts and socket reads",
    );
    let mut peer = Peer::spawn("write_to_closed_peer", &[]);
    assert_eq!(peer.recv(), "disconnected");
    assert!(
        peer.finish().success(),
        "the peer was not killed by SIGPIPE"
    );
}

#[test]
fn frames_over_the_limit_are_refused_before_sending() {
    let (a, b) = UnixStream::pair().unwrap();
    let codec = FrameCodec::builder().max_frame_length(16).new_codec();
    let mut framed = FramedStream::with_codec(a, codec);
    let err = framed.write_frames(&[b"ok", &[0; 17]]).unwrap_err();
    assert!(matches!(err, UdsError::TooLarge { len: 17, max: 16 }));
    b.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 8];
    assert!(
        std::io::Read::read(&mut &b, &mut probe).is_err(),
        "nothing was sent"
    );
}

#[test]
fn read_and_write_timeouts_are_timeout_errors_and_lose_nothing() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "read_and_write_timeouts_are_timeout_errors: its socket reads and writes",
    );
    let (a, b) = UnixStream::pair().unwrap();
    let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
    b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    match b.read_frame() {
        Err(UdsError::Timeout { op }) => assert_eq!(op, "recv"),
        other => panic!("expected a read timeout, got {other:?}"),
    }
    // Nobody reads: frames fill the socket until the write timeout expires.
    a.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let frame = vec![7u8; 64 << 10];
    let mut sent = 0;
    let err = loop {
        match a.write_frame(&frame) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 10_000, "the socket never filled");
    };
    assert!(matches!(err, UdsError::Timeout { .. }), "{err:?}");
    assert_eq!(err.io_kind(), std::io::ErrorKind::TimedOut);
    // The frames sent before it arrive whole.
    for _ in 0..sent {
        assert_eq!(b.read_frame().unwrap().as_deref(), Some(&frame[..]));
    }
}

#[test]
fn framing_works_over_tcp() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "framing_works_over_tcp: its accepts and socket reads",
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut framed = FramedStream::new(TcpStream::connect(addr).unwrap());
        framed.write_frames(&[b"over", b"tcp"]).unwrap();
        framed.read_frame().unwrap()
    });
    let (stream, _) = listener.accept().unwrap();
    let mut framed = FramedStream::new(stream);
    assert_eq!(framed.read_frame().unwrap().as_deref(), Some(&b"over"[..]));
    assert_eq!(framed.read_frame().unwrap().as_deref(), Some(&b"tcp"[..]));
    framed.write_frame(b"back").unwrap();
    assert_eq!(client.join().unwrap().as_deref(), Some(&b"back"[..]));
}

#[test]
fn frames_handed_out_stay_valid_while_more_are_read() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "frames_handed_out_stay_valid_while_more_are_read: its accepts and socket reads",
    );
    let (a, b) = UnixStream::pair().unwrap();
    let (mut a, mut b) = (FramedStream::new(a), FramedStream::new(b));
    let writer = std::thread::spawn(move || {
        for i in 0..2000u32 {
            a.write_frame(&i.to_be_bytes().repeat(1 + (i % 50) as usize))
                .unwrap();
        }
    });
    let mut kept = Vec::new();
    for i in 0..2000u32 {
        let f = b.read_frame().unwrap().unwrap();
        if i % 100 == 0 {
            kept.push((i, f));
        }
    }
    writer.join().unwrap();
    for (i, f) in kept {
        assert_eq!(&f[..], &i.to_be_bytes().repeat(1 + (i % 50) as usize)[..]);
    }
}

#[test]
fn a_withheld_last_byte_costs_one_frame_not_two() {
    let _deadline = Deadline::new(
        WAIT_LIMIT,
        "a_withheld_last_byte_costs_one_frame_not_two: its accepts and socket reads",
    );
    let dir = TempDir::new("withhold");
    let addr = sock_addr(&dir);
    let listener = Listener::bind(&addr).unwrap();
    let peer = Peer::spawn("withhold_last_byte", &[&addr.to_string()]);
    let (stream, _) = listener.accept().unwrap();
    let mut framed = FramedStream::new(stream);
    let max = ipclane_uds::DEFAULT_MAX_FRAME_LENGTH as u64;
    match framed.read_frame() {
        Err(UdsError::Truncated {
            part: "payload",
            received,
            expected,
        }) => assert_eq!((received, expected), (max - 1, max)),
        other => panic!("expected a truncated payload, got {other:?}"),
    }
    assert!(peer.finish().success());
    // Every byte but one of the frame was held; at most one read chunk (64 KiB) more.
    let capacity = framed.read_buffer_capacity() as u64;
    assert!(
        (max - 1..=max + 64 * 1024 + 4).contains(&capacity),
        "the read buffer holds {capacity} bytes for a frame of {max}"
    );
}

/// The stream reads ahead in steps of 64 KiB, so many small frames come in one `recv`,
/// and it keeps the codec it was given.
#[test]
fn small_frames_are_read_ahead_in_64_kib_steps_with_the_given_codec() {
    let (a, b) = UnixStream::pair().unwrap();
    let codec = FrameCodec::builder()
        .length_width(ipclane_uds::LengthWidth::U16)
        .new_codec();
    let mut tx = FramedStream::with_codec(a, codec.clone());
    let mut rx = FramedStream::with_codec(b, codec);
    assert_eq!(rx.codec().header_len(), 2);
    for i in 0..10u8 {
        tx.write_frame(&[i; 100]).unwrap();
    }
    assert_eq!(&rx.read_frame().unwrap().unwrap()[..], &[0; 100]);
    let capacity = rx.read_buffer_capacity();
    // 64 KiB less the frame handed out.
    assert!(
        capacity >= (64 << 10) - 1024,
        "read-ahead of {capacity} bytes"
    );
    for i in 1..10u8 {
        assert_eq!(&rx.read_frame().unwrap().unwrap()[..], &[i; 100]);
    }
}
