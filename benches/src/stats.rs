//! Latency percentiles, from one implementation (hdrhistogram) everywhere.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A distribution of latencies, recorded in nanoseconds with three significant digits,
/// from 1 ns to 100 s.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty distribution.
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds"))
    }

    /// Records one latency (saturated at the highest trackable value).
    pub fn record(&mut self, latency: Duration) {
        self.record_ns(latency.as_nanos().try_into().unwrap_or(u64::MAX));
    }

    /// Records one latency in nanoseconds.
    pub fn record_ns(&mut self, ns: u64) {
        self.0.saturating_record(ns.max(1));
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("histograms of the same bounds");
    }

    /// The number of latencies recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The latency at quantile `q` (0.5 for the median).
    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_nanos(self.0.value_at_quantile(q))
    }

    /// The percentiles a row prints.
    pub fn summary(&self) -> Summary {
        Summary {
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: Duration::from_nanos(self.0.max()),
        }
    }

    /// The distribution halved: one-way times from round trips.
    pub fn halved(&self) -> Latencies {
        let mut half = Latencies::new();
        for v in self.0.iter_recorded() {
            half.0
                .saturating_record_n((v.value_iterated_to() / 2).max(1), v.count_at_value());
        }
        half
    }
}

/// p50, p99, p99.9 and max of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest.
    pub max: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {} p99 {} p99.9 {} max {}",
            ns(self.p50),
            ns(self.p99),
            ns(self.p999),
            ns(self.max)
        )
    }
}

/// A duration for a table: ns below 10 µs, µs below 10 ms, ms above.
pub fn ns(d: Duration) -> String {
    let n = d.as_nanos();
    if n < 10_000 {
        format!("{n} ns")
    } else if n < 10_000_000 {
        format!("{:.1} us", n as f64 / 1e3)
    } else {
        format!("{:.1} ms", n as f64 / 1e6)
    }
}

/// The median of some values (of an even number, the mean of the middle two).
///
/// # Panics
///
/// When `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "the median of nothing");
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_values() {
        let mut l = Latencies::new();
        for ns in 1..=1000 {
            l.record_ns(ns);
        }
        let s = l.summary();
        assert_eq!(s.p50, Duration::from_nanos(500));
        assert_eq!(s.p99, Duration::from_nanos(990));
        assert_eq!(s.max, Duration::from_nanos(1000));
        assert_eq!(l.halved().summary().p50, Duration::from_nanos(250));
        assert_eq!(l.len(), 1000);
    }

    #[test]
    fn durations_print_in_a_readable_unit() {
        assert_eq!(ns(Duration::from_nanos(152)), "152 ns");
        assert_eq!(ns(Duration::from_micros(55)), "55.0 us");
        assert_eq!(ns(Duration::from_millis(36)), "36.0 ms");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![0.74, 1.39]), 1.065);
    }
}
