//! The queue's performance targets, each an ipclane row beside its raw baseline, measured
//! between two processes pinned to distinct CPUs, in rounds that alternate the two, with
//! the cache-line floor measured before and after every round:
//!
//! 1. one-way latency, both sides spinning, SPSC ring against a single-slot mailbox, at
//!    8 B, 64 B and 1 KiB: target p50 within 1.3x; and (1b) against a raw ring of the
//!    SPSC ring's own layout without its checks, which splits the gap into what the
//!    checks cost and what moving through a ring costs over reusing one slot;
//! 2. 64 B streaming, both sides spinning, SPSC ring against a minimal raw ring of the
//!    same bytes, with a ring inside L2 (64 KiB) and one far larger (4 MiB): target at
//!    least 0.8x; each row shows its regime (messages per wait of the receiver: about 1
//!    when it keeps up, far more when the sender runs ahead);
//! 3. one-way latency of waking a sleeping receiver, SPSC ring against a futex mailbox:
//!    target p50 within 1.2x; and (3b) a stream through the blocking calls, whose wake
//!    system calls per message should be none while the consumer keeps up.
//!
//! Every message is stamped and checked whole on both sides of both rows
//! ([`endpoint`](crate::endpoint)); a lost, repeated, reordered or torn message fails the
//! run. A round's ratio counts only when the floor held still during it.

mod blocking;
pub(crate) mod channel;
pub(crate) mod latency;
mod roles;
pub(crate) mod stream;
mod wake_up;

pub use roles::play;

use std::time::Duration;

use channel::{Channel, PING_RING, SLOTS, SMALL_RING};
use stream::{Regime, STREAM_LEN};

use crate::cpu::Placement;
use crate::floor::{self, OnFloor};
use crate::peer::Launcher;
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
    /// The options a bench's command line gives (`--quick`, and filters: the words not
    /// starting with `-`), its processes on two distinct CPUs where there are two.
    pub fn from_args(args: &[String]) -> Self {
        Self {
            quick: args.iter().any(|a| a == "--quick"),
            filters: args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect(),
            placement: Placement::distinct(),
        }
    }

    pub(crate) fn wanted(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    pub(crate) fn rounds(&self) -> usize {
        if self.quick { 1 } else { 5 }
    }

    pub(crate) fn pings(&self) -> u64 {
        if self.quick { 2_000 } else { 100_000 }
    }

    pub(crate) fn stream(&self) -> u64 {
        if self.quick { 20_000 } else { 2_000_000 }
    }

    fn wakes(&self) -> u64 {
        if self.quick { 30 } else { 1_000 }
    }
}

