//! The layers' targets, restated on the comparison's rows: each an ipclane row against the
//! raw baseline measured beside it in the same run. Where a facade row stands on a layer
//! with a target of its own, the bounds compound: the queue's SPSC ring within 1.3x of a
//! mailbox and the facade within 1.15x of the ring make 1.5x; framing within 1.1x of raw
//! reads and the facade within 1.1x of framing make 1.21x.

use super::results::{Metric, Results, Target};
use super::transport::Transport;

/// Bound of shm busy-poll's p50 over the spinning mailbox (1.3 x 1.15).
const SHM_LATENCY: f64 = 1.5;
/// Bound of shm busy-poll's stream over the raw ring (0.8 x 0.8).
const SHM_STREAM: f64 = 0.64;
/// Bound of a socket row's p50 over its raw baseline (1.1 x 1.1).
const SOCKET_LATENCY: f64 = 1.21;
/// Bound of shm blocking's steady-stream p50 over busy-polling's.
const BLOCKING_STEADY: f64 = 2.0;

/// What a target judges, with its bound.
#[derive(Clone, Copy)]
enum Judged {
    /// p50 latency over the baseline's, at most.
    Latency(f64),
    /// Stream rate over the baseline's, at least.
    Stream(f64),
}

impl Judged {
    /// The figure it judges.
    fn metric(self) -> Metric {
        match self {
            Judged::Latency(_) => Metric::Latency,
            Judged::Stream(_) => Metric::Stream,
        }
    }

    /// Whether `ratio` meets the bound.
    fn holds(self, ratio: f64) -> bool {
        match self {
            Judged::Latency(bound) => ratio <= bound,
            Judged::Stream(bound) => ratio >= bound,
        }
    }
}

impl std::fmt::Display for Judged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Judged::Latency(bound) => write!(f, "one-way p50 <= {bound:.2}x"),
            Judged::Stream(bound) => write!(f, "stream >= {bound:.2}x"),
        }
    }
}

/// The targets `results` can judge.
pub fn targets(results: &Results) -> Vec<Target> {
    let mut targets = Vec::new();
    let mut judge = |ours: Transport, base: Transport, size: usize, judged: Judged| {
        let Some(pair) = results.pairs.iter().find(|p| {
            p.ours == ours.label()
                && p.base == base.label()
                && p.size == size
                && p.metric == judged.metric()
        }) else {
            return;
        };
        targets.push(Target {
            check: format!("{ours} {judged} {base} at {}", super::format::size(size)),
            ratio: pair.ratio,
            pass: pair.ratio.is_some_and(|r| judged.holds(r)),
        });
    };
    let mut sizes: Vec<usize> = results.pairs.iter().map(|p| p.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for &size in sizes.iter().filter(|&&s| s <= 1 << 10) {
        judge(
            Transport::ShmBusy,
            Transport::Mailbox,
            size,
            Judged::Latency(SHM_LATENCY),
        );
    }
    for &size in &sizes {
        judge(
            Transport::Unix,
            Transport::RawUnix,
            size,
            Judged::Latency(SOCKET_LATENCY),
        );
        judge(
            Transport::Tcp,
            Transport::RawTcp,
            size,
            Judged::Latency(SOCKET_LATENCY),
        );
    }
    if let Some(&small) = sizes.first() {
        judge(
            Transport::ShmBusy,
            Transport::RawRing,
            small,
            Judged::Stream(SHM_STREAM),
        );
    }
    for &size in &sizes {
        judge(
            Transport::Unix,
            Transport::RawUnix,
            size,
            Judged::Stream(1.0 / SOCKET_LATENCY),
        );
    }
    let steady = |t: Transport| {
        results
            .blocking
            .iter()
            .find(|b| b.transport == t.label())
            .map(|b| b.steady.p50)
    };
    if let (Some(blocking), Some(busy)) =
        (steady(Transport::ShmBlocking), steady(Transport::ShmBusy))
    {
        let ratio = blocking / busy;
        targets.push(Target {
            check: format!(
                "{} steady-stream p50 <= {BLOCKING_STEADY}x {}'s",
                Transport::ShmBlocking,
                Transport::ShmBusy
            ),
            ratio: Some(ratio),
            pass: ratio <= BLOCKING_STEADY,
        });
    }
    targets
}
