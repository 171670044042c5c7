//! The queue's performance targets, each an ipclane row beside its raw baseline, measured
//! between two processes pinned to distinct CPUs, in rounds that alternate the two, with
//! the cache-line floor measured before and after every round:
//!
//! 1. one-way latency, both sides spinning, SPSC ring against a single-slot mailbox, at
//!    8 B, 64 B and 1 KiB: target p50 within 1.3x;
//! 2. 64 B streaming, both sides spinning, SPSC ring against a minimal raw ring of the
//!    same bytes, with a ring inside L2 (64 KiB) and one far larger (4 MiB): target at
//!    least 0.8x; each row shows its regime (messages per wait of the receiver: about 1
//!    when it keeps up, far more when the sender runs ahead);
//! 3. one-way latency of waking a sleeping receiver, SPSC ring against a futex mailbox:
//!    target p50 within 1.2x.
//!
//! Every message is stamped and checked whole on both sides of both rows
//! ([`endpoint`]); a lost, repeated, reordered or torn message fails the
//! run. A round's ratio counts only when the floor held still during it.

use std::time::Duration;

use crate::broadcast::{self, BroadcastRecv, BroadcastSend};
use crate::cpu::Placement;
use crate::endpoint::{self, Stream};
use crate::floor::{self, OnFloor};
use crate::mpmc::{self, MpmcRecv, MpmcSend};
use crate::peer::{self, Launcher};
use crate::raw::{FutexMailbox, Mailbox, RawMpmc, RawRing, RawSeqlock};
use crate::spsc::{self, SpscRecv, SpscSend, Wait};
use crate::stats::{self, Latencies};

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// A few messages per row, one round: checks integrity, measures nothing worth
    /// reading.
    pub quick: bool,
    /// Run only the checks whose name contains one of these (all when empty).
    pub filters: Vec<String>,
    /// Where the two processes run.
    pub placement: Placement,
}

impl Options {
    fn wanted(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    fn rounds(&self) -> usize {
        if self.quick { 1 } else { 5 }
    }

    fn pings(&self) -> u64 {
        if self.quick { 2_000 } else { 100_000 }
    }

    fn stream(&self) -> u64 {
        if self.quick { 20_000 } else { 2_000_000 }
    }

    fn wakes(&self) -> u64 {
        if self.quick { 30 } else { 1_000 }
    }
}

/// Messages of a ping-pong not counted in its latencies (the peer starting).
const WARMUP: u64 = 1_000;
/// Pause before each wake-up message: long enough for the receiver to sleep.
const WAKE_GAP: Duration = Duration::from_micros(200);
/// Attempts of a round while the floor moves.
const FLOOR_ATTEMPTS: usize = 3;

/// A verdict line, for the summary: the check, the measured ratio and whether it met its
/// target.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// What was checked.
    pub check: String,
    /// ipclane against the raw baseline (a time ratio for latency, a rate ratio for
    /// throughput), the median over the settled rounds; `None` when no round settled.
    pub ratio: Option<f64>,
    /// Whether it met the target.
    pub pass: bool,
}

/// Runs the checks and prints them; returns their verdicts.
///
/// # Panics
///
/// When any message of any row is lost, repeated, reordered or corrupted, or a peer
/// fails.
pub fn run(launcher: &Launcher, options: &Options) -> Vec<Verdict> {
    println!("queue targets: {}", crate::cpu::describe());
    println!(
        "processes {}; {} round(s) per check, raw and ipclane back to back in each; \
         the cache-line floor measured before and after each round",
        options.placement,
        options.rounds()
    );
    if options.quick {
        println!("quick mode: every message checked, too few for figures worth reading");
    }
    let mut verdicts = Vec::new();
    if options.wanted("latency") {
        for len in [8, 64, 1024] {
            let title = "1. SPSC one-way latency";
            verdicts.push(latency(
                launcher,
                options,
                title,
                Channel::Mailbox,
                Channel::Spsc,
                len,
            ));
        }
    }
    if options.wanted("stream") {
        for bytes in [64 << 10, 4 << 20] {
            let title = format!(
                "2. SPSC 64 B streaming through {} KiB, spinning",
                bytes >> 10
            );
            verdicts.push(streaming(
                launcher,
                options,
                &title,
                Channel::RawRing,
                Channel::Spsc,
                bytes,
            ));
        }
    }
    if options.wanted("wake") {
        verdicts.push(wake_up(launcher, options));
    }
    if options.wanted("instructions") && !options.quick {
        instructions();
    }
    if options.wanted("mpmc") {
        let title = "5. MPMC one-way latency, one producer and one consumer";
        verdicts.push(latency(
            launcher,
            options,
            title,
            Channel::RawMpmc,
            Channel::Mpmc,
            64,
        ));
        let title = format!("5. MPMC 64 B streaming through {SLOTS} slots, spinning");
        verdicts.push(streaming(
            launcher,
            options,
            &title,
            Channel::RawMpmc,
            Channel::Mpmc,
            0,
        ));
    }
    if options.wanted("broadcast") {
        let title = "6. broadcast one-way latency, one writer and one reader";
        verdicts.push(latency(
            launcher,
            options,
            title,
            Channel::Seqlock,
            Channel::Broadcast,
            64,
        ));
    }
    println!();
    for v in &verdicts {
        let ratio = v
            .ratio
            .map_or("no settled round".to_owned(), |r| format!("{r:.2}"));
        println!(
            "{} {}: {ratio}",
            if v.pass { "PASS" } else { "MISS" },
            v.check
        );
    }
    verdicts
}

