//! What one run of the comparison measured, as `results.json` holds it and the table,
//! `report.md` and the charts show it. Times are nanoseconds, rates per second.

use serde::{Deserialize, Serialize};

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// Where and how it ran.
    pub machine: Machine,
    /// The machine's own limits, measured at the start of the run.
    pub floors: Floors,
    /// One row per transport and message size: ping-pong latency and streaming
    /// throughput.
    pub rows: Vec<Row>,
    /// Blocking transports under a steady stream, and idle.
    pub blocking: Vec<BlockingRow>,
    /// One publisher, N subscriber processes.
    pub fanout: Vec<FanoutRow>,
    /// Client, sidecar and backend: a request through a local proxy.
    pub proxy: Vec<ProxyRow>,
    /// Ratios between two rows, measured back to back in rounds on one floor.
    #[serde(default)]
    pub pairs: Vec<Pair>,
    /// The layers' targets, as pass/fail lines.
    pub targets: Vec<Target>,
}

/// What a pair of rows compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// One-way p50 latency from ping-pong (lower is better).
    Latency,
    /// Stream rate in messages per second (higher is better).
    Stream,
}

/// One row's figure over another's, from rounds that measured the two back to back
/// between two floor measurements: the median over the rounds whose floor held still.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    /// The row compared (a transport name).
    pub ours: String,
    /// The row it is compared with.
    pub base: String,
    /// Message bytes.
    pub size: usize,
    /// The figure compared.
    pub metric: Metric,
    /// The median ratio, `ours` over `base`; `None` when no round held still.
    pub ratio: Option<f64>,
    /// Rounds whose floor held still (of those run).
    pub rounds: usize,
    /// The smallest and largest ratio of those rounds.
    pub spread: Option<(f64, f64)>,
}

/// Where and how the run took place.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU model, as /proc/cpuinfo names it.
    pub cpu: String,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// The kernel release.
    pub kernel: String,
    /// Where the processes of each measurement ran ("pinned to CPUs 0 and 1", ...).
    pub placement: String,
    /// The command line of the run.
    pub command: String,
    /// When the run started (seconds since the Unix epoch).
    pub started_unix: u64,
    /// Seconds the run took.
    pub seconds: f64,
    /// Whether it was a `--quick` run (integrity only: its figures mean little).
    pub quick: bool,
}

/// The machine's limits, measured in the same run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Floors {
    /// One cache line from one CPU to the other (the floor under any shared-memory
    /// transport), one-way, at the start of the run.
    pub cache_line_ns: f64,
    /// Waking a process sleeping in a futex on the other CPU: one-way latency.
    pub wake_cross_cpu: Option<Percentiles>,
    /// Waking a process sleeping in a futex on the same CPU.
    pub wake_same_cpu: Option<Percentiles>,
}

/// The cache-line floor just before and just after a measurement.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct FloorSpan {
    /// Before, one-way ns.
    pub before_ns: f64,
    /// After, one-way ns.
    pub after_ns: f64,
    /// Whether it moved by at most 25% (only then is a ratio to another row computed).
    pub settled: bool,
    /// Attempts made (a row whose floor moved is run again, a bounded number of times).
    pub attempts: usize,
}

/// Percentiles of a latency distribution, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Latencies recorded.
    pub count: u64,
}

/// Who made a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// ipclane, through the facade's URLs.
    Ipclane,
    /// A raw baseline: the least code that moves the bytes this way.
    Raw,
    /// A library a user would pick instead.
    Peer,
}

