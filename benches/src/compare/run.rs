//! One run of the comparison: the floors, then every row, with a progress bar; the
//! results assembled with their ratios.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::cli::Args;
use super::drive::Timing;
use super::fanout::{self, Fan};
use super::feed::{Feed, Preset, REMOTE_RATES, REMOTE_SIZES};
use super::machine::{self, percentiles};
use super::pairs;
use super::proxy;
use super::results::{
    BlockingRow, FanoutRow, FloorSpan, Metric, ProxyRow, Results, Row, Throughput,
};
use super::rows::{Bench, STEADY_PERIOD};
use super::targets;
use super::transport::Transport;
use crate::cpu;
use crate::endpoint::Stream;
use crate::floor::OnFloor;
use crate::peer::Launcher;

/// The floor span of a measurement.
fn span<T>(on: &OnFloor<T>) -> FloorSpan {
    let ns = |d: Duration| d.as_nanos() as f64;
    FloorSpan {
        before_ns: ns(on.floor.before),
        after_ns: ns(on.floor.after),
        settled: on.settled(),
        attempts: on.attempts,
    }
}

/// The work a run does, counted for its progress bar.
struct Plan {
    transports: Vec<Transport>,
    sizes: Vec<usize>,
    subscribers: Vec<usize>,
    rates: Vec<u64>,
    feeds: Vec<Feed>,
    presets: Vec<Preset>,
    proxies: Vec<Transport>,
    blocking: Vec<Transport>,
    /// The feeds beyond one machine, and their sizes and rates.
    remote: Vec<Feed>,
    remote_sizes: Vec<usize>,
    remote_rates: Vec<u64>,
}

impl Plan {
    fn new(args: &Args, transports: Vec<Transport>) -> Self {
        let has = |t: Transport| transports.contains(&t);
        let runs = |w: &str| args.runs(w);
        Self {
            sizes: args.chosen_sizes(),
            subscribers: if runs("fanout") {
                args.chosen_subscribers()
            } else {
                Vec::new()
            },
            rates: args.chosen_rates(),
            feeds: Feed::ALL
                .into_iter()
                .filter(|f| runs("fanout") && has(f.transport()))
                .collect(),
            presets: Preset::ALL
                .into_iter()
                .filter(|_| runs("presets") && has(Feed::IpclaneShm.transport()))
                .collect(),
            remote: Feed::REMOTE
                .into_iter()
                .filter(|f| runs("remote") && has(f.transport()))
                .collect(),
            remote_sizes: REMOTE_SIZES[..if args.quick { 1 } else { 2 }].to_vec(),
            remote_rates: REMOTE_RATES[..if args.quick { 1 } else { 2 }].to_vec(),
            proxies: [Transport::Unix, Transport::ShmBlocking]
                .into_iter()
                .filter(|&t| runs("proxy") && has(t))
                .collect(),
            // The blocking transports, and busy-polling shm beside them for contrast.
            blocking: transports
                .iter()
                .copied()
                .filter(|&t| {
                    runs("blocking") && t.streams() && (!t.spins() || t == Transport::ShmBusy)
                })
                .collect(),
            transports,
        }
    }

    fn steps(&self, args: &Args) -> u64 {
        let per_size: usize = self
            .transports
            .iter()
            .map(|t| {
                usize::from(args.runs("latency")) + usize::from(args.runs("stream") && t.streams())
            })
            .sum();
        let pairs: usize = self
            .sizes
            .iter()
            .map(|&size| pairs::planned(&self.transports, size, &metrics(args)).len())
            .sum();
        (1 + per_size * self.sizes.len()
            + pairs
            + 2 * self.blocking.len()
            + self.feeds.len() * self.subscribers.len() * self.rates.len()
            + self.presets.len() * self.rates.len()
            + self.remote.len() * self.remote_sizes.len() * self.remote_rates.len()
            + self.proxies.len()) as u64
    }
}