/// A unique segment name for one row of this run.
fn name(row: &str) -> String {
    format!("bench-{}-{row}", std::process::id())
}

/// One ratio per round, from the rounds whose floor held.
fn settled_ratios<T>(rounds: &[OnFloor<(T, T)>], ratio: impl Fn(&T, &T) -> f64) -> Option<f64> {
    let ratios: Vec<f64> = rounds
        .iter()
        .filter(|r| r.settled())
        .map(|r| ratio(&r.result.0, &r.result.1))
        .collect();
    (!ratios.is_empty()).then(|| stats::median(ratios))
}

fn print_round<T>(i: usize, round: &OnFloor<(T, T)>, show: impl Fn(&T) -> String) {
    println!(
        "   round {}: raw {} | ipclane {} | {}{}",
        i + 1,
        show(&round.result.0),
        show(&round.result.1),
        round.floor,
        if round.attempts > 1 {
            format!(", {} attempts", round.attempts)
        } else {
            String::new()
        }
    );
}

/// The channels the latency and streaming checks measure, raw and ipclane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// [`Mailbox`]: raw, for ping-pong.
    Mailbox,
    /// [`RawRing`]: raw, for streams.
    RawRing,
    /// ipclane's SPSC ring, both sides spinning.
    Spsc,
    /// [`RawMpmc`].
    RawMpmc,
    /// ipclane's MPMC queue.
    Mpmc,
    /// [`RawSeqlock`]: a raw broadcast ring.
    Seqlock,
    /// ipclane's broadcast ring.
    Broadcast,
}

/// Slots of the MPMC queues and broadcast rings measured.
const SLOTS: usize = 256;

impl Channel {
    const ALL: [Channel; 7] = [
        Channel::Mailbox,
        Channel::RawRing,
        Channel::Spsc,
        Channel::RawMpmc,
        Channel::Mpmc,
        Channel::Seqlock,
        Channel::Broadcast,
    ];

    fn name(self) -> &'static str {
        match self {
            Channel::Mailbox => "mailbox",
            Channel::RawRing => "raw-ring",
            Channel::Spsc => "spsc",
            Channel::RawMpmc => "raw-mpmc",
            Channel::Mpmc => "mpmc",
            Channel::Seqlock => "seqlock",
            Channel::Broadcast => "broadcast",
        }
    }

    fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("unknown channel {name}"))
    }
}

