//! Steady traffic allocates nothing: frames are split from one reused read buffer, and a
//! single-frame write encodes its header on the stack.
//!
//! Counts every allocation of this test binary, which holds this one test only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use ipclane_uds::{FrameCodec, FramedStream};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every operation to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..FRAMES {
        let frame = reader.read_frame().unwrap().unwrap();
        assert_eq!(frame.len(), 1 + i % 300);
    }
    let read_allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..FRAMES {
        writer.write_frame(&payload).unwrap();
    }
    let write_allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    drop(writer);
    assert_eq!(drain.join().unwrap(), FRAMES * 104);
    assert!(
        write_allocations < 16,
        "{write_allocations} allocations for {FRAMES} frames written"
    );
}