/// One transport at one message size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The transport's name in the table ("ipclane shm busy-poll", "raw unix", ...).
    pub transport: String,
    /// Who made it.
    pub family: Family,
    /// Message bytes.
    pub size: usize,
    /// One-way latency from ping-pong (half of each round trip), if measured.
    pub latency: Option<Percentiles>,
    /// The floor around the ping-pong.
    pub latency_floor: Option<FloorSpan>,
    /// Streaming throughput, if measured.
    pub stream: Option<Throughput>,
    /// The floor around the stream.
    pub stream_floor: Option<FloorSpan>,
    /// The raw baseline this row is compared with (a transport name), for ipclane rows.
    pub baseline: Option<String>,
    /// p50 latency over the baseline's at this size (the median of rounds measuring the
    /// two back to back on one floor: [`Pair`]).
    pub latency_vs_baseline: Option<f64>,
    /// Throughput over the baseline's (likewise).
    pub stream_vs_baseline: Option<f64>,
    /// p50 latency over iceoryx2's (the same waiting: busy-poll or event-driven;
    /// likewise).
    pub latency_vs_iceoryx2: Option<f64>,
}

/// A stream of messages sent back to back, every one received and checked.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Messages received.
    pub messages: u64,
    /// Messages per second.
    pub messages_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// CPU seconds of all processes of the stream per million messages.
    pub cpu_s_per_million: f64,
}

/// A blocking transport when messages are rare: latency under a steady stream, and the
/// CPU it burns while idle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockingRow {
    /// Transport name.
    pub transport: String,
    /// Who made it.
    pub family: Family,
    /// Message bytes.
    pub size: usize,
    /// The steady stream's period, ns.
    pub period_ns: u64,
    /// One-way latency of the steady stream's messages.
    pub steady: Percentiles,
    /// CPU of both processes while nothing is sent, in percent of one CPU.
    pub idle_cpu_percent: f64,
}

/// One publisher, N subscriber processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Transport name.
    pub transport: String,
    /// Who made it.
    pub family: Family,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Message bytes.
    pub size: usize,
    /// Messages the publisher sent.
    pub published: u64,
    /// Per-subscriber one-way latency, all subscribers' latencies together.
    pub latency: Percentiles,
    /// The worst subscriber's p99.
    pub worst_p99_ns: f64,
    /// Messages delivered per second, summed over subscribers.
    pub delivered_per_sec: f64,
    /// The publisher's CPU seconds per million messages published.
    pub publisher_cpu_s_per_million: f64,
    /// Messages published that some subscriber never saw, summed over subscribers.
    pub missed: u64,
    /// The floor around the row.
    pub floor: FloorSpan,
}

/// A request through a sidecar: client, sidecar and backend processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyRow {
    /// Transport name (both hops use it).
    pub transport: String,
    /// Message bytes (request and response).
    pub size: usize,
    /// The client's round trip.
    pub round_trip: Percentiles,
    /// CPU seconds of the three processes per million requests.
    pub cpu_s_per_million: f64,
    /// The floor around the row.
    pub floor: FloorSpan,
}

/// One of the layers' targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    /// What is checked, with its bound ("ipclane shm busy-poll p50 <= 1.3x raw mailbox at
    /// 64 B").
    pub check: String,
    /// The measured ratio, when both rows were measured on one floor.
    pub ratio: Option<f64>,
    /// Whether it held (`false` when it could not be computed).
    pub pass: bool,
}

