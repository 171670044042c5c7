//! Async beside blocking, in one run: round trips of 64-byte messages through `shm:` and
//! `unix:`, from a blocking client and from an `ipclane::tokio` client (a current-thread
//! runtime), each to a blocking echo thread on the other CPU; the same through two feeds
//! (a request feed the echo subscribes to, a reply feed it publishes on), the client's
//! subscriber blocking or an `ipclane::tokio::Subscriber`; then a steady stream into an
//! async `shm:` receiver. The rows alternate in rounds, with the cache-line floor
//! measured before each round, so the drifting floor of this VM moves both alike.
//!
//! System calls are counted by the notifiers themselves (`wait_stats().wakes`: futex
//! wakes and doorbell rings), on both ends of each connection.
//!
//! Every message is stamped in full and every echo checked in full
//! (`ipclane_bench::integrity`), so no copy is optimised away.
//!
//! ```text
//! cargo bench -p ipclane-bench --bench async_round_trip
//! ```

use std::time::{Duration, Instant};

use ipclane::Error;
use ipclane_bench::cpu::{self, Placement};
use ipclane_bench::floor;
use ipclane_bench::integrity::{Checker, Stamp};
use ipclane_bench::stats::Latencies;

/// Bytes per message.
const LEN: usize = 64;
/// Rounds of each row, alternating.
const ROUNDS: usize = 5;
/// Round trips per row and round.
const PER_ROUND: u64 = 20_000;
/// Messages of the stream row.
const STREAM: u64 = 1_000_000;

/// What an echo thread reports once its client left: its sender's wake system calls.
type Echoed = std::thread::JoinHandle<u64>;

/// Echoes every message on `conn` until its client leaves.
fn echo(mut conn: ipclane::Connection, placement: Placement) -> u64 {
    if let Some(cpu) = placement.second() {
        cpu::pin(cpu).expect("pin the echo thread");
    }
    loop {
        match conn.recv() {
            Ok(msg) => conn.send(&msg).expect("echo"),
            Err(Error::Disconnected { .. }) => break,
            Err(e) => panic!("echo: {e}"),
        }
    }
    conn.sender().wait_stats().map_or(0, |s| s.wakes)
}

/// A listener on `url` whose next `n` connections are echoed, each by a thread (in the
/// order they connect).
fn echo_server(
    url: &str,
    n: usize,
    placement: Placement,
) -> (String, std::thread::JoinHandle<Vec<Echoed>>) {
    let listener = ipclane::listen(url).expect("listen");
    let url = listener.url().to_string();
    let accepting = std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let conn = listener.accept().expect("accept");
                std::thread::spawn(move || echo(conn, placement))
            })
            .collect::<Vec<_>>()
    });
    (url, accepting)
}