/// Calls `$body` with `$tx` and `$rx` bound to the two ends of `$channel` for messages
/// of `$len` bytes in segments `$a` (the sender's) and `$b` (the receiver's) of `$bytes`
/// (rings) or [`SLOTS`] slots, created when `$create` and opened otherwise: one generic
/// body, statically dispatched for each channel.
macro_rules! with_ends {
    ($channel:expr, $a:expr, $b:expr, $len:expr, $bytes:expr, $create:expr, |$tx:ident, $rx:ident| $body:expr) => {{
        let (a, b, len, bytes, create): (&str, &str, usize, usize, bool) =
            ($a, $b, $len, $bytes, $create);
        match $channel {
            Channel::Mailbox => {
                let (mut $tx, mut $rx) = if create {
                    (Mailbox::create(a, len), Mailbox::create(b, len))
                } else {
                    (Mailbox::open(a), Mailbox::open(b))
                };
                $body
            }
            Channel::RawRing => {
                let (mut $tx, mut $rx) = if create {
                    (
                        RawRing::create(a, bytes, len),
                        RawRing::create(b, bytes, len),
                    )
                } else {
                    (RawRing::open(a, len), RawRing::open(b, len))
                };
                $body
            }
            Channel::Spsc => {
                let ring = |name| {
                    if create {
                        spsc::create(name, bytes)
                    } else {
                        spsc::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (
                    SpscSend::attach(ring(a), Wait::Spin),
                    SpscRecv::attach(ring(b), Wait::Spin),
                );
                $body
            }
            Channel::RawMpmc => {
                let (mut $tx, mut $rx) = if create {
                    (
                        RawMpmc::create(a, SLOTS, len),
                        RawMpmc::create(b, SLOTS, len),
                    )
                } else {
                    (RawMpmc::open(a, SLOTS, len), RawMpmc::open(b, SLOTS, len))
                };
                $body
            }
            Channel::Mpmc => {
                let queue = |name| {
                    if create {
                        mpmc::create(name, SLOTS, len)
                    } else {
                        mpmc::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (MpmcSend::attach(queue(a)), MpmcRecv::attach(queue(b)));
                $body
            }
            Channel::Seqlock => {
                let (mut $tx, mut $rx) = if create {
                    (
                        RawSeqlock::create(a, SLOTS, len),
                        RawSeqlock::create(b, SLOTS, len),
                    )
                } else {
                    (
                        RawSeqlock::open(a, SLOTS, len),
                        RawSeqlock::open(b, SLOTS, len),
                    )
                };
                $body
            }
            Channel::Broadcast => {
                let ring = |name| {
                    if create {
                        broadcast::create(name, SLOTS, len)
                    } else {
                        broadcast::open(name)
                    }
                };
                let (mut $tx, mut $rx) = (
                    BroadcastSend::attach(ring(a)),
                    BroadcastRecv::attach(ring(b)),
                );
                $body
            }
        }
    }};
}

/// Ring bytes of the SPSC rings and raw rings of the latency checks.
const PING_RING: usize = 1 << 16;

/// A latency check: ipclane's `ours` against the raw `raw`, ping-pong of `len` bytes.
fn latency(
    launcher: &Launcher,
    options: &Options,
    title: &str,
    raw: Channel,
    ours: Channel,
    len: usize,
) -> Verdict {
    let check = format!(
        "{title} at {len} B, spinning (target p50 <= 1.3x {})",
        raw.name()
    );
    println!("\n{check}");
    let count = WARMUP + options.pings();
    let rounds: Vec<_> = (0..options.rounds())
        .map(|_| {
            floor::measure(options.placement, FLOOR_ATTEMPTS, || {
                (
                    ping_pong(launcher, options, raw, len, count),
                    ping_pong(launcher, options, ours, len, count),
                )
            })
        })
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        print_round(i, r, |l: &Latencies| l.summary().to_string());
    }
    let ratio = settled_ratios(&rounds, |raw, queue| {
        queue.quantile(0.5).as_secs_f64() / raw.quantile(0.5).as_secs_f64()
    });
    Verdict {
        check,
        ratio,
        pass: ratio.is_some_and(|r| r <= 1.3),
    }
}

/// One ping-pong row: this process pings through `channel`, a peer echoes.
fn ping_pong(
    launcher: &Launcher,
    options: &Options,
    channel: Channel,
    len: usize,
    count: u64,
) -> Latencies {
    let (ping, pong) = (
        name(&format!("{}-ping", channel.name())),
        name(&format!("{}-pong", channel.name())),
    );
    let args = [
        channel.name(),
        ping.as_str(),
        pong.as_str(),
        &len.to_string(),
        &count.to_string(),
    ];
    with_ends!(channel, &ping, &pong, len, PING_RING, true, |tx, rx| {
        let peer = launcher.spawn("echo", &args, options.placement.second());
        let latencies = on_first_cpu(options, || {
            endpoint::ping(&mut tx, &mut rx, len, count, WARMUP)
        })
        .unwrap_or_else(|e| panic!("{} ping-pong: {e}", channel.name()));
        drop((tx, rx));
        peer.finish();
        latencies
    })
}

/// Runs `f` on a thread pinned to the placement's first CPU (this thread stays where it
/// was, so the floor's threads and the next row start from the same state).
fn on_first_cpu<T: std::marker::Send>(
    options: &Options,
    f: impl FnOnce() -> T + std::marker::Send,
) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(cpu) = options.placement.first() {
                crate::cpu::pin(cpu).expect("pin the measuring thread");
            }
            f()
        })
        .join()
        .expect("the measuring thread")
    })
}