/// A run's worth of made-up results, for the tests of what shows them.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    fn percentiles(p50: f64) -> Percentiles {
        Percentiles {
            p50,
            p99: p50 * 2.5,
            p999: p50 * 4.0,
            max: p50 * 20.0,
            count: 10_000,
        }
    }

    fn span(settled: bool, attempts: usize) -> FloorSpan {
        FloorSpan {
            before_ns: 45.0,
            after_ns: if settled { 47.0 } else { 80.0 },
            settled,
            attempts,
        }
    }

    fn row(transport: &str, family: Family, size: usize, p50: f64, rate: f64) -> Row {
        Row {
            transport: transport.to_owned(),
            family,
            size,
            latency: Some(percentiles(p50)),
            latency_floor: Some(span(true, 1)),
            stream: Some(Throughput {
                messages: 100_000,
                messages_per_sec: rate,
                mb_per_sec: rate * size as f64 / 1e6,
                cpu_s_per_million: 2e6 / rate,
            }),
            stream_floor: Some(span(true, 1)),
            baseline: None,
            latency_vs_baseline: None,
            stream_vs_baseline: None,
            latency_vs_iceoryx2: None,
        }
    }

    /// A run with rows of the three families at four sizes, a fan-out of two
    /// transports, a proxy row, a blocking row and two targets.
    pub(crate) fn sample() -> Results {
        let mut rows = Vec::new();
        for (i, size) in [64usize, 1024, 65536, 1 << 20].into_iter().enumerate() {
            let scale = (1 << (3 * i)) as f64;
            let mut ipclane = row(
                "ipclane shm busy-poll",
                Family::Ipclane,
                size,
                160.0 * scale,
                4e6 / scale,
            );
            ipclane.baseline = Some("raw mailbox".to_owned());
            ipclane.latency_vs_baseline = Some(1.07);
            ipclane.stream_vs_baseline = Some(0.95);
            ipclane.latency_vs_iceoryx2 = Some(0.8);
            let mut raw = row(
                "raw mailbox",
                Family::Raw,
                size,
                150.0 * scale,
                4.2e6 / scale,
            );
            let peer = row(
                "iceoryx2 busy-poll",
                Family::Peer,
                size,
                200.0 * scale,
                3e6 / scale,
            );
            if size == 65536 {
                // A floor that moved: no ratio for this size.
                raw.stream_floor = Some(span(false, 3));
                ipclane.stream_vs_baseline = None;
            }
            rows.extend([ipclane, raw, peer]);
        }
        let mut fanout = Vec::new();
        for (transport, family) in [
            ("ipclane broadcast", Family::Ipclane),
            ("iceoryx2 pub-sub", Family::Peer),
        ] {
            for subscribers in [1usize, 2, 4] {
                let p50 = 300.0 * subscribers as f64;
                fanout.push(FanoutRow {
                    transport: transport.to_owned(),
                    family,
                    subscribers,
                    size: 64,
                    published: 100_000,
                    latency: percentiles(p50),
                    worst_p99_ns: p50 * 3.0,
                    delivered_per_sec: 1e6 * subscribers as f64,
                    publisher_cpu_s_per_million: 0.4,
                    missed: if family == Family::Peer { 12 } else { 0 },
                    floor: span(true, 1),
                });
            }
        }
        Results {
            machine: Machine {
                cpu: "AMD EPYC 7B13 64-Core Processor".to_owned(),
                cpus: 2,
                kernel: "6.1.0-18-cloud-amd64".to_owned(),
                placement: "pinned to CPUs 0 and 1".to_owned(),
                command: "ipclane-bench --out report".to_owned(),
                started_unix: 1_700_000_000,
                seconds: 312.4,
                quick: false,
            },
            floors: Floors {
                cache_line_ns: 45.3,
                wake_cross_cpu: Some(percentiles(40_000.0)),
                wake_same_cpu: Some(percentiles(2_000.0)),
            },
            rows,
            blocking: vec![BlockingRow {
                transport: "ipclane shm event-driven".to_owned(),
                family: Family::Ipclane,
                size: 64,
                period_ns: 1_000_000,
                steady: percentiles(45_000.0),
                idle_cpu_percent: 0.02,
            }],
            fanout,
            proxy: vec![ProxyRow {
                transport: "ipclane unix proxy".to_owned(),
                size: 1024,
                round_trip: percentiles(30_000.0),
                cpu_s_per_million: 25.0,
                floor: span(true, 2),
            }],
            pairs: Vec::new(),
            targets: vec![
                Target {
                    check: "ipclane shm busy-poll p50 <= 1.3x raw mailbox at 64 B".to_owned(),
                    ratio: Some(1.07),
                    pass: true,
                },
                Target {
                    check: "ipclane shm busy-poll msg/s >= 0.9x raw mailbox at 64 KiB".to_owned(),
                    ratio: None,
                    pass: false,
                },
            ],
        }
    }
}