/// The floors measured before each round, for the end of a row.
fn listed(floors: &[Duration]) -> String {
    floors
        .iter()
        .map(|f| format!("{f:.0?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One row's round trips.
#[derive(Default)]
struct Row {
    round_trips: Latencies,
    trips: u64,
}

impl Row {
    fn median(&self) -> Duration {
        self.round_trips.quantile(0.5)
    }
}

fn blocking_round(conn: &mut ipclane::Connection, checker: &mut Checker, row: &mut Row) {
    // The same calls as the async client's: `send` and `recv` (a `Bytes` each).
    let mut out = [0u8; LEN];
    for _ in 0..PER_ROUND {
        Stamp::new(checker.next()).write(&mut out);
        let t0 = Instant::now();
        conn.send(&out).expect("send");
        let got = conn.recv().expect("receive");
        row.round_trips.record(t0.elapsed());
        checker.check(&got).expect("the echo whole");
        std::hint::black_box(checker.bytes());
    }
    row.trips += PER_ROUND;
}

async fn async_round(conn: &mut ipclane::tokio::Connection, checker: &mut Checker, row: &mut Row) {
    let mut out = [0u8; LEN];
    for _ in 0..PER_ROUND {
        Stamp::new(checker.next()).write(&mut out);
        let t0 = Instant::now();
        conn.send(&out).await.expect("send");
        let got = conn.recv().await.expect("receive");
        row.round_trips.record(t0.elapsed());
        checker.check(&got).expect("the echo whole");
        std::hint::black_box(checker.bytes());
    }
    row.trips += PER_ROUND;
}

fn main() {
    let placement = Placement::distinct();
    if let Some(cpu) = placement.first() {
        cpu::pin(cpu).expect("pin the client");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = std::env::temp_dir().join(format!("ipclane-bench-async-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the sockets");
    println!("{} ({placement})", cpu::describe());
    println!(
        "{:<6} {:<9} {:>10} {:>10} {:>10} {:>16}  floor per round",
        "scheme", "client", "median", "p99", "vs block", "syscalls/trip"
    );
    for scheme in ["shm", "unix"] {
        let (url, accepting) = echo_server(
            &format!(
                "{scheme}://{}",
                dir.join(format!("{scheme}.sock")).display()
            ),
            2,
            placement,
        );
        let mut blocking = ipclane::connect(&url).expect("connect");
        let mut asynch = runtime
            .block_on(ipclane::tokio::connect(&url))
            .expect("connect async");
        let echoes = accepting.join().expect("accepting");
        let (mut b_row, mut a_row) = (Row::default(), Row::default());
        let (mut b_check, mut a_check) = (Checker::default(), Checker::default());
        let mut floors = Vec::new();
        for _ in 0..ROUNDS {
            floors.push(floor::cache_line(placement));
            blocking_round(&mut blocking, &mut b_check, &mut b_row);
            runtime.block_on(async_round(&mut asynch, &mut a_check, &mut a_row));
        }
        let b_client = blocking.sender().wait_stats().map_or(0, |s| s.wakes);
        let a_client = asynch.sender().wait_stats().map_or(0, |s| s.wakes);
        drop((blocking, asynch));
        let echo_wakes: Vec<u64> = echoes
            .into_iter()
            .map(|e| e.join().expect("echo"))
            .collect();
        let floors = listed(&floors);
        for (name, row, wakes) in [
            ("blocking", &b_row, b_client + echo_wakes[0]),
            ("async", &a_row, a_client + echo_wakes[1]),
        ] {
            let syscalls = if scheme == "shm" {
                format!("{:.4}", wakes as f64 / row.trips as f64)
            } else {
                "in the kernel".into()
            };
            println!(
                "{scheme:<6} {name:<9} {:>10.2?} {:>10.2?} {:>9.2}x {syscalls:>16}  {floors}",
                row.median(),
                row.round_trips.quantile(0.99),
                row.median().as_secs_f64() / b_row.median().as_secs_f64(),
            );
        }
    }
    feeds(&runtime, placement);
    stream(&runtime, &dir, placement);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client's side of a feed ping-pong: it publishes requests on its feed, which an echo
/// thread on the other CPU subscribes to and publishes back on a reply feed.
struct FeedPair<R> {
    requests: ipclane::Publisher,
    replies: R,
    /// The echo's publisher's wake-ups, once the requests end.
    echo: std::thread::JoinHandle<u64>,
}

impl<R> FeedPair<R> {
    /// Sets up the two feeds and the echo; `replies` makes the client's subscriber of the
    /// reply feed.
    fn new(
        tag: &str,
        placement: Placement,
        replies: impl FnOnce(ipclane::Subscriber) -> R,
    ) -> Self {
        let name = |what: &str| format!("bench-async-{tag}-{what}-{}", std::process::id());
        let (req, rep) = (name("req"), name("rep"));
        let requests =
            ipclane::Publisher::create(&req, ipclane::PublishOptions::default()).expect("feed");
        let (ready, up) = std::sync::mpsc::channel();
        let reply_feed = rep.clone();
        let echo = std::thread::spawn(move || {
            if let Some(cpu) = placement.second() {
                cpu::pin(cpu).expect("pin the echo thread");
            }
            let mut out =
                ipclane::Publisher::create(&reply_feed, ipclane::PublishOptions::default())
                    .expect("the reply feed");
            let mut sub = ipclane::Subscriber::open(&req).expect("subscribe to the requests");
            ready.send(()).expect("ready");
            loop {
                match sub.recv() {
                    Ok(msg) => out.publish(&msg).expect("echo"),
                    Err(Error::Disconnected { .. }) => break,
                    Err(e) => panic!("feed echo: {e}"),
                }
            }
            out.wait_stats().wakes
        });
        up.recv().expect("the echo's reply feed");
        let replies = replies(ipclane::Subscriber::open(&rep).expect("subscribe to the replies"));
        Self {
            requests,
            replies,
            echo,
        }
    }

    /// The round trips' notifier system calls: both publishers' wakes and rings.
    fn finish(self) -> u64 {
        let client = self.requests.wait_stats().wakes;
        drop(self.requests);
        client + self.echo.join().expect("the feed echo")
    }
}

/// Round trips through two feeds, the client's reply subscriber blocking, then async,
/// in alternating rounds.
fn feeds(runtime: &tokio::runtime::Runtime, placement: Placement) {
    // The async subscriber registers with the runtime's reactor.
    let _guard = runtime.enter();
    let mut blocking = FeedPair::new("blocking", placement, |sub| sub);
    let mut awaiting = FeedPair::new("async", placement, |sub| {
        ipclane::tokio::Subscriber::from_blocking(sub).expect("an async subscriber")
    });
    let (mut b_row, mut a_row) = (Row::default(), Row::default());
    let (mut b_check, mut a_check) = (Checker::default(), Checker::default());
    let mut floors = Vec::new();
    let mut out = [0u8; LEN];
    for _ in 0..ROUNDS {
        floors.push(floor::cache_line(placement));
        for _ in 0..PER_ROUND {
            Stamp::new(b_check.next()).write(&mut out);
            let t0 = Instant::now();
            blocking.requests.publish(&out).expect("publish");
            let got = blocking.replies.recv().expect("the reply");
            b_row.round_trips.record(t0.elapsed());
            b_check.check(&got).expect("the reply whole");
            std::hint::black_box(b_check.bytes());
        }
        b_row.trips += PER_ROUND;
        runtime.block_on(async {
            for _ in 0..PER_ROUND {
                Stamp::new(a_check.next()).write(&mut out);
                let t0 = Instant::now();
                awaiting.requests.publish(&out).expect("publish");
                let got = awaiting.replies.recv().await.expect("the reply");
                a_row.round_trips.record(t0.elapsed());
                a_check.check(&got).expect("the reply whole");
                std::hint::black_box(a_check.bytes());
            }
        });
        a_row.trips += PER_ROUND;
    }
    let floors = listed(&floors);
    for (name, row, wakes) in [
        ("blocking", &b_row, blocking.finish()),
        ("async", &a_row, awaiting.finish()),
    ] {
        println!(
            "{:<6} {name:<9} {:>10.2?} {:>10.2?} {:>9.2}x {:>16.4}  {floors}",
            "feed",
            row.median(),
            row.round_trips.quantile(0.99),
            row.median().as_secs_f64() / b_row.median().as_secs_f64(),
            wakes as f64 / row.trips as f64,
        );
    }
}

/// A blocking sender on the other CPU streams messages as fast as it can into an async
/// `shm:` receiver: the receiver's rate, and the rings and wakes per message.
fn stream(runtime: &tokio::runtime::Runtime, dir: &std::path::Path, placement: Placement) {
    let listener =
        ipclane::listen(&format!("shm://{}", dir.join("stream.sock").display())).expect("listen");
    let url = listener.url().to_string();
    let source = std::thread::spawn(move || {
        if let Some(cpu) = placement.second() {
            cpu::pin(cpu).expect("pin the source");
        }
        let mut conn = listener.accept().expect("accept");
        let mut out = [0u8; LEN];
        for seq in 0..STREAM {
            Stamp::new(seq).write(&mut out);
            conn.send(&out).expect("send");
        }
        conn.sender().wait_stats().map_or(0, |s| s.wakes)
    });
    let took = runtime.block_on(async {
        let mut conn = ipclane::tokio::connect(&url).await.expect("connect");
        let mut checker = Checker::default();
        let t0 = Instant::now();
        for _ in 0..STREAM {
            let got = conn.recv().await.expect("receive");
            checker.check(&got).expect("the message whole");
            std::hint::black_box(checker.bytes());
        }
        t0.elapsed()
    });
    let wakes = source.join().expect("the source");
    println!(
        "stream into an async shm receiver: {STREAM} messages of {LEN} bytes in {took:.2?} \
         ({:.2} M/s); the sender's wakes and rings: {wakes} ({:.5} per message)",
        STREAM as f64 / took.as_secs_f64() / 1e6,
        wakes as f64 / STREAM as f64,
    );
}
