//! Steady traffic allocates nothing: frames are split from one reused read buffer, a
//! single-frame write encodes its header on the stack, and a message receive allocates
//! only the message it returns, which holds its own bytes, not the receive capacity.
//!
//! Counts the allocations and the live bytes of each thread separately, so that the tests
//! of this binary can run in parallel.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use bytes::{Bytes, BytesMut};
use ipclane_testkit::alloc::{allocations, live_bytes};
use ipclane_uds::{DatagramSocket, FrameCodec, FramedStream, SeqpacketStream};

#[global_allocator]
static GLOBAL: ipclane_testkit::alloc::Counting = ipclane_testkit::alloc::Counting;

const FRAMES: usize = 20_000;

#[test]
fn steady_reads_and_writes_do_not_allocate_per_frame() {
    // Reading: the peer writes pre-encoded frames (allocated before counting starts).
    let (mut raw, framed_end) = UnixStream::pair().unwrap();
    let mut wire = BytesMut::new();
    let mut codec = FrameCodec::new();
    for i in 0..FRAMES {
        codec
            .encode(&vec![i as u8; 1 + i % 300], &mut wire)
            .unwrap();
    }
    let wire = wire.freeze();
    let mut reader = FramedStream::new(framed_end);
    let writer = std::thread::spawn(move || raw.write_all(&wire).map(|()| raw));
    let before = allocations();
    for i in 0..FRAMES {
        let frame = reader.read_frame().unwrap().unwrap();
        assert_eq!(frame.len(), 1 + i % 300);
    }
    let read_allocations = allocations() - before;
    let raw = writer.join().unwrap().unwrap();
    assert!(
        read_allocations < 16,
        "{read_allocations} allocations for {FRAMES} frames read"
    );

    // Writing: the peer drains into a fixed buffer.
    let mut writer = FramedStream::new(raw);
    let mut sink = reader.into_inner();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        let mut total = 0;
        while let Ok(n) = sink.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    let payload = [7u8; 100];
    let before = allocations();
    for _ in 0..FRAMES {
        writer.write_frame(&payload).unwrap();
    }
    let write_allocations = allocations() - before;
    drop(writer);
    assert_eq!(drain.join().unwrap(), FRAMES * 104);
    assert!(
        write_allocations < 16,
        "{write_allocations} allocations for {FRAMES} frames written"
    );
}

/// A seqpacket pair and a datagram pair, as (sender, receiver) closures.
type Pair = (Box<dyn Fn(&[u8])>, Box<dyn FnMut() -> Bytes>);

fn message_pairs() -> Vec<(&'static str, Pair)> {
    let (sa, mut sb) = SeqpacketStream::pair().unwrap();
    let (da, mut db) = DatagramSocket::pair().unwrap();
    vec![
        (
            "seqpacket",
            (
                Box::new(move |m: &[u8]| sa.send(m).unwrap()),
                Box::new(move || sb.recv().unwrap().unwrap()),
            ),
        ),
        (
            "datagram",
            (
                Box::new(move |m: &[u8]| da.send(m).unwrap()),
                Box::new(move || db.recv().unwrap()),
            ),
        ),
    ]
}

#[test]
fn retained_small_messages_hold_their_bytes_not_the_receive_capacity() {
    for (kind, (send, mut recv)) in message_pairs() {
        // The first receive allocates the socket's reusable buffer.
        send(b"warm up");
        drop(recv());
        let mut kept = Vec::with_capacity(1000);
        let before = live_bytes();
        for i in 0..1000u32 {
            send(&[i as u8]);
            kept.push(recv());
        }
        let held = live_bytes() - before;
        assert!(kept.iter().all(|m| m.len() == 1));
        // 1000 one-byte messages: a few tens of KiB of bookkeeping, not 1000 x 256 KiB.
        assert!(
            held < 1 << 20,
            "{kind}: 1000 retained 1-byte messages hold {held} bytes"
        );
    }
}

#[test]
fn steady_message_receives_allocate_only_the_message() {
    for (kind, (send, mut recv)) in message_pairs() {
        send(b"warm up");
        drop(recv());
        let payload = [9u8; 100];
        let before = allocations();
        for _ in 0..2000 {
            send(&payload);
            assert_eq!(recv().len(), 100);
        }
        let per_message = (allocations() - before) as f64 / 2000.0;
        assert!(
            per_message <= 1.0,
            "{kind}: {per_message} allocations per message received"
        );
    }
}