/// Messages of a ping-pong not counted in its latencies (the peer starting).
pub(crate) const WARMUP: u64 = 1_000;
/// Pause before each wake-up message: long enough for the receiver to sleep.
pub(crate) const WAKE_GAP: Duration = Duration::from_micros(200);
/// Attempts of a round while the floor moves.
pub(crate) const FLOOR_ATTEMPTS: usize = 3;

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
    print_header("queue targets", "ipclane", options);
    let mut verdicts = Vec::new();
    if options.wanted("latency") {
        // Against the mailbox (the target); against a raw ring of ipclane's own layout,
        // which says what the ring's checks cost; and through a small ring, which says
        // what moving through a ring's lines costs over reusing one slot's.
        for (title, raw, bytes) in [
            ("1. SPSC one-way latency", Channel::Mailbox, PING_RING),
            (
                "1b. SPSC one-way latency against its layout",
                Channel::HeaderRing,
                PING_RING,
            ),
            (
                "1c. SPSC one-way latency through a 4 KiB ring",
                Channel::Mailbox,
                SMALL_RING,
            ),
        ] {
            for len in [8, 64, 1024] {
                verdicts.push(latency::latency(
                    launcher,
                    options,
                    title,
                    (raw, Channel::Spsc),
                    len,
                    bytes,
                ));
            }
        }
    }
    if options.wanted("stream") {
        for regime in [Regime::Free, Regime::Batched] {
            for (title, raw) in [
                ("2. SPSC 64 B streaming", Channel::RawRing),
                (
                    "2b. SPSC 64 B streaming against its layout",
                    Channel::HeaderRing,
                ),
            ] {
                for bytes in [64 << 10, 4 << 20] {
                    let title = format!("{title} through {} KiB", bytes >> 10);
                    verdicts.push(stream::streaming(
                        launcher,
                        options,
                        &title,
                        (raw, Channel::Spsc),
                        bytes,
                        regime,
                    ));
                }
            }
        }
    }
    if options.wanted("wake") {
        verdicts.push(wake_up::wake_up(launcher, options));
        verdicts.push(blocking::blocking_stream(launcher, options));
    }
    if options.wanted("instructions") && !options.quick {
        instructions();
    }
    if options.wanted("mpmc") {
        let title = "5. MPMC one-way latency, one producer and one consumer";
        verdicts.push(latency::latency(
            launcher,
            options,
            title,
            (Channel::RawMpmc, Channel::Mpmc),
            64,
            0,
        ));
        for regime in [Regime::Free, Regime::Batched] {
            let title = format!("5. MPMC 64 B streaming through {SLOTS} slots");
            verdicts.push(stream::streaming(
                launcher,
                options,
                &title,
                (Channel::RawMpmc, Channel::Mpmc),
                0,
                regime,
            ));
        }
    }
    if options.wanted("broadcast") {
        let title = "6. broadcast one-way latency, one writer and one reader";
        verdicts.push(latency::latency(
            launcher,
            options,
            title,
            (Channel::Seqlock, Channel::Broadcast),
            64,
            0,
        ));
    }
    print_verdicts(&verdicts);
    verdicts
}

/// Prints what a bench measures on: the machine, the placement, the rounds, with `ours`
/// the name of the rows beside the raw ones.
pub(crate) fn print_header(bench: &str, ours: &str, options: &Options) {
    println!("{bench}: {}", crate::cpu::describe());
    println!(
        "processes {}; {} round(s) per check, raw and {ours} back to back in each; \
         the cache-line floor measured before and after each round",
        options.placement,
        options.rounds()
    );
    if options.quick {
        println!("quick mode: every message checked, too few for figures worth reading");
    }
}

/// Prints the summary: one line per check, its verdict and ratio.
pub(crate) fn print_verdicts(verdicts: &[Verdict]) {
    println!();
    for v in verdicts {
        let ratio = v
            .ratio
            .map_or("no settled round".to_owned(), |r| format!("{r:.2}"));
        let verdict = if v.pass { "PASS" } else { "MISS" };
        println!("{verdict} {}: {ratio}", v.check);
    }
}

/// A unique segment name for one row of this run.
pub(crate) fn name(row: &str) -> String {
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

/// Runs `options.rounds()` rounds of `pair` (raw, then ipclane, back to back between two
/// floor measurements), prints each with `show`, and judges the median over the settled
/// rounds of `ratio` (ipclane against raw) with `pass`.
pub(crate) fn judge<T>(
    options: &Options,
    check: String,
    mut pair: impl FnMut() -> (T, T),
    show: impl Fn(&T) -> String,
    ratio: impl Fn(&T, &T) -> f64,
    pass: impl Fn(f64) -> bool,
) -> Verdict {
    let rounds: Vec<_> = (0..options.rounds())
        .map(|_| floor::measure(options.placement, FLOOR_ATTEMPTS, &mut pair))
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        print_round(i, r, &show);
    }
    let ratio = settled_ratios(&rounds, ratio);
    Verdict {
        pass: ratio.is_some_and(pass),
        check,
        ratio,
    }
}

/// The ratio of the medians of two latency distributions.
pub(crate) fn p50_ratio(raw: &Latencies, queue: &Latencies) -> f64 {
    queue.quantile(0.5).as_secs_f64() / raw.quantile(0.5).as_secs_f64()
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
