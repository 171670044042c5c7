//! In-process throughput of the queues (one producer thread, one consumer thread), with
//! well-known in-process queues beside them for context: rtrb (SPSC ring of bytes, the
//! closest match to the SPSC byte ring) and crossbeam's ArrayQueue (MPMC; it moves a
//! `Vec<u8>` per message, i.e. a pointer, not the bytes).
//!
//! Every row does the same work per message: the producer stamps every byte
//! (`ipclane_bench::integrity`), the consumer copies the message out and checks every
//! byte, so no consumer's copy can be optimised away and none loses a message unseen.
//!
//! ```text
//! cargo bench -p ipclane-bench --bench queue
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipclane::queue::{Broadcast, MpmcQueue, QueueError, SpscRing};
use ipclane_bench::integrity::{Checker, Stamp};

const SIZES: [usize; 4] = [8, 64, 1024, 64 << 10];

/// Runs `produce(n)` on a second thread while `consume(n)` runs here; returns the time.
fn pair<P, C>(iters: u64, produce: P, consume: C) -> Duration
where
    P: FnOnce(u64) + Send + 'static,
    C: FnOnce(u64),
{
    let t0 = Instant::now();
    let producer = std::thread::spawn(move || produce(iters));
    consume(iters);
    producer.join().expect("producer");
    t0.elapsed()
}

fn spsc(c: &mut Criterion) {
    let mut group = c.benchmark_group("spsc");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("ipclane", size), |b| {
            b.iter_custom(|iters| {
                let (mut tx, mut rx) =
                    SpscRing::heap((size * 64).next_power_of_two().max(1 << 16)).expect("ring");
                let mut record = vec![0u8; size];
                let mut out = vec![0u8; size];
                let mut checker = Checker::default();
                pair(
                    iters,
                    move |n| {
                        for seq in 0..n {
                            Stamp::new(seq).write(&mut record);
                            while tx.try_push(&record).is_err() {
                                std::hint::spin_loop();
                            }
                        }
                    },
                    |n| {
                        for _ in 0..n {
                            loop {
                                match rx.try_read() {
                                    Ok(g) => {
                                        g.copy_to(&mut out);
                                        g.release();
                                        break;
                                    }
                                    Err(QueueError::Empty) => std::hint::spin_loop(),
                                    Err(e) => panic!("{e}"),
                                }
                            }
                            checker.check(&out).expect("an intact record");
                        }
                        std::hint::black_box(checker.bytes());
                    },
                )
            })
        });
        group.bench_function(BenchmarkId::new("rtrb", size), |b| {
            b.iter_custom(|iters| {
                let (mut tx, mut rx) = rtrb::RingBuffer::<u8>::new((size * 64).max(1 << 16));
                let mut record = vec![0u8; size];
                let mut out = vec![0u8; size];
                let mut checker = Checker::default();
                pair(
                    iters,
                    move |n| {
                        for seq in 0..n {
                            Stamp::new(seq).write(&mut record);
                            loop {
                                if let Ok(chunk) = tx.write_chunk_uninit(size) {
                                    chunk.fill_from_iter(record.iter().copied());
                                    break;
                                }
                                std::hint::spin_loop();
                            }
                        }
                    },
                    |n| {
                        for _ in 0..n {
                            loop {
                                if let Ok(chunk) = rx.read_chunk(size) {
                                    let (a, b) = chunk.as_slices();
                                    out[..a.len()].copy_from_slice(a);
                                    out[a.len()..].copy_from_slice(b);
                                    chunk.commit_all();
                                    break;
                                }
                                std::hint::spin_loop();
                            }
                            checker.check(&out).expect("an intact record");
                        }
                        std::hint::black_box(checker.bytes());
                    },
                )
            })
        });
    }
    group.finish();
}

fn mpmc(c: &mut Criterion) {
    let mut group = c.benchmark_group("mpmc");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("ipclane", size), |b| {
            b.iter_custom(|iters| {
                let (mut tx, mut rx) = MpmcQueue::heap(256, size).expect("queue");
                let mut record = vec![0u8; size];
                let mut checker = Checker::default();
                pair(
                    iters,
                    move |n| {
                        for seq in 0..n {
                            Stamp::new(seq).write(&mut record);
                            while tx.try_push(&record).is_err() {
                                std::hint::spin_loop();
                            }
                        }
                    },
                    |n| {
                        for _ in 0..n {
                            let out = loop {
                                match rx.try_pop() {
                                    Ok(out) => break out,
                                    Err(_) => std::hint::spin_loop(),
                                }
                            };
                            checker.check(&out).expect("an intact record");
                        }
                        std::hint::black_box(checker.bytes());
                    },
                )
            })
        });
        group.bench_function(
            BenchmarkId::new("crossbeam-ArrayQueue<Vec<u8>>", size),
            |b| {
                b.iter_custom(|iters| {
                    let q = Arc::new(crossbeam_queue::ArrayQueue::<Vec<u8>>::new(256));
                    let tq = q.clone();
                    let mut checker = Checker::default();
                    pair(
                        iters,
                        move |n| {
                            for seq in 0..n {
                                let mut v = vec![0u8; size];
                                Stamp::new(seq).write(&mut v);
                                while let Err(back) = tq.push(v) {
                                    v = back;
                                    std::hint::spin_loop();
                                }
                            }
                        },
                        |n| {
                            for _ in 0..n {
                                let out = loop {
                                    match q.pop() {
                                        Some(out) => break out,
                                        None => std::hint::spin_loop(),
                                    }
                                };
                                checker.check(&out).expect("an intact record");
                            }
                            std::hint::black_box(checker.bytes());
                        },
                    )
                })
            },
        );
    }
    group.finish();
}

fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("ipclane-write+1-reader", size), |b| {
            b.iter_custom(|iters| {
                let (mut writer, mut reader) = Broadcast::heap(1024, size).expect("ring");
                let done = Arc::new(AtomicBool::new(false));
                let mut record = vec![0u8; size];
                let flag = done.clone();
                let mut checker = Checker::default();
                pair(
                    iters,
                    move |n| {
                        for seq in 0..n {
                            Stamp::new(seq).write(&mut record);
                            writer.write(&record).expect("write");
                        }
                        flag.store(true, Ordering::Release);
                    },
                    |_| loop {
                        match reader.try_recv() {
                            Ok(out) => checker.check(&out).expect("an intact record"),
                            // The records it missed are counted; the next one read follows them.
                            Err(QueueError::Lagged { missed }) => checker.skip(missed),
                            Err(QueueError::Disconnected) => break,
                            Err(QueueError::Empty) if done.load(Ordering::Acquire) => break,
                            Err(QueueError::Empty) => std::hint::spin_loop(),
                            Err(e) => panic!("{e}"),
                        }
                    },
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = spsc, mpmc, broadcast
}
criterion_main!(benches);