/// The figures `args` measures, and so compares.
fn metrics(args: &Args) -> Vec<Metric> {
    let mut metrics = Vec::new();
    if args.runs("latency") {
        metrics.push(Metric::Latency);
    }
    if args.runs("stream") {
        metrics.push(Metric::Stream);
    }
    metrics
}

/// Runs the comparison `args` asks for.
///
/// # Errors
///
/// For options that name no transport.
///
/// # Panics
///
/// When any message of any row is lost, repeated, reordered or corrupted, or a peer
/// fails: a run that loses a message has no result.
pub fn run(launcher: &Launcher, args: &Args) -> Result<Results, String> {
    let plan = Plan::new(args, args.chosen_transports()?);
    let placement = args.placement();
    let started = Instant::now();
    let ticks = machine::cpu_ticks();
    let mut results = Results {
        machine: machine::machine(placement, args.quick),
        ..Results::default()
    };
    let progress = ProgressBar::new(plan.steps(args)).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
            .expect("a valid progress template"),
    );
    let step = |what: String| {
        progress.set_message(what);
        progress.inc(1);
    };
    // The measuring side of every row, and the sleeper of the wake-up floors, runs on the
    // first CPU (its peers on the second, or on the first for the same-CPU wake-ups).
    if let Some(cpu) = placement.first() {
        cpu::pin(cpu).map_err(|e| format!("pin to CPU {cpu}: {e}"))?;
    }
    step("the machine's floors".to_owned());
    results.floors = machine::floors(launcher, placement, if args.quick { 20 } else { 200 });
    let measure = args.measure();
    let bench = Bench::new(
        launcher,
        placement,
        Timing {
            warmup: measure / 5,
            measure,
        },
        if args.quick { 1 } else { 3 },
        if args.quick {
            Duration::from_millis(50)
        } else {
            Duration::from_millis(300)
        },
    );
    // A row only where it measures something (a run of the scenarios alone has none).
    let measured: Vec<Transport> = Transport::MEASURED
        .into_iter()
        .filter(|t| plan.transports.contains(t))
        .filter(|t| args.runs("latency") || (args.runs("stream") && t.streams()))
        .collect();
    for &size in &plan.sizes {
        for &t in &measured {
            let mut row = Row {
                transport: t.label().to_owned(),
                family: t.family(),
                size,
                latency: None,
                latency_floor: None,
                stream: None,
                stream_floor: None,
                baseline: t.baseline().map(|b| b.label().to_owned()),
                latency_vs_baseline: None,
                stream_vs_baseline: None,
                latency_vs_iceoryx2: None,
            };
            if args.runs("latency") {
                step(format!("{t} ping-pong at {size} B"));
                let on = bench.ping(t, size);
                row.latency = Some(percentiles(&on.result));
                row.latency_floor = Some(span(&on));
            }
            if args.runs("stream") && t.streams() {
                step(format!("{t} stream at {size} B"));
                let on = bench.stream(t, size);
                row.stream = Some(throughput(&on.result.0, on.result.1));
                row.stream_floor = Some(span(&on));
            }
            results.rows.push(row);
        }
    }
    let rounds = if args.quick { 1 } else { 3 };
    let pair_timing = Timing {
        warmup: measure / 10,
        measure: measure / 2,
    };
    for &size in &plan.sizes {
        for (ours, base, metric) in pairs::planned(&plan.transports, size, &metrics(args)) {
            step(format!("{ours} against {base} at {size} B"));
            results.pairs.push(pairs::pair(
                &bench,
                (ours, base),
                size,
                metric,
                rounds,
                pair_timing,
            ));
        }
    }
    // The table's order: by size, then transport.
    results.rows.sort_by_key(|r| {
        let t = Transport::from_label(&r.transport);
        (r.size, t.map_or(usize::MAX, Transport::rank))
    });
    let small = plan.sizes.iter().copied().min().unwrap_or(64);
    for &t in &plan.blocking {
        step(format!("{t} steady stream"));
        let steady = bench.steady(t, small);
        step(format!("{t} idle"));
        let idle = bench.idle(t, small);
        results.blocking.push(BlockingRow {
            transport: t.label().to_owned(),
            family: t.family(),
            size: small,
            period_ns: STEADY_PERIOD.as_nanos() as u64,
            steady: percentiles(&steady),
            idle_cpu_percent: idle,
        });
    }
    let fan = |feed: Feed, subscribers: usize, rate: u64, wait: Option<Preset>| Fan {
        feed,
        subscribers,
        rate,
        len: small,
        duration: args.fanout_duration(rate),
        wait,
    };
    for &feed in &plan.feeds {
        for &rate in &plan.rates {
            for &n in &plan.subscribers {
                step(format!("{} to {n} subscribers at {rate}/s", feed.label()));
                results
                    .fanout
                    .push(fan_row(&bench, &fan(feed, n, rate, None)));
            }
        }
    }
    for &preset in &plan.presets {
        for &rate in &plan.rates {
            step(format!(
                "one ipclane subscriber, {} wait, at {rate}/s",
                preset.id()
            ));
            let row = fan_row(&bench, &fan(Feed::IpclaneShm, 1, rate, Some(preset)));
            results.presets.push(row);
        }
    }
    for &size in &plan.remote_sizes {
        for &rate in &plan.remote_rates {
            for &feed in &plan.remote {
                step(format!("{} of {size} B at {rate}/s", feed.label()));
                let remote = Fan {
                    len: size,
                    ..fan(feed, 1, rate, None)
                };
                results.remote.push(fan_row(&bench, &remote));
            }
        }
    }
    for &t in &plan.proxies {
        step(format!("{t} through a sidecar"));
        let on = proxy::proxy(&bench, t, small);
        let p = &on.result;
        results.proxy.push(ProxyRow {
            transport: t.label().to_owned(),
            size: small,
            round_trip: percentiles(&p.round_trips),
            cpu_s_per_million: p.cpu_ns as f64 / 1e9 * 1e6 / p.requests.max(1) as f64,
            floor: span(&on),
        });
    }
    progress.finish_and_clear();
    ratios(&mut results);
    results.targets = targets::targets(&results);
    results.machine.seconds = started.elapsed().as_secs_f64();
    results.machine.steal_percent = machine::steal_percent(ticks, machine::cpu_ticks());
    Ok(results)
}

