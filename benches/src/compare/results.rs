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
    /// One publisher, N subscriber processes, at each rate.
    pub fanout: Vec<FanoutRow>,
    /// One ipclane subscriber under each wait preset, at each rate.
    #[serde(default)]
    pub presets: Vec<FanoutRow>,
    /// Beyond one machine: ipclane pub/sub bridged through Zenoh to another host's feed,
    /// and plain Zenoh pub/sub, one subscriber, at each remote size and rate.
    #[serde(default)]
    pub remote: Vec<FanoutRow>,
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
    /// Share of the CPUs' time that the hypervisor gave to other guests during the run
    /// (steal, from /proc/stat): each steal is a stall of milliseconds that no transport
    /// causes and that shows in every row's tail.
    #[serde(default)]
    pub steal_percent: Option<f64>,
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
    /// What one such sleep and wake-up cost the sleeper in CPU time, ns: the floor under
    /// the CPU of any subscriber that sleeps between messages.
    #[serde(default)]
    pub sleeper_cpu_per_wake_ns: Option<f64>,
    /// Waking a process sleeping in a futex on the same CPU.
    pub wake_same_cpu: Option<Percentiles>,
}

impl Floors {
    /// The wake-up a subscriber on the other CPU pays: the p50 of the cross-CPU wake-up,
    /// or of the same-CPU one when only that was measured, ns.
    pub fn wake_up_p50_ns(&self) -> Option<f64> {
        self.wake_cross_cpu.or(self.wake_same_cpu).map(|p| p.p50)
    }
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

/// How most of a fan-out publisher's messages were sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pacing {
    /// After a sleep through the gap before it (the publisher's CPU was free).
    #[default]
    Sleeps,
    /// After spinning on the clock through a gap too short to sleep through.
    Spins,
    /// At once, already due: the publisher was behind, because it could not keep up or
    /// was catching up after a stall (a burst).
    BackToBack,
}

/// One publisher at a set rate, N subscriber processes, every message checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRow {
    /// Transport (feed) name.
    pub transport: String,
    /// Who made it.
    pub family: Family,
    /// The ipclane wait preset the subscribers used (the `presets` workload); `None`:
    /// the feed's default waiting (ipclane's default policy, `balanced`).
    #[serde(default)]
    pub wait: Option<String>,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Message bytes.
    pub size: usize,
    /// Messages per second the publisher was asked for.
    pub rate: u64,
    /// Messages the publisher sent (the stops not counted).
    pub published: u64,
    /// Messages per second it sent: published over the time it spent publishing.
    pub achieved_per_sec: f64,
    /// How most of its messages were sent.
    pub pacing: Pacing,
    /// Per-subscriber one-way latency, from each message's send time, all subscribers'
    /// latencies together.
    pub latency: Percentiles,
    /// The worst subscriber's p99.
    pub worst_p99_ns: f64,
    /// Messages delivered per second, summed over subscribers.
    pub delivered_per_sec: f64,
    /// Each subscriber process's CPU time from its first message to the stop, in percent
    /// of that time (of one CPU): the mean over subscribers.
    pub subscriber_cpu_mean_percent: f64,
    /// The same, the largest over subscribers.
    pub subscriber_cpu_max_percent: f64,
    /// Wall time inside the publish calls, in percent of the time spent publishing.
    pub publisher_in_send_percent: f64,
    /// CPU time of the publishing thread, less the time it spun on the clock waiting for
    /// due times, in percent of the time spent publishing (stamping, clock reads, the
    /// sleeps' system calls and the publish calls).
    pub publisher_cpu_percent: f64,
    /// Mean time inside one publish call (one message to every subscriber), ns.
    pub write_mean_ns: f64,
    /// p99 of the time inside one publish call, ns.
    pub write_p99_ns: f64,
    /// Messages published that some subscriber never saw, summed over subscribers.
    pub missed: u64,
    /// The most messages one subscriber missed.
    pub worst_missed: u64,
    /// Of `missed`, those the subscribers were told they missed (ipclane pub/sub's
    /// `Lagged { missed }`); `None` for feeds that do not tell.
    #[serde(default)]
    pub announced: Option<u64>,
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
    /// What was measured, when the target is not a ratio ("max 3.2% CPU").
    #[serde(default)]
    pub measured: Option<String>,
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

    /// A fan-out row: latency and the publisher's cost growing with the subscribers, and
    /// 12 messages missed on the peer's feed (unannounced).
    pub(crate) fn fanout_row(
        transport: &str,
        family: Family,
        subscribers: usize,
        rate: u64,
    ) -> FanoutRow {
        let n = subscribers as f64;
        FanoutRow {
            transport: transport.to_owned(),
            family,
            wait: None,
            subscribers,
            size: 64,
            rate,
            published: 100_000,
            achieved_per_sec: rate as f64 * 0.999,
            pacing: if rate > 10_000 {
                Pacing::Spins
            } else {
                Pacing::Sleeps
            },
            latency: percentiles(300.0 * n),
            worst_p99_ns: 900.0 * n,
            delivered_per_sec: rate as f64 * n,
            subscriber_cpu_mean_percent: 2.0 * n,
            subscriber_cpu_max_percent: 2.5 * n,
            publisher_in_send_percent: 0.4 * n,
            publisher_cpu_percent: 1.5 * n,
            write_mean_ns: 120.0 * n,
            write_p99_ns: 400.0 * n,
            missed: if family == Family::Peer { 12 } else { 0 },
            worst_missed: if family == Family::Peer { 12 } else { 0 },
            announced: (family == Family::Ipclane).then_some(0),
            floor: span(true, 1),
        }
    }

    /// A run with rows of the three families at four sizes, a fan-out of two
    /// transports at two rates, two wait presets, a proxy row, a blocking row and two targets.
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
            for rate in [10_000, 100_000] {
                for subscribers in [1usize, 2, 4] {
                    fanout.push(fanout_row(transport, family, subscribers, rate));
                }
            }
        }
        let presets = ["low-latency", "efficient"]
            .into_iter()
            .map(|wait| FanoutRow {
                wait: Some(wait.to_owned()),
                ..fanout_row("ipclane broadcast", Family::Ipclane, 1, 10_000)
            })
            .collect();
        let remote = [
            ("ipclane pub/sub bridged through Zenoh", Family::Ipclane),
            ("Zenoh pub/sub (tcp, peers)", Family::Peer),
        ]
        .into_iter()
        .map(|(transport, family)| fanout_row(transport, family, 1, 10_000))
        .collect();
        Results {
            machine: Machine {
                steal_percent: Some(0.5),
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
                sleeper_cpu_per_wake_ns: Some(15_000.0),
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
            presets,
            remote,
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
                    measured: None,
                    pass: true,
                },
                Target {
                    check: "ipclane shm busy-poll msg/s >= 0.9x raw mailbox at 64 KiB".to_owned(),
                    ratio: None,
                    measured: None,
                    pass: false,
                },
            ],
        }
    }
}
