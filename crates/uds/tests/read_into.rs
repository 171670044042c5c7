//! `FramedStream::read_frame_into`: frames into the caller's buffer, small ones from the
//! read-ahead and large ones received in place, losing nothing on any error.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipclane_testkit::{Deadline, WAIT_LIMIT};
use ipclane_uds::{FramedStream, UdsError};

/// Frame `i`: a length that varies from 0 to over a megabyte, bytes that depend on `i`.
fn frame(i: usize) -> Vec<u8> {
    let len = [0, 1, 63, 4096, 65_535, 65_537, 1 << 20, 100][i % 8];
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

#[test]
fn frames_of_every_size_arrive_whole_and_in_order() {
    let _deadline = Deadline::new(WAIT_LIMIT, "frames_of_every_size: its socket reads");
    let (a, b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        let mut a = FramedStream::new(a);
        for i in 0..40 {
            a.write_frame(&frame(i)).unwrap();
        }
    });
    let mut b = FramedStream::new(b);
    let mut buf = vec![0u8; (1 << 20) + 1];
    for i in 0..40 {
        let len = b.read_frame_into(&mut buf).unwrap().expect("a frame");
        assert_eq!(&buf[..len], &frame(i)[..], "frame {i}");
    }
    assert_eq!(b.read_frame_into(&mut buf).unwrap(), None, "a clean end");
    writer.join().unwrap();
}

#[test]
fn a_frame_longer_than_the_buffer_stays_next_whole() {
    let _deadline = Deadline::new(WAIT_LIMIT, "a_frame_longer_than_the_buffer: its reads");
    let (a, b) = UnixStream::pair().unwrap();
    let mut a = FramedStream::new(a);
    a.write_frame(b"twelve bytes").unwrap();
    a.write_frame(b"next").unwrap();
    let mut b = FramedStream::new(b);
    let mut small = [0u8; 11];
    match b.read_frame_into(&mut small) {
        Err(UdsError::BufferTooSmall { len, capacity }) => assert_eq!((len, capacity), (12, 11)),
        other => panic!("expected BufferTooSmall, got {other:?}"),
    }
    assert_eq!(
        b.read_frame().unwrap().as_deref(),
        Some(&b"twelve bytes"[..])
    );
    assert_eq!(b.read_frame_into(&mut small).unwrap(), Some(4));
    assert_eq!(&small[..4], b"next");
}

#[test]
fn a_timeout_inside_a_large_payload_loses_nothing() {
    let _deadline = Deadline::new(WAIT_LIMIT, "a_timeout_inside_a_large_payload: its reads");
    let (mut a, b) = UnixStream::pair().unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|j| (j % 251) as u8).collect();
    let mut wire = (payload.len() as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&payload);
    let half = 4 + payload.len() / 2;
    // Half the frame, from a thread: more than the socket buffer holds.
    let first = wire[..half].to_vec();
    let writer = std::thread::spawn(move || {
        a.write_all(&first).unwrap();
        a
    });
    b.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut b = FramedStream::new(b);
    let mut buf = vec![0u8; payload.len()];
    match b.read_frame_into(&mut buf) {
        Err(UdsError::Timeout { .. }) => {}
        other => panic!("expected a timeout inside the payload, got {other:?}"),
    }
    let mut a = writer.join().unwrap();
    a.write_all(&wire[half..]).unwrap();
    buf.fill(0);
    assert_eq!(b.read_frame_into(&mut buf).unwrap(), Some(payload.len()));
    assert!(
        buf == payload,
        "the frame continued where the timeout left it"
    );
}

#[test]
fn an_end_inside_a_payload_is_truncated() {
    let _deadline = Deadline::new(WAIT_LIMIT, "an_end_inside_a_payload: its reads");
    for (wire, part) in [
        (&b"\x00\x00"[..], "length header"),
        (&b"\x00\x00\x00\x09abc"[..], "payload"),
    ] {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(wire).unwrap();
        drop(a);
        let mut buf = [0u8; 16];
        match FramedStream::new(b).read_frame_into(&mut buf) {
            Err(UdsError::Truncated { part: p, .. }) => assert_eq!(p, part),
            other => panic!("expected Truncated in the {part}, got {other:?}"),
        }
    }
}