/// One fan-out row, between two floor measurements (once: the grid has many rows, and
/// its figures are wake-ups, far above the cache line's).
fn fan_row(bench: &Bench<'_>, fan: &Fan) -> FanoutRow {
    let on = bench.on_floor_once(|| {
        fanout::fan_out(
            bench.launcher,
            fan,
            &bench.name(fan.feed.id()),
            bench.placement.second(),
        )
    });
    FanoutRow {
        floor: span(&on),
        ..on.result
    }
}

/// A stream's figures.
fn throughput(stream: &Stream, cpu_ns: u64) -> Throughput {
    Throughput {
        messages: stream.messages,
        messages_per_sec: stream.rate(),
        mb_per_sec: stream.bytes_per_second() / 1e6,
        cpu_s_per_million: cpu_ns as f64 / 1e9 * 1e6 / stream.messages.max(1) as f64,
    }
}

/// Each ipclane row's ratios to its baseline and to iceoryx2, from the pairs.
fn ratios(results: &mut Results) {
    let pairs = results.pairs.clone();
    let ratio = |row: &Row, base: Option<Transport>, metric: Metric| {
        let base = base?;
        pairs
            .iter()
            .find(|p| {
                p.ours == row.transport
                    && p.base == base.label()
                    && p.size == row.size
                    && p.metric == metric
            })
            .and_then(|p| p.ratio)
    };
    for row in &mut results.rows {
        let Some(t) = Transport::from_label(&row.transport) else {
            continue;
        };
        row.latency_vs_baseline = ratio(row, t.baseline(), Metric::Latency);
        row.stream_vs_baseline = ratio(row, t.baseline(), Metric::Stream);
        row.latency_vs_iceoryx2 = ratio(row, t.iceoryx2(), Metric::Latency);
    }
}
