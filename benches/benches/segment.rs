//! Cost of the segment lifecycle: create, open, drop, liveness queries.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ipclane::segment::Segment;

fn lifecycle(c: &mut Criterion) {
    let name = format!("bench-{}", std::process::id());
    let mut group = c.benchmark_group("segment");
    group.bench_function("create+drop named 64KiB", |b| {
        b.iter(|| {
            black_box(
                Segment::named(&name)
                    .size(64 << 10)
                    .create()
                    .expect("create"),
            )
        })
    });
    group.bench_function("create+drop memfd 64KiB", |b| {
        b.iter(|| {
            black_box(
                Segment::anonymous("bench")
                    .size(64 << 10)
                    .create()
                    .expect("create"),
            )
        })
    });
    let owner = Segment::named(&name)
        .size(64 << 10)
        .create()
        .expect("create");
    group.bench_function("open+drop named 64KiB", |b| {
        b.iter(|| black_box(Segment::named(&name).open().expect("open")))
    });
    group.bench_function("owner_alive", |b| {
        b.iter(|| black_box(owner.owner_alive().expect("query")))
    });
    group.bench_function("attached", |b| {
        b.iter(|| black_box(owner.attached().expect("query")))
    });
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
