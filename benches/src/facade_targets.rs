//! The facade's targets: each facade row beside the layer it stands on, in the same run,
//! between two processes pinned to distinct CPUs, with the cache-line floor beside every
//! round (the harness of [`queue_targets`](crate::queue_targets)):
//!
//! 1. `shm` one-way latency at 64 B, busy-polling, within 1.15x of the bare SPSC ring
//!    (queue_targets' spsc row);
//! 2. `shm` 64 B streaming, running free and in batches, at least 0.8x of the bare ring;
//! 3. `shm` in blocking mode under a steady stream (one message every 10 µs): one-way p50
//!    within 2x of busy-polling, and (3b) no wake system call per message;
//! 4. `unix` round trip within 1.1x of a bare `FramedStream`, at 64 B, 4 KiB and 64 KiB.
//!
//! Every message is stamped and checked whole on both sides of every row.

use std::cell::RefCell;
use std::time::Duration;

use crate::endpoint::{self, Stream};
use crate::facade::{self, Waiting};
use crate::peer::Launcher;
use crate::queue_targets::channel::{Channel, PING_RING};
use crate::queue_targets::latency::{on_first_cpu, ping_pong};
use crate::queue_targets::stream::{Regime, STREAM_LEN, stream, turns_name};
use crate::queue_targets::{
    Options, Verdict, WARMUP, judge, name, p50_ratio, print_header, print_verdicts,
};
use crate::stats::Latencies;
use crate::turns::Turns;
use crate::uds::Mode;
use crate::{peer, uds_targets};

/// Peer roles.
const ECHO: &str = "facade-echo";
const PRODUCE: &str = "facade-produce";
const PACED: &str = "facade-send-paced";

/// Message length of the shared-memory rows.
const LEN: usize = 64;

/// The steady stream's period.
const PERIOD: Duration = Duration::from_micros(10);

/// Most wake system calls per message that count as none.
const MAX_WAKES_PER_MESSAGE: f64 = 1e-3;

/// Sizes of the round-trip rows on Unix sockets.
const UNIX_SIZES: [usize; 3] = [64, 4 << 10, 64 << 10];

/// Runs the checks and prints them; returns their verdicts.
///
/// # Panics
///
/// When any message of any row is lost, repeated, reordered or corrupted, or a peer fails.
pub fn run(launcher: &Launcher, options: &Options) -> Vec<Verdict> {
    print_header("facade targets", "facade", options);
    let mut verdicts = Vec::new();
    if options.wanted("latency") {
        verdicts.push(shm_latency(launcher, options));
    }
    if options.wanted("stream") {
        for regime in [Regime::Free, Regime::Batched] {
            verdicts.push(shm_stream(launcher, options, regime));
        }
    }
    if options.wanted("steady") {
        verdicts.extend(steady(launcher, options));
    }
    if options.wanted("unix") {
        for size in UNIX_SIZES {
            verdicts.push(unix_round_trip(launcher, options, size));
        }
    }
    print_verdicts(&verdicts);
    verdicts
}

/// A fresh `shm:` URL for `row`.
fn shm_url(row: &str) -> String {
    format!(
        "shm://{}",
        std::env::temp_dir()
            .join(format!("{}.sock", name(row)))
            .display()
    )
}

/// Listens on `url`, starts the peer `role` with `args` (the URL first), accepts it.
fn connected(
    launcher: &Launcher,
    options: &Options,
    url: &str,
    waiting: Waiting,
    role: &str,
    args: &[&str],
) -> (ipclane::Connection, peer::Peer) {
    let listener = waiting
        .options()
        .listen(url)
        .unwrap_or_else(|e| panic!("listen on {url}: {e}"));
    let mut all = vec![url];
    all.extend_from_slice(args);
    let peer = launcher.spawn(role, &all, options.placement.second());
    let conn = listener
        .accept()
        .unwrap_or_else(|e| panic!("accept on {url}: {e}"));
    (conn, peer)
}

