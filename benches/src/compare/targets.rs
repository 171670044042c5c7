//! The layers' targets, restated on the comparison's rows: each an ipclane row against the
//! raw baseline measured beside it in the same run. Where a facade row stands on a layer
//! with a target of its own, the bounds compound: the queue's SPSC ring within 1.3x of a
//! mailbox and the facade within 1.15x of the ring make 1.5x; framing within 1.1x of raw
//! reads and the facade within 1.1x of framing make 1.21x.

use super::results::{Results, Row, Target};
use super::run::same_floor;
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
    /// Whether both rows measured what it judges.
    fn measured(self, a: &Row, b: &Row) -> bool {
        match self {
            Judged::Latency(_) => a.latency.is_some() && b.latency.is_some(),
            Judged::Stream(_) => a.stream.is_some() && b.stream.is_some(),
        }
    }

    /// `a`'s figure over `b`'s, where both sat on one floor.
    fn ratio(self, a: &Row, b: &Row) -> Option<f64> {
        match self {
            Judged::Latency(_) => latency_ratio(a, b),
            Judged::Stream(_) => stream_ratio(a, b),
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
    let row = |t: Transport, size: usize| {
        results
            .rows
            .iter()
            .find(|r| r.transport == t.label() && r.size == size)
    };
    let mut targets = Vec::new();
    let sizes: Vec<usize> = {
        let mut s: Vec<usize> = results.rows.iter().map(|r| r.size).collect();
        s.dedup();
        s
    };
    // A target on the rows of `ours` and `raw` at `size`, where both measured it.
    let mut pair = |ours: Transport, raw: Transport, size: usize, judged: Judged| {
        let (Some(a), Some(b)) = (row(ours, size), row(raw, size)) else {
            return;
        };
        if judged.measured(a, b) {
            let ratio = judged.ratio(a, b);
            targets.push(Target {
                check: format!("{ours} {judged} {raw} at {}", super::report::size(size)),
                ratio,
                pass: ratio.is_some_and(|r| judged.holds(r)),
            });
        }
    };
    for &size in sizes.iter().filter(|&&s| s <= 1 << 10) {
        pair(
            Transport::ShmBusy,
            Transport::Mailbox,
            size,
            Judged::Latency(SHM_LATENCY),
        );
    }
    for &size in &sizes {
        pair(
            Transport::Unix,
            Transport::RawUnix,
            size,
            Judged::Latency(SOCKET_LATENCY),
        );
        pair(
            Transport::Tcp,
            Transport::RawTcp,
            size,
            Judged::Latency(SOCKET_LATENCY),
        );
    }
    if let Some(&small) = sizes.first() {
        pair(
            Transport::ShmBusy,
            Transport::RawRing,
            small,
            Judged::Stream(SHM_STREAM),
        );
    }
    for &size in &sizes {
        pair(
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

/// p50 of `a` over `b`'s, when both sat on the same floor.
pub(super) fn latency_ratio(a: &Row, b: &Row) -> Option<f64> {
    match (a.latency, a.latency_floor, b.latency, b.latency_floor) {
        (Some(x), Some(fx), Some(y), Some(fy)) if same_floor(&fx, &fy) => Some(x.p50 / y.p50),
        _ => None,
    }
}

/// The stream rate of `a` over `b`'s, likewise.
pub(super) fn stream_ratio(a: &Row, b: &Row) -> Option<f64> {
    match (a.stream, a.stream_floor, b.stream, b.stream_floor) {
        (Some(x), Some(fx), Some(y), Some(fy)) if same_floor(&fx, &fy) => {
            Some(x.messages_per_sec / y.messages_per_sec)
        }
        _ => None,
    }
}