/// Length of the streamed messages.
const STREAM_LEN: usize = 64;

/// A streaming check: ipclane's `ours` against the raw `raw`, of `bytes` (rings) or
/// [`SLOTS`] slots.
fn streaming(
    launcher: &Launcher,
    options: &Options,
    title: &str,
    raw: Channel,
    ours: Channel,
    bytes: usize,
) -> Verdict {
    let check = format!("{title} (target >= 0.8x {})", raw.name());
    println!("\n{check}");
    let rounds: Vec<_> = (0..options.rounds())
        .map(|_| {
            floor::measure(options.placement, FLOOR_ATTEMPTS, || {
                (
                    stream(launcher, options, raw, bytes),
                    stream(launcher, options, ours, bytes),
                )
            })
        })
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        print_round(i, r, |s: &Stream| {
            format!("{:.1} M msg/s, {:.1} msg/wait", s.rate() / 1e6, s.batch())
        });
    }
    let ratio = settled_ratios(&rounds, |raw, queue| queue.rate() / raw.rate());
    Verdict {
        check,
        ratio,
        pass: ratio.is_some_and(|r| r >= 0.8),
    }
}

/// One streaming row: a peer produces through `channel`, this process consumes.
fn stream(launcher: &Launcher, options: &Options, channel: Channel, bytes: usize) -> Stream {
    let ring = name(&format!("{}-stream", channel.name()));
    let count = options.stream();
    let args = [
        channel.name(),
        ring.as_str(),
        &STREAM_LEN.to_string(),
        &count.to_string(),
    ];
    let rx_len = STREAM_LEN;
    match channel {
        Channel::RawRing => stream_with(
            launcher,
            options,
            &args,
            RawRing::create(&ring, bytes, rx_len),
        ),
        Channel::Spsc => stream_with(
            launcher,
            options,
            &args,
            SpscRecv::attach(spsc::create(&ring, bytes), Wait::Spin),
        ),
        Channel::RawMpmc => stream_with(
            launcher,
            options,
            &args,
            RawMpmc::create(&ring, SLOTS, rx_len),
        ),
        Channel::Mpmc => stream_with(
            launcher,
            options,
            &args,
            MpmcRecv::attach(mpmc::create(&ring, SLOTS, rx_len)),
        ),
        other => panic!("no stream through {}", other.name()),
    }
}

/// Runs a stream into `rx` from a peer started with `args` (`args[3]` the count).
fn stream_with(
    launcher: &Launcher,
    options: &Options,
    args: &[&str; 4],
    mut rx: impl endpoint::Recv + std::marker::Send,
) -> Stream {
    let count: u64 = args[3].parse().expect("the count");
    let peer = launcher.spawn("produce", args, options.placement.second());
    let stream = on_first_cpu(options, || endpoint::consume(&mut rx, STREAM_LEN, count))
        .unwrap_or_else(|e| panic!("{} stream: {e}", args[0]));
    peer.finish();
    stream
}

/// Length of a wake-up message.
const WAKE_LEN: usize = 64;

fn wake_up(launcher: &Launcher, options: &Options) -> Verdict {
    let check = "3. one-way wake-up of a sleeping receiver (target p50 <= 1.2x raw futex mailbox)"
        .to_owned();
    println!("\n{check}");
    let rounds: Vec<_> = (0..options.rounds())
        .map(|_| {
            floor::measure(options.placement, FLOOR_ATTEMPTS, || {
                (
                    woken(launcher, options, "futex-send", |name| {
                        let mut rx = FutexMailbox::create(name, WAKE_LEN);
                        move |count| endpoint::receive_times(&mut rx, WAKE_LEN, count)
                    }),
                    woken(launcher, options, "spsc-send-gaps", |name| {
                        let mut rx = SpscRecv::attach(spsc::create(name, 1 << 16), Wait::Sleep);
                        move |count| endpoint::receive_times(&mut rx, WAKE_LEN, count)
                    }),
                )
            })
        })
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        print_round(i, r, |l: &Latencies| l.summary().to_string());
    }
    let ratio = settled_ratios(&rounds, |raw, queue| {
        queue.quantile(0.5).as_secs_f64() / raw.quantile(0.5).as_secs_f64()
    });
    Verdict {
        check,
        ratio,
        pass: ratio.is_some_and(|r| r <= 1.2),
    }
}

