//! In-process cost of typed messages against raw bytes of the same size, both ends of
//! one `shm:` connection in this thread (as `facade.rs`): plain-old-data values
//! (`send_pod` / `recv_pod`, no encoding) and serde values (`TypedSender` /
//! `TypedReceiver`, postcard), each beside the raw `send` / `recv_into_slice` of as many
//! bytes.
//!
//! Every message is stamped in full before it is sent and checked in full after it is
//! received (`ipclane_bench::integrity`); a serde value's every element is summed and
//! compared; so no copy or decoding can be optimised away.
//!
//! ```text
//! cargo bench -p ipclane-bench --bench typed
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipclane::{Connection, Options, TypedReceiver, TypedSender};
use ipclane_bench::integrity::{Checker, Stamp};

/// Both ends of a connection to `url`, in this process.
fn connected(url: &str) -> (Connection, Connection) {
    let options = Options::default().ring_capacity(1 << 20);
    let listener = options.listen(url).expect("listen");
    let accepted = std::thread::spawn(move || listener.accept().expect("accept"));
    let client = options.connect(url).expect("connect");
    (client, accepted.join().expect("the accepting thread"))
}

fn url(tag: &str) -> String {
    format!(
        "shm://{}/ipclane-bench-typed-{tag}-{}.sock",
        std::env::temp_dir().display(),
        std::process::id()
    )
}

/// Raw bytes and plain old data of `N` bytes, side by side.
fn pod_against_raw<const N: usize>(c: &mut Criterion) {
    let (a, b) = connected(&url(&format!("pod-{N}")));
    let ((mut a, _), (_, mut b)) = (a.split(), b.split());
    let mut group = c.benchmark_group("typed-shm-pod");
    group.throughput(Throughput::Bytes(N as u64));
    // The same two buffers for the raw bytes and the value: how fast a copy runs depends
    // on where its buffers lie (page offsets), so both measure the same places.
    let mut out = Box::new([0u8; N]);
    let mut buf = Box::new([0u8; N]);
    group.bench_function(BenchmarkId::new("raw bytes", N), |bench| {
        let mut checker = Checker::default();
        bench.iter(|| {
            Stamp::new(checker.next()).write(&mut out[..]);
            a.send(&out[..]).expect("send");
            let n = b.recv_into_slice(&mut buf[..]).expect("receive");
            // The same check as the value's, over the whole buffer (a check over
            // `buf[..n]`, of a length not known when compiling, ran 4% slower at 64 KiB).
            assert_eq!(n, N, "the message whole");
            checker.check(&buf[..]).expect("the message whole");
            std::hint::black_box(checker.bytes());
        });
    });
    group.bench_function(BenchmarkId::new("pod", N), |bench| {
        let mut checker = Checker::default();
        bench.iter(|| {
            Stamp::new(checker.next()).write(&mut out[..]);
            a.send_pod(&*out).expect("send");
            b.recv_pod_into(&mut *buf).expect("receive");
            checker.check(&buf[..]).expect("the value whole");
            std::hint::black_box(checker.bytes());
        });
    });
    group.bench_function(BenchmarkId::new("pod, a new value each", N), |bench| {
        let mut checker = Checker::default();
        bench.iter(|| {
            Stamp::new(checker.next()).write(&mut out[..]);
            a.send_pod(&*out).expect("send");
            let got: [u8; N] = b.recv_pod().expect("receive");
            checker.check(&got).expect("the value whole");
            std::hint::black_box(checker.bytes());
        });
    });
    group.finish();
}

fn pod(c: &mut Criterion) {
    pod_against_raw::<64>(c);
    pod_against_raw::<1024>(c);
    pod_against_raw::<{ 64 << 10 }>(c);
}

/// A serde value of about `words * 9` bytes once encoded.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    id: u64,
    name: String,
    values: Vec<u64>,
}

/// The sum of a record's values, to check every one arrived.
fn sum(values: &[u64]) -> u64 {
    values.iter().fold(0, |s, v| s.wrapping_add(*v))
}

/// Serde records of `words` numbers against raw bytes of their encoded size: the
/// encoding's cost per message size.
fn serde_against_raw(c: &mut Criterion, words: usize) {
    let (a, b) = connected(&url(&format!("serde-{words}")));
    let ((a, _), (_, mut b)) = (a.split(), b.split());
    // Large numbers: most take the varint's longest form.
    let mut record = Record {
        id: 0,
        name: "ACME.N".into(),
        values: (0..words as u64)
            .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect(),
    };
    let total = sum(&record.values);
    let mut tx = TypedSender::<Record>::new(a);
    tx.send(&record).expect("send");
    let encoded = b.recv().expect("receive").len();
    // The raw baseline stamps and checks its bytes, in whole words: the encoded size
    // rounded up (the baseline moves at most 7 bytes more).
    let len = encoded.next_multiple_of(8).max(16);
    let mut a = tx.into_inner();
    let mut group = c.benchmark_group("typed-shm-serde");
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function(BenchmarkId::new("raw bytes", len), |bench| {
        let mut out = vec![0u8; len];
        let mut buf = vec![0u8; len];
        let mut checker = Checker::default();
        bench.iter(|| {
            Stamp::new(checker.next()).write(&mut out);
            a.send(&out).expect("send");
            let n = b.recv_into_slice(&mut buf).expect("receive");
            checker.check(&buf[..n]).expect("the message whole");
            std::hint::black_box(checker.bytes());
        });
    });
    let (mut tx, mut rx) = (
        TypedSender::<Record>::new(a),
        TypedReceiver::<Record>::new(b),
    );
    group.bench_function(BenchmarkId::new("serde", encoded), |bench| {
        bench.iter(|| {
            record.id += 1;
            tx.send(&record).expect("send");
            let got = rx.recv().expect("receive");
            assert!(
                got.id == record.id && sum(&got.values) == total,
                "the record whole"
            );
            std::hint::black_box(got);
        });
    });
    group.finish();
}

fn serde(c: &mut Criterion) {
    for words in [4, 128, 8192] {
        serde_against_raw(c, words);
    }
}

criterion_group!(benches, pod, serde);
criterion_main!(benches);
