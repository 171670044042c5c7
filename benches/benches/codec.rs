//! Encode and decode throughput of the frame codec (in memory, no I/O).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipclane::uds::FrameCodec;

const SIZES: [usize; 4] = [64, 4 << 10, 64 << 10, 1 << 20];

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    for size in SIZES {
        let payload = vec![0x5au8; size];
        // Frames per iteration: about 1 MiB of payload, at least one frame.
        let frames = ((1 << 20) / size).max(1);
        group.throughput(Throughput::Bytes((size * frames) as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &payload, |b, payload| {
            let mut codec = FrameCodec::new();
            let mut wire = BytesMut::with_capacity(frames * (size + 4));
            b.iter(|| {
                wire.clear();
                for _ in 0..frames {
                    codec.encode(payload, &mut wire).expect("encode");
                }
                black_box(wire.len())
            })
        });
        let mut wire = BytesMut::new();
        let mut codec = FrameCodec::new();
        for _ in 0..frames {
            codec.encode(&payload, &mut wire).expect("encode");
        }
        let wire = wire.freeze();
        group.bench_with_input(BenchmarkId::new("decode", size), &wire, |b, wire| {
            let mut codec = FrameCodec::new();
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| {
                    let mut n = 0;
                    while let Some(frame) = codec.decode(&mut buf).expect("decode") {
                        n += frame.len();
                    }
                    black_box(n)
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
