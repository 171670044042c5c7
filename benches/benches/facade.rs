//! In-process cost of the facade's send and receive: both ends of one connection in this
//! thread, each message sent on one end and received on the other, over `shm:` (two
//! memfd rings, the code a cross-process connection runs) and `unix:` (a socket pair
//! through the kernel). The facade has no heap-ring connection; a shared-memory
//! connection inside one process runs the same send and receive code.
//!
//! Every message is stamped in full before it is sent and checked in full after it is
//! received (`ipclane_bench::integrity`), so no copy can be optimised away.
//!
//! ```text
//! cargo bench -p ipclane-bench --bench facade
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ipclane::{Connection, Options};
use ipclane_bench::integrity::{Checker, Stamp};

const SIZES: [usize; 3] = [64, 1024, 64 << 10];

/// Both ends of a connection to `url`, in this process.
fn connected(url: &str) -> (Connection, Connection) {
    let options = Options::default().ring_capacity(1 << 20);
    let listener = options.listen(url).expect("listen");
    let accepted = std::thread::spawn(move || listener.accept().expect("accept"));
    let client = options.connect(url).expect("connect");
    (client, accepted.join().expect("the accepting thread"))
}

fn send_recv(c: &mut Criterion) {
    let dir = std::env::temp_dir();
    for (scheme, url) in [
        (
            "shm",
            format!(
                "shm://{}/ipclane-bench-facade-{}.sock",
                dir.display(),
                std::process::id()
            ),
        ),
        (
            "unix",
            format!("unix:@ipclane-bench-facade-{}", std::process::id()),
        ),
    ] {
        let (a, b) = connected(&url);
        let ((mut a, _), (_, mut b)) = (a.split(), b.split());
        let mut group = c.benchmark_group(format!("facade-{scheme}"));
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::new("send+recv", size), |bench| {
                let mut out = vec![0u8; size];
                let mut buf = vec![0u8; size];
                let mut checker = Checker::default();
                bench.iter(|| {
                    Stamp::new(checker.next()).write(&mut out);
                    a.send(&out).expect("send");
                    let n = b.recv_into_slice(&mut buf).expect("receive");
                    checker.check(&buf[..n]).expect("the message whole");
                    std::hint::black_box(checker.bytes());
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, send_recv);
criterion_main!(benches);
