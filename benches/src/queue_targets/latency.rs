//! Ping-pong latency checks.

use super::channel::{Channel, with_ends};
use super::{Options, Verdict, WARMUP, judge, name, p50_ratio};
use crate::endpoint;
use crate::peer::Launcher;
use crate::stats::Latencies;

/// A latency check: ipclane's `ours` against the raw `raw`, ping-pong of `len` bytes,
/// through rings of `bytes` (where the channels are rings).
pub(super) fn latency(
    launcher: &Launcher,
    options: &Options,
    title: &str,
    (raw, ours): (Channel, Channel),
    len: usize,
    bytes: usize,
) -> Verdict {
    let check = format!(
        "{title} at {len} B, spinning (target p50 <= 1.3x {})",
        raw.name()
    );
    println!("\n{check}");
    let count = WARMUP + options.pings();
    judge(
        options,
        check,
        || {
            (
                ping_pong(launcher, options, raw, len, bytes, count),
                ping_pong(launcher, options, ours, len, bytes, count),
            )
        },
        |l: &Latencies| l.summary().to_string(),
        p50_ratio,
        |r| r <= 1.3,
    )
}

/// One ping-pong row: this process pings through `channel` (rings of `bytes`), a peer
/// echoes.
pub(crate) fn ping_pong(
    launcher: &Launcher,
    options: &Options,
    channel: Channel,
    len: usize,
    bytes: usize,
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
        &bytes.to_string(),
    ];
    with_ends!(channel, &ping, &pong, len, bytes, true, |tx, rx| {
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
pub(crate) fn on_first_cpu<T: std::marker::Send>(
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