/// One ping-pong row over the facade at `url`.
fn facade_ping(
    launcher: &Launcher,
    options: &Options,
    url: &str,
    waiting: Waiting,
    len: usize,
    count: u64,
    warmup: u64,
) -> Latencies {
    let args = [
        len.to_string(),
        count.to_string(),
        waiting.name().to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (conn, peer) = connected(launcher, options, url, waiting, ECHO, &args);
    let (mut tx, mut rx) = facade::ends(conn);
    let latencies = on_first_cpu(options, || {
        endpoint::ping(&mut tx, &mut rx, len, count, warmup)
    })
    .unwrap_or_else(|e| panic!("{url} ping-pong: {e}"));
    drop((tx, rx));
    peer.finish();
    latencies
}

fn shm_latency(launcher: &Launcher, options: &Options) -> Verdict {
    let check =
        format!("1. shm one-way latency at {LEN} B, busy-polling (target p50 <= 1.15x spsc)");
    println!("\n{check}");
    let count = WARMUP + options.pings();
    judge(
        options,
        check,
        || {
            (
                ping_pong(launcher, options, Channel::Spsc, LEN, PING_RING, count),
                facade_ping(
                    launcher,
                    options,
                    &shm_url("ping"),
                    Waiting::BusyPoll,
                    LEN,
                    count,
                    WARMUP,
                ),
            )
        },
        |l: &Latencies| l.summary().to_string(),
        p50_ratio,
        |r| r <= 1.15,
    )
}

fn shm_stream(launcher: &Launcher, options: &Options, regime: Regime) -> Verdict {
    let check = format!(
        "2. shm {STREAM_LEN} B streaming through {} KiB, busy-polling, {} (target >= 0.8x spsc)",
        PING_RING >> 10,
        regime.name()
    );
    println!("\n{check}");
    let batch = regime.batch(PING_RING);
    judge(
        options,
        check,
        || {
            (
                stream(launcher, options, Channel::Spsc, PING_RING, batch),
                facade_stream(launcher, options, batch),
            )
        },
        |s: &Stream| format!("{:.1} M msg/s", s.rate() / 1e6),
        |raw, ours| ours.rate() / raw.rate(),
        |r| r >= 0.8,
    )
}

/// One streaming row: a peer produces through a facade connection, this process consumes.
fn facade_stream(launcher: &Launcher, options: &Options, batch: u64) -> Stream {
    let url = shm_url("stream");
    let count = if batch == 0 {
        options.stream()
    } else {
        options.stream().next_multiple_of(batch)
    };
    let turns_at = turns_name(&name("facade-stream"));
    let turns = (batch > 0).then(|| Turns::create(&turns_at));
    let args = [
        STREAM_LEN.to_string(),
        count.to_string(),
        batch.to_string(),
        turns_at.clone(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (conn, peer) = connected(launcher, options, &url, Waiting::BusyPoll, PRODUCE, &args);
    let (_tx, mut rx) = facade::ends(conn);
    let result = on_first_cpu(options, || match &turns {
        None => endpoint::consume(&mut rx, STREAM_LEN, count),
        Some(turns) => endpoint::consume_batches(&mut rx, turns, STREAM_LEN, batch, count / batch),
    })
    .unwrap_or_else(|e| panic!("facade stream: {e}"));
    peer.finish();
    result
}

/// What one steady-stream row measured.
struct Paced {
    latencies: Latencies,
    /// Wake system calls of both sides per message.
    wakes_per_message: f64,
}

/// Checks 3 and 3b: a message every 10 µs, received busy-polling and blocking.
fn steady(launcher: &Launcher, options: &Options) -> Vec<Verdict> {
    let check = format!(
        "3. shm steady stream of {LEN} B every {} us, one-way: blocking (the ipclane column) against \
         busy-polling (the raw column) (target p50 <= 2x)",
        PERIOD.as_micros()
    );
    println!("\n{check}");
    let wakes = RefCell::new(Vec::new());
    let latency = judge(
        options,
        check,
        || {
            let busy = paced(launcher, options, Waiting::BusyPoll);
            let blocking = paced(launcher, options, Waiting::Blocking);
            wakes.borrow_mut().push(blocking.wakes_per_message);
            (busy, blocking)
        },
        |p: &Paced| {
            format!(
                "{}, {:.1e} wake calls/msg",
                p.latencies.summary(),
                p.wakes_per_message
            )
        },
        |busy, blocking| p50_ratio(&busy.latencies, &blocking.latencies),
        |r| r <= 2.0,
    );
    let worst = wakes.into_inner().into_iter().fold(0.0f64, f64::max);
    let calls = Verdict {
        check: format!(
            "3b. shm steady stream, blocking: wake system calls per message (target <= {MAX_WAKES_PER_MESSAGE}, the worst round)"
        ),
        ratio: Some(worst),
        pass: worst <= MAX_WAKES_PER_MESSAGE,
    };
    vec![latency, calls]
}

/// One steady-stream row: the peer sends a message every [`PERIOD`], this process
/// receives them; one-way latencies from the send and receive times.
fn paced(launcher: &Launcher, options: &Options, waiting: Waiting) -> Paced {
    let url = shm_url(&format!("paced-{}", waiting.name()));
    let count = if options.quick { 2_000 } else { 100_000 };
    let args = [
        LEN.to_string(),
        count.to_string(),
        PERIOD.as_nanos().to_string(),
        waiting.name().to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (conn, peer) = connected(launcher, options, &url, waiting, PACED, &args);
    let (tx, mut rx) = facade::ends(conn);
    let received = on_first_cpu(options, || endpoint::receive_times(&mut rx, LEN, count))
        .unwrap_or_else(|e| panic!("steady stream: {e}"));
    let receiver_wakes = rx.0.wait_stats().map_or(0, |s| s.wakes);
    drop((tx, rx));
    let lines = peer.finish();
    let (sender_wakes, times) = lines.split_last().expect("send times, then wake calls");
    let sent: Vec<u64> = times
        .iter()
        .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
        .collect();
    let sender_wakes: u64 = sender_wakes.parse().expect("the sender's wake calls");
    assert_eq!(sent.len(), received.len(), "send times for every message");
    Paced {
        latencies: endpoint::one_way(&sent, &received),
        wakes_per_message: (sender_wakes + receiver_wakes) as f64 / count as f64,
    }
}

fn unix_round_trip(launcher: &Launcher, options: &Options, size: usize) -> Verdict {
    let check = format!("4. unix round trip at {size} B (target p50 <= 1.1x framed)");
    println!("\n{check}");
    let measured = uds_targets::messages(options, options.pings().min(20_000), size);
    let warmup = WARMUP.min(measured);
    judge(
        options,
        check,
        || {
            let url = format!("unix:@{}", name(&format!("facade-unix-{size}")));
            (
                uds_targets::round_trip(launcher, options, Mode::Framed, size, warmup, measured),
                facade_ping(
                    launcher,
                    options,
                    &url,
                    Waiting::Blocking,
                    size,
                    warmup + measured,
                    warmup,
                ),
            )
        },
        |l: &Latencies| l.summary().to_string(),
        p50_ratio,
        |r| r <= 1.1,
    )
}

/// Plays the peer `role` of one of the checks above; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the check passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    let num = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{role}: argument {i}"))
    };
    match role {
        ECHO => {
            let conn = facade::dial(&args[0], Waiting::parse(&args[3]));
            let (mut tx, mut rx) = facade::ends(conn);
            endpoint::echo(&mut tx, &mut rx, num(1) as usize, num(2))
                .unwrap_or_else(|e| panic!("facade echo: {e}"));
        }
        PRODUCE => {
            let (len, count, batch) = (num(1) as usize, num(2), num(3));
            let (mut tx, _rx) = facade::ends(facade::dial(&args[0], Waiting::BusyPoll));
            if batch == 0 {
                endpoint::produce(&mut tx, len, count);
            } else {
                let turns = Turns::open(&args[4]);
                endpoint::produce_batches(&mut tx, &turns, len, batch, count / batch);
            }
        }
        PACED => {
            let (len, count, period) = (num(1) as usize, num(2), Duration::from_nanos(num(3)));
            let (mut tx, _rx) = facade::ends(facade::dial(&args[0], Waiting::parse(&args[4])));
            let sent = endpoint::send_paced(&mut tx, len, count, period);
            let times: Vec<String> = sent.iter().map(u64::to_string).collect();
            peer::report(times.join(" "));
            peer::report(tx.0.wait_stats().map_or(0, |s| s.wakes));
        }
        _ => return false,
    }
    true
}