/// One wake-up row: the receiver made by `receiver` in this process, the sender in a peer
/// playing `role`.
fn woken<R>(
    launcher: &Launcher,
    options: &Options,
    role: &str,
    receiver: impl FnOnce(&str) -> R,
) -> Latencies
where
    R: FnOnce(u64) -> Result<Vec<u64>, crate::integrity::Integrity> + std::marker::Send,
{
    let segment = name(role);
    let receive = receiver(&segment);
    let count = options.wakes();
    let args = [
        segment.as_str(),
        &WAKE_LEN.to_string(),
        &count.to_string(),
        &WAKE_GAP.as_micros().to_string(),
    ];
    let peer = launcher.spawn(role, &args, options.placement.second());
    let received =
        on_first_cpu(options, || receive(count)).unwrap_or_else(|e| panic!("{role} wake-ups: {e}"));
    let sent: Vec<u64> = peer
        .finish()
        .iter()
        .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
        .collect();
    assert_eq!(
        sent.len(),
        received.len(),
        "{role}: send times for every message"
    );
    endpoint::one_way(&sent, &received)
}

/// Instructions per message of the SPSC hot paths beside the same copies without a
/// queue, from callgrind (in one thread: the protocol's instructions, no cache-line
/// transfers).
fn instructions() {
    println!(
        "\n4. instructions per 64 B message (valgrind --tool=callgrind, one thread, stamp and check included)"
    );
    for path in crate::instructions::PATHS {
        match crate::instructions::per_message(path, STREAM_LEN) {
            Ok(n) => println!("   {path:<18} {n:>7.1}"),
            Err(why) => println!("   {path:<18} not counted: {why}"),
        }
    }
}

/// Plays the peer `role` of one of the checks above; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the check passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    if crate::instructions::play(role, args) {
        return true;
    }
    let num = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{role}: argument {i}"))
    };
    match role {
        "echo" => {
            // The ping end is the one this peer receives from; the pong end it sends on.
            let (channel, len, count) = (Channel::parse(&args[0]), num(3) as usize, num(4));
            with_ends!(
                channel,
                &args[2],
                &args[1],
                len,
                PING_RING,
                false,
                |tx, rx| {
                    endpoint::echo(&mut tx, &mut rx, len, count)
                        .unwrap_or_else(|e| panic!("{} echo: {e}", channel.name()));
                }
            );
        }
        "produce" => {
            let (len, count) = (num(2) as usize, num(3));
            match Channel::parse(&args[0]) {
                Channel::RawRing => {
                    endpoint::produce(&mut RawRing::open(&args[1], len), len, count)
                }
                Channel::Spsc => endpoint::produce(
                    &mut SpscSend::attach(spsc::open(&args[1]), Wait::Spin),
                    len,
                    count,
                ),
                Channel::RawMpmc => {
                    endpoint::produce(&mut RawMpmc::open(&args[1], SLOTS, len), len, count)
                }
                Channel::Mpmc => {
                    endpoint::produce(&mut MpmcSend::attach(mpmc::open(&args[1])), len, count)
                }
                other => panic!("no stream through {}", other.name()),
            }
        }
        "futex-send" | "spsc-send-gaps" => {
            let gap = Duration::from_micros(num(3));
            let (len, count) = (num(1) as usize, num(2));
            let sent = if role == "futex-send" {
                endpoint::send_with_gaps(&mut FutexMailbox::open(&args[0]), len, count, gap)
            } else {
                let mut tx = SpscSend::attach(spsc::open(&args[0]), Wait::Sleep);
                endpoint::send_with_gaps(&mut tx, len, count, gap)
            };
            let times: Vec<String> = sent.iter().map(u64::to_string).collect();
            peer::report(times.join(" "));
        }
        _ => return false,
    }
    true
}
