//! Framed Unix-socket messaging against raw reads and writes on the same socket type,
//! between two processes.
//!
//! For each size (64 B, 4 KiB, 64 KiB, 1 MiB):
//! - `roundtrip/{framed,raw}`: send one message, wait for the echo (latency);
//! - `stream/{framed,raw}`: send messages back to back, one acknowledgement per batch
//!   (throughput).
//!
//! "Raw" is the floor framing is measured against: the payload alone with `write_all` and
//! `read_exact`, both sides knowing the size in advance, so no length prefix at all; a
//! raw receiver reads through a 64 KiB `BufReader`, as the framed one reads through its
//! decode buffer. Every message is stamped by its sender and checked whole by its
//! receiver, framed and raw alike (`ipclane_bench::integrity`); the echo checks before it
//! echoes, and the pinger checks the echo.
//!
//! The peer is this benchmark binary started again with `IPCLANE_BENCH_PEER` set; the two
//! processes are pinned to distinct CPUs when there are two.
//!
//! ```text
//! cargo bench -p ipclane-bench --bench uds
//! ```

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ipclane::uds::{FramedStream, Listener, UdsAddr, connect};
use ipclane_bench::cpu::{self, Placement};
use ipclane_bench::integrity::{Checker, Stamp};

const SIZES: [usize; 4] = [64, 4 << 10, 64 << 10, 1 << 20];
const PEER_VAR: &str = "IPCLANE_BENCH_PEER";

fn main() {
    let placement = Placement::distinct();
    if let Ok(spec) = std::env::var(PEER_VAR) {
        if let Some(cpu) = placement.second() {
            cpu::pin(cpu).expect("pin the peer");
        }
        peer(&spec);
        return;
    }
    if let Some(cpu) = placement.first() {
        cpu::pin(cpu).expect("pin the benchmark");
    }
    eprintln!("uds bench: {}; processes {placement}", cpu::describe());
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    for size in SIZES {
        for mode in ["framed", "raw"] {
            roundtrip(&mut c, mode, size);
        }
        for mode in ["framed", "raw"] {
            stream(&mut c, mode, size);
        }
    }
    c.final_summary();
}

/// A peer process connected to us, running `role` for messages of `size` bytes.
struct Connected {
    stream: UnixStream,
    child: Child,
}

impl Drop for Connected {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = self.child.wait();
    }
}

fn start_peer(role: &str, size: usize) -> Connected {
    let addr: UdsAddr = format!("@ipclane-bench-{}-{role}-{size}", std::process::id())
        .parse()
        .expect("address");
    let listener = Listener::bind(&addr).expect("bind");
    let child = Command::new(std::env::current_exe().expect("bench binary"))
        .env(PEER_VAR, format!("{role} {size} {addr}"))
        .spawn()
        .expect("spawn peer");
    let (stream, _) = listener.accept().expect("accept");
    Connected { stream, child }
}

fn roundtrip(c: &mut Criterion, mode: &str, size: usize) {
    let mut group = c.benchmark_group(format!("roundtrip/{size}"));
    group.throughput(Throughput::Bytes(size as u64));
    let peer = start_peer(&format!("echo-{mode}"), size);
    let mut payload = vec![0u8; size];
    let mut checker = Checker::default();
    let stream = peer.stream.try_clone().expect("clone");
    if mode == "framed" {
        let mut framed = FramedStream::new(stream);
        group.bench_function(BenchmarkId::new("framed", size), |b| {
            b.iter(|| {
                Stamp::new(checker.next()).write(&mut payload);
                framed.write_frame(&payload).expect("write");
                let echo = framed.read_frame().expect("read").expect("echo");
                checker.check(&echo).expect("an intact echo");
            })
        });
    } else {
        let mut stream = stream;
        let mut echo = vec![0u8; size];
        group.bench_function(BenchmarkId::new("raw", size), |b| {
            b.iter(|| {
                Stamp::new(checker.next()).write(&mut payload);
                stream.write_all(&payload).expect("write");
                stream.read_exact(&mut echo).expect("read");
                checker.check(&echo).expect("an intact echo");
            })
        });
    }
    std::hint::black_box(checker.bytes());
    group.finish();
}

fn stream(c: &mut Criterion, mode: &str, size: usize) {
    let mut group = c.benchmark_group(format!("stream/{size}"));
    group.throughput(Throughput::Bytes(size as u64));
    let peer = start_peer(&format!("sink-{mode}"), size);
    let mut payload = vec![0u8; size];
    let mut seq = 0;
    let mut ack = [0u8; 1];
    let stream = peer.stream.try_clone().expect("clone");
    if mode == "framed" {
        let mut framed = FramedStream::new(stream);
        group.bench_function(BenchmarkId::new("framed", size), |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    Stamp::new(seq).write(&mut payload);
                    seq += 1;
                    framed.write_frame(&payload).expect("write");
                }
                framed.write_frame(b"").expect("end of batch");
                framed.get_ref().read_exact(&mut ack).expect("ack");
                t0.elapsed()
            })
        });
    } else {
        let mut stream = stream;
        group.bench_function(BenchmarkId::new("raw", size), |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                stream.write_all(&iters.to_ne_bytes()).expect("count");
                for _ in 0..iters {
                    Stamp::new(seq).write(&mut payload);
                    seq += 1;
                    stream.write_all(&payload).expect("write");
                }
                stream.read_exact(&mut ack).expect("ack");
                t0.elapsed()
            })
        });
    }
    group.finish();
}

/// The peer side: `"<role> <size> <address>"`.
fn peer(spec: &str) {
    let mut parts = spec.splitn(3, ' ');
    let (role, size, addr) = (
        parts.next().expect("role"),
        parts.next().expect("size").parse::<usize>().expect("size"),
        parts
            .next()
            .expect("address")
            .parse::<UdsAddr>()
            .expect("address"),
    );
    let stream = connect(&addr).expect("connect");
    let mut checker = Checker::default();
    match role {
        "echo-framed" => {
            let mut framed = FramedStream::new(stream);
            while let Ok(Some(frame)) = framed.read_frame() {
                checker.check(&frame).expect("an intact message");
                framed.write_frame(&frame).expect("echo");
            }
        }
        "echo-raw" => {
            let mut stream = stream;
            let mut buf = vec![0u8; size];
            while stream.read_exact(&mut buf).is_ok() {
                checker.check(&buf).expect("an intact message");
                stream.write_all(&buf).expect("echo");
            }
        }
        "sink-framed" => {
            let mut framed = FramedStream::new(stream);
            while let Ok(Some(frame)) = framed.read_frame() {
                if frame.is_empty() {
                    framed.get_ref().write_all(b"!").expect("ack");
                } else {
                    checker.check(&frame).expect("an intact message");
                }
            }
        }
        "sink-raw" => {
            let mut writer = stream.try_clone().expect("clone");
            let mut reader = std::io::BufReader::with_capacity(64 << 10, stream);
            let mut buf = vec![0u8; size];
            let mut count = [0u8; 8];
            while reader.read_exact(&mut count).is_ok() {
                for _ in 0..u64::from_ne_bytes(count) {
                    reader.read_exact(&mut buf).expect("a whole message");
                    checker.check(&buf).expect("an intact message");
                }
                writer.write_all(b"!").expect("ack");
            }
        }
        other => panic!("unknown peer role {other}"),
    }
    std::hint::black_box(checker.bytes());
}
