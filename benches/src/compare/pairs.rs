//! Ratios between two rows that mean something on a machine whose floor moves within
//! seconds: the two are measured back to back, between one floor measurement before and
//! one after, in a few rounds; a round counts only if the floor held still through both,
//! and the ratio is the median of the rounds that count.

use super::drive::Timing;
use super::results::{Metric, Pair};
use super::rows::Bench;
use super::transport::Transport;
use crate::stats;

/// Measures `ours` against `base` at `size` on `metric`, in `rounds` rounds of `timing`.
///
/// # Panics
///
/// When a message of either row is lost, repeated, reordered or not whole.
pub fn pair(
    bench: &Bench<'_>,
    (ours, base): (Transport, Transport),
    size: usize,
    metric: Metric,
    rounds: usize,
    timing: Timing,
) -> Pair {
    let figure = |t: Transport| match metric {
        Metric::Latency => bench.ping_once(t, size, timing).quantile(0.5).as_secs_f64(),
        Metric::Stream => bench.stream_once(t, size, timing).0.rate(),
    };
    let ratios: Vec<f64> = (0..rounds)
        .filter_map(|_| {
            // One attempt per round: a round whose floor moved is dropped, not repeated.
            let on = bench.on_floor_once(|| {
                let b = figure(base);
                figure(ours) / b
            });
            on.settled().then_some(on.result)
        })
        .collect();
    let spread = ratios
        .iter()
        .copied()
        .fold(None, |acc: Option<(f64, f64)>, r| {
            Some(acc.map_or((r, r), |(lo, hi)| (lo.min(r), hi.max(r))))
        });
    Pair {
        ours: ours.label().to_owned(),
        base: base.label().to_owned(),
        size,
        metric,
        rounds: ratios.len(),
        ratio: (!ratios.is_empty()).then(|| stats::median(ratios)),
        spread,
    }
}

/// The pairs a run measures among `transports` at `size`: each ipclane row against its
/// raw baseline and against iceoryx2 (the same waiting), and shm busy-poll against the
/// spinning mailbox up to 1 KiB (the queue's target).
pub fn planned(
    transports: &[Transport],
    size: usize,
    metrics: &[Metric],
) -> Vec<(Transport, Transport, Metric)> {
    let mut planned = Vec::new();
    for &ours in transports {
        let against = [
            ours.baseline(),
            ours.iceoryx2(),
            (ours == Transport::ShmBusy && size <= 1 << 10).then_some(Transport::Mailbox),
        ];
        for base in against.into_iter().flatten() {
            if !transports.contains(&base) {
                continue;
            }
            for &metric in metrics {
                let streams = ours.streams() && base.streams();
                // iceoryx2 and the mailbox are compared on latency only.
                let latency_only =
                    base.family() != super::results::Family::Raw || base == Transport::Mailbox;
                if metric == Metric::Latency || (streams && !latency_only) {
                    planned.push((ours, base, metric));
                }
            }
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ipclane_row_is_paired_with_what_it_is_compared_to() {
        let all = Transport::ALL;
        let both = [Metric::Latency, Metric::Stream];
        let small = planned(&all, 64, &both);
        assert!(small.contains(&(Transport::ShmBusy, Transport::RawRing, Metric::Stream)));
        assert!(small.contains(&(Transport::ShmBusy, Transport::Mailbox, Metric::Latency)));
        assert!(!small.contains(&(Transport::ShmBusy, Transport::Mailbox, Metric::Stream)));
        assert!(small.contains(&(
            Transport::ShmBlocking,
            Transport::Iceoryx2Event,
            Metric::Latency
        )));
        assert!(small.contains(&(Transport::Tcp, Transport::RawTcp, Metric::Stream)));
        // 5 ipclane rows x 2 metrics against their baselines, 2 against iceoryx2, 1
        // against the mailbox.
        assert_eq!(small.len(), 13);
        assert_eq!(planned(&all, 64 << 10, &both).len(), 12);
        assert!(
            planned(&[Transport::Unix], 64, &both).is_empty(),
            "no baseline chosen"
        );
    }
}
