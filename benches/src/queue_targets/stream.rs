//! Streaming checks.

use super::channel::{Channel, SLOTS};
use super::latency::on_first_cpu;
use super::{Options, Verdict, judge, name};
use crate::endpoint::{self, Stream};
use crate::mpmc::{self, MpmcRecv};
use crate::peer::Launcher;
use crate::raw::{RawMpmc, RawRing};
use crate::spsc::{self, SpscRecv, Wait};

/// Length of the streamed messages.
pub(crate) const STREAM_LEN: usize = 64;

/// A streaming check: ipclane's `ours` against the raw `raw`, of `bytes` (rings) or
/// [`SLOTS`] slots.
pub(super) fn streaming(
    launcher: &Launcher,
    options: &Options,
    title: &str,
    raw: Channel,
    ours: Channel,
    bytes: usize,
) -> Verdict {
    let check = format!("{title} (target >= 0.8x {})", raw.name());
    println!("\n{check}");
    judge(
        options,
        check,
        || {
            (
                stream(launcher, options, raw, bytes),
                stream(launcher, options, ours, bytes),
            )
        },
        |s: &Stream| format!("{:.1} M msg/s, {:.1} msg/wait", s.rate() / 1e6, s.batch()),
        |raw, queue| queue.rate() / raw.rate(),
        |r| r >= 0.8,
    )
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
    match channel {
        Channel::RawRing => stream_with(
            launcher,
            options,
            &args,
            count,
            RawRing::create(&ring, bytes, STREAM_LEN),
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

/// Runs a stream of `count` messages into `rx` from a peer started with `args`.
fn stream_with(
    launcher: &Launcher,
    options: &Options,
    args: &[&str; 4],
    count: u64,
    mut rx: impl endpoint::Recv + std::marker::Send,
) -> Stream {
    let peer = launcher.spawn("produce", args, options.placement.second());
    let stream = on_first_cpu(options, || endpoint::consume(&mut rx, STREAM_LEN, count))
        .unwrap_or_else(|e| panic!("{} stream: {e}", args[0]));
    peer.finish();
    stream
}
