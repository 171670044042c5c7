//! ipclane-uds's target: framed messaging on a Unix stream socket within 1.1x of raw
//! reads and writes of the payload alone, at 64 B, 4 KiB, 64 KiB and 1 MiB, between two
//! processes pinned to distinct CPUs, in rounds that alternate the two, with the
//! cache-line floor measured before and after every round:
//!
//! 1. round trip (send a message, wait for its echo): p50 within 1.1x, beside its tails;
//! 2. streaming (messages back to back, the receiver reading as they come): a rate at
//!    least 1/1.1 of raw; and (2b), up to 4 KiB, against raw writes of the same bytes on
//!    the wire (the length, then the payload), which says what framing costs beyond its
//!    header.
//!
//! Every message is stamped and checked whole on both sides of both rows
//! ([`endpoint`]); a lost, repeated, reordered or torn message fails the
//! run.

use crate::endpoint::{self, Stream};
use crate::peer::Launcher;
use crate::queue_targets::latency::on_first_cpu;
use crate::queue_targets::{
    Options, Verdict, WARMUP, judge, name, p50_ratio, print_header, print_verdicts,
};
use crate::stats::Latencies;
use crate::uds::{self, Mode};

/// Message sizes measured.
pub const SIZES: [usize; 4] = [64, 4 << 10, 64 << 10, 1 << 20];

/// Largest message the same-bytes-on-the-wire comparison measures.
const WIRE_SIZES_UP_TO: usize = 4 << 10;

/// Peer roles: `<mode> <name> <len> <count>`.
const ECHO: &str = "uds-echo";
const PRODUCE: &str = "uds-produce";

/// Bytes a row moves, at most (in quick mode: a sixty-fourth): the message count follows
/// from it, so a 1 MiB row takes about as long as a 64 B one.
const ROW_BYTES: u64 = 1 << 30;

/// Round trips a row makes, at most (each wakes a sleeping reader twice: tens of
/// microseconds here).
const MOST_ROUND_TRIPS: u64 = 20_000;

/// Runs the checks and prints them; returns their verdicts.
///
/// # Panics
///
/// When any message of any row is lost, repeated, reordered or corrupted, or a peer
/// fails.
pub fn run(launcher: &Launcher, options: &Options) -> Vec<Verdict> {
    print_header("uds targets", "framed", options);
    let mut verdicts = Vec::new();
    for size in SIZES {
        if options.wanted("roundtrip") {
            verdicts.push(round_trips(launcher, options, size));
        }
        if options.wanted("stream") {
            verdicts.push(streaming(launcher, options, size, Mode::Raw));
            // Only small messages: above, a raw reader that reads the length ahead must
            // copy the payload out of its read-ahead, which framing avoids (it reads the
            // next length alone after a large frame), and the rows stop doing the same work.
            if size <= WIRE_SIZES_UP_TO {
                verdicts.push(streaming(launcher, options, size, Mode::RawWire));
            }
        }
    }
    print_verdicts(&verdicts);
    verdicts
}

/// Messages of `size` bytes a row sends: `most` at most, fewer when they are large.
pub(crate) fn messages(options: &Options, most: u64, size: usize) -> u64 {
    let (bytes, least) = if options.quick {
        (ROW_BYTES / 64, 10)
    } else {
        (ROW_BYTES, 100)
    };
    (bytes / size as u64).clamp(least, most)
}

fn round_trips(launcher: &Launcher, options: &Options, size: usize) -> Verdict {
    let check = format!("1. framed round trip at {size} B (target p50 <= 1.1x raw)");
    println!("\n{check}");
    let measured = messages(options, options.pings().min(MOST_ROUND_TRIPS), size);
    let warmup = WARMUP.min(measured);
    judge(
        options,
        check,
        || {
            (
                round_trip(launcher, options, Mode::Raw, size, warmup, measured),
                round_trip(launcher, options, Mode::Framed, size, warmup, measured),
            )
        },
        |l: &Latencies| l.summary().to_string(),
        p50_ratio,
        |r| r <= 1.1,
    )
}

fn streaming(launcher: &Launcher, options: &Options, size: usize, raw: Mode) -> Verdict {
    let check = match raw {
        Mode::RawWire => format!(
            "2b. framed streaming at {size} B against the same bytes on the wire \
             (target >= 0.91x raw-wire)"
        ),
        _ => format!("2. framed streaming at {size} B (target >= 0.91x raw: within 1.1x)"),
    };
    println!("\n{check}");
    let count = messages(options, options.stream(), size);
    judge(
        options,
        check,
        || {
            (
                stream(launcher, options, raw, size, count),
                stream(launcher, options, Mode::Framed, size, count),
            )
        },
        |s: &Stream| {
            format!(
                "{:.0} k msg/s, {:.2} GB/s",
                s.rate() / 1e3,
                s.bytes_per_second() / 1e9
            )
        },
        |raw, framed| framed.rate() / raw.rate(),
        |r| r >= 1.0 / 1.1,
    )
}

/// One round-trip row: a peer echoes what this process pings, `warmup` messages not
/// counted, then `measured` counted.
pub(crate) fn round_trip(
    launcher: &Launcher,
    options: &Options,
    mode: Mode,
    size: usize,
    warmup: u64,
    measured: u64,
) -> Latencies {
    let count = warmup + measured;
    let stream = connected(launcher, options, ECHO, mode, size, count);
    let (mut tx, mut rx) = uds::ends(stream.socket, mode);
    let latencies = on_first_cpu(options, || {
        endpoint::ping(&mut tx, &mut rx, size, count, warmup)
    })
    .unwrap_or_else(|e| panic!("{} round trips: {e}", mode.name()));
    drop((tx, rx));
    stream.peer.finish();
    latencies
}

/// One streaming row: a peer sends `count` messages, this process receives them.
fn stream(launcher: &Launcher, options: &Options, mode: Mode, size: usize, count: u64) -> Stream {
    let stream = connected(launcher, options, PRODUCE, mode, size, count);
    let (_, mut rx) = uds::ends(stream.socket, mode);
    let result = on_first_cpu(options, || endpoint::consume(&mut rx, size, count))
        .unwrap_or_else(|e| panic!("{} stream: {e}", mode.name()));
    stream.peer.finish();
    result
}

/// A peer started in `role` and the socket it connected.
struct Connected {
    socket: std::os::unix::net::UnixStream,
    peer: crate::peer::Peer,
}

fn connected(
    launcher: &Launcher,
    options: &Options,
    role: &str,
    mode: Mode,
    size: usize,
    count: u64,
) -> Connected {
    let at = name(&format!("{role}-{}-{size}", mode.name()));
    let listener = uds::listen(&uds::address(&at));
    let args = [mode.name(), &at, &size.to_string(), &count.to_string()];
    let peer = launcher.spawn(role, &args, options.placement.second());
    Connected {
        socket: uds::accept(&listener),
        peer,
    }
}

/// Plays the peer `role` of one of the checks above; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the check passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    if role != ECHO && role != PRODUCE {
        return false;
    }
    let mode = Mode::parse(&args[0]).unwrap_or_else(|| panic!("{role}: mode {}", args[0]));
    let num = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{role}: argument {i}"))
    };
    let (len, count) = (num(2) as usize, num(3));
    let (mut tx, mut rx) = uds::ends(uds::dial(&uds::address(&args[1])), mode);
    if role == ECHO {
        endpoint::echo(&mut tx, &mut rx, len, count)
            .unwrap_or_else(|e| panic!("{} echo: {e}", mode.name()));
    } else {
        endpoint::produce(&mut tx, len, count);
    }
    true
}
