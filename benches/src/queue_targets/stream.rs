//! Streaming checks.

use super::channel::{Channel, SLOTS};
use super::latency::on_first_cpu;
use super::{Options, Verdict, judge, name};
use crate::endpoint::{self, Stream};
use crate::mpmc::{self, MpmcRecv};
use crate::peer::Launcher;
use crate::raw::{HeaderRing, RawMpmc, RawRing};
use crate::spsc::{self, SpscRecv, Wait};
use crate::turns::Turns;

/// Length of the streamed messages.
pub(crate) const STREAM_LEN: usize = 64;

/// How the two sides of a stream take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Regime {
    /// Both sides run free, spinning: which regime the stream lands in (the consumer
    /// keeping up, each message crossing alone, or the producer running ahead) is left
    /// to the two sides' speeds, and each row shows it (messages per wait).
    Free,
    /// The producer fills a batch while the consumer waits, then the consumer drains it
    /// ([`Turns`](crate::turns::Turns)): the producer running ahead, held still, lines
    /// moving in batches.
    Batched,
}

impl Regime {
    /// Its name in a check's title.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Regime::Free => "spinning free",
            Regime::Batched => "in batches",
        }
    }

    /// Messages per batch through a ring of `bytes` (0: [`SLOTS`] slots): a quarter of
    /// what a raw ring of 64 B slots holds, so that every transport measured holds a
    /// batch whole; 0 when running free.
    pub(crate) fn batch(self, bytes: usize) -> u64 {
        match self {
            Regime::Free => 0,
            Regime::Batched if bytes == 0 => (SLOTS / 4) as u64,
            Regime::Batched => (bytes / STREAM_LEN / 4) as u64,
        }
    }
}

/// A streaming check: ipclane's `ours` against the raw `raw`, of `bytes` (rings) or
/// [`SLOTS`] slots, in `regime`.
pub(super) fn streaming(
    launcher: &Launcher,
    options: &Options,
    title: &str,
    (raw, ours): (Channel, Channel),
    bytes: usize,
    regime: Regime,
) -> Verdict {
    let check = format!("{title}, {} (target >= 0.8x {})", regime.name(), raw.name());
    println!("\n{check}");
    let batch = regime.batch(bytes);
    judge(
        options,
        check,
        || {
            (
                stream(launcher, options, raw, bytes, batch),
                stream(launcher, options, ours, bytes, batch),
            )
        },
        show,
        |raw, queue| queue.rate() / raw.rate(),
        |r| r >= 0.8,
    )
}

/// A row's rate and regime (messages per wait of the consumer; a batched stream never
/// waits).
fn show(s: &Stream) -> String {
    if s.waits == 0 {
        format!("{:.1} M msg/s, never waited", s.rate() / 1e6)
    } else {
        format!("{:.1} M msg/s, {:.1} msg/wait", s.rate() / 1e6, s.batch())
    }
}

/// One streaming row: a peer produces through `channel`, this process consumes, in
/// batches of `batch` messages (0: running free).
pub(crate) fn stream(
    launcher: &Launcher,
    options: &Options,
    channel: Channel,
    bytes: usize,
    batch: u64,
) -> Stream {
    let ring = name(&format!("{}-stream", channel.name()));
    let count = if batch == 0 {
        options.stream()
    } else {
        options.stream().next_multiple_of(batch)
    };
    let args = [
        channel.name(),
        ring.as_str(),
        &STREAM_LEN.to_string(),
        &count.to_string(),
        &batch.to_string(),
    ];
    match channel {
        Channel::RawRing => stream_with(
            launcher,
            options,
            &args,
            count,
            RawRing::create(&ring, bytes, STREAM_LEN),
        ),
        Channel::HeaderRing => stream_with(
            launcher,
            options,
            &args,
            count,
            HeaderRing::create(&ring, bytes),
        ),
        Channel::Spsc => stream_with(
            launcher,
            options,
            &args,
            count,
            SpscRecv::attach(spsc::create(&ring, bytes), Wait::Spin),
        ),
        Channel::RawMpmc => stream_with(
            launcher,
            options,
            &args,
            count,
            RawMpmc::create(&ring, SLOTS, STREAM_LEN),
        ),
        Channel::Mpmc => stream_with(
            launcher,
            options,
            &args,
            count,
            MpmcRecv::attach(mpmc::create(&ring, SLOTS, STREAM_LEN)),
        ),
        other => panic!("no stream through {}", other.name()),
    }
}

/// Runs a stream of `count` messages into `rx` from a peer started with `args` (the
/// last is the batch: 0 for running free).
fn stream_with(
    launcher: &Launcher,
    options: &Options,
    args: &[&str; 5],
    count: u64,
    mut rx: impl endpoint::Recv + std::marker::Send,
) -> Stream {
    let batch: u64 = args[4].parse().expect("a batch");
    let turns = (batch > 0).then(|| Turns::create(&turns_name(args[1])));
    let peer = launcher.spawn("produce", args, options.placement.second());
    let stream = on_first_cpu(options, || match &turns {
        None => endpoint::consume(&mut rx, STREAM_LEN, count),
        Some(turns) => endpoint::consume_batches(&mut rx, turns, STREAM_LEN, batch, count / batch),
    })
    .unwrap_or_else(|e| panic!("{} stream: {e}", args[0]));
    peer.finish();
    stream
}

/// The name of the turns of the stream through `ring`.
pub(crate) fn turns_name(ring: &str) -> String {
    format!("{ring}-turns")
}

/// Plays the producer of [`stream_with`] through `tx`: `count` messages of `len` bytes,
/// in batches of `batch` through the turns of `ring` (0: running free).
pub(crate) fn produce(
    tx: &mut impl endpoint::Send,
    ring: &str,
    len: usize,
    count: u64,
    batch: u64,
) {
    if batch == 0 {
        endpoint::produce(tx, len, count);
    } else {
        let turns = Turns::open(&turns_name(ring));
        endpoint::produce_batches(tx, &turns, len, batch, count / batch);
    }
}
