//! The report folder of a comparison run: `report.md` (the machine, its floors, every
//! table, the targets and the charts), `results.json` (the [`Results`] themselves) and
//! the SVG charts; and the formatting helpers the console table shares with it.

use std::io;
use std::path::{Path, PathBuf};

use super::charts;
use super::format::{
    dash, duration, family, floor, missed, pacing, percent, rate, significant, size, target_figure,
    times, wake_ups,
};
use super::results::{FanoutRow, FloorSpan, Metric, Percentiles, Results, Row};

/// Writes `report.md`, `results.json` and the charts into `dir` (created if missing);
/// returns the paths written: `report.md`, `results.json`, then the charts.
pub fn write(results: &Results, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| naming(e, dir))?;
    let charts = charts::write_all(results, dir)?;
    let report = dir.join("report.md");
    std::fs::write(&report, markdown(results, &charts)).map_err(|e| naming(e, &report))?;
    let json = dir.join("results.json");
    write_json(results, &json)?;
    let mut paths = vec![report, json];
    paths.extend(charts.iter().map(|chart| dir.join(chart)));
    Ok(paths)
}

/// `results.json` alone, to `path` (for `--json FILE`): the [`Results`], pretty-printed.
///
/// JSON has no NaN or infinity: serde_json writes such a value as `null`.
pub fn write_json(results: &Results, path: &Path) -> io::Result<()> {
    let mut json = serde_json::to_string_pretty(results)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    json.push('\n');
    std::fs::write(path, json).map_err(|e| naming(e, path))
}

/// The error, with the path it concerns in its message.
fn naming(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

/// The markdown of report.md (a pure function, so tests can read it); `charts` are the
/// chart files written beside it, embedded in that order.
pub fn markdown(results: &Results, charts: &[String]) -> String {
    let mut out = String::new();
    out.push_str("# ipclane: IPC transports compared\n\n");
    machine(&mut out, results);
    floors(&mut out, results);
    rows(&mut out, &results.rows);
    blocking(&mut out, results);
    fanout(&mut out, results);
    proxy(&mut out, results);
    targets(&mut out, results);
    pairs(&mut out, results);
    if !charts.is_empty() {
        out.push_str("## Charts\n\n");
        for chart in charts {
            let name = chart.strip_suffix(".svg").unwrap_or(chart);
            out.push_str(&format!("![{name}]({chart})\n\n"));
        }
    }
    out.push_str(METHOD);
    out
}

/// How the figures were measured: the closing paragraph.
const METHOD: &str = "## How these figures were measured\n\n\
Every message was written whole by its sender and read and checked whole by its receiver \
(its stamp and every byte of its payload), on every row, raw baselines, ipclane and peers \
alike. The two ends (or the publisher and its subscribers, or client, sidecar and backend) \
were real processes, placed as the machine header says. One-way latency is half of each \
ping-pong round trip; throughput is a stream of messages sent back to back; CPU is the CPU \
time of all processes of a measurement. The cache-line floor was measured just before and \
just after every row; a row during which it moved by more than 25% was run again, a \
bounded number of times, and a ratio between two rows is given only when both were \
measured on a settled floor. The ratios are not taken from the tables' rows: each pair \
was measured again, back to back, in rounds (the ratios section).\n";

/// The title's warning and the machine header.
fn machine(out: &mut String, results: &Results) {
    let machine = &results.machine;
    if machine.quick {
        out.push_str(
            "> **Quick run: it checks integrity, and its figures are not to be quoted.**\n\n",
        );
    }
    out.push_str("## Machine\n\n");
    if !machine.cpu.is_empty() {
        out.push_str(&format!("- CPU: {}\n", machine.cpu));
    }
    out.push_str(&format!("- CPUs available: {}\n", machine.cpus));
    if !machine.kernel.is_empty() {
        out.push_str(&format!("- Kernel: {}\n", machine.kernel));
    }
    if !machine.placement.is_empty() {
        out.push_str(&format!("- Placement: {}\n", machine.placement));
    }
    if !machine.command.is_empty() {
        out.push_str(&format!("- Command: {}\n", code(&machine.command)));
    }
    if machine.started_unix > 0 {
        out.push_str(&format!(
            "- Started: {} UTC\n",
            utc_minute(machine.started_unix)
        ));
    }
    out.push_str(&format!("- Run time: {:.0} s\n", machine.seconds));
    if let Some(steal) = machine.steal_percent {
        out.push_str(&format!(
            "- Hypervisor steal during the run: {} of the CPUs' time (each steal is a \
             stall of milliseconds that no transport causes, in every row's tail)\n",
            super::format::percent(steal)
        ));
    }
    out.push('\n');
}

/// The machine's floors.
fn floors(out: &mut String, results: &Results) {
    let floors = &results.floors;
    let cache_line = floors.cache_line_ns.is_finite() && floors.cache_line_ns > 0.0;
    if !cache_line && floors.wake_cross_cpu.is_none() && floors.wake_same_cpu.is_none() {
        return;
    }
    out.push_str("## Floors\n\n");
    if cache_line {
        out.push_str(&format!(
            "- One cache line from one CPU to the other, one-way: {} (at the start of the \
             run; the tables give it again before and after each row)\n",
            duration(floors.cache_line_ns)
        ));
    }
    let wake = |out: &mut String, what: &str, p: &Option<Percentiles>| {
        if let Some(p) = p {
            out.push_str(&format!(
                "- Futex wake-up of a process sleeping on {what}, one-way: p50 {}, p99 {}\n",
                duration(p.p50),
                duration(p.p99)
            ));
        }
    };
    wake(out, "the other CPU", &floors.wake_cross_cpu);
    if let Some(cpu) = floors.sleeper_cpu_per_wake_ns {
        out.push_str(&format!(
            "- What each of those sleeps and wake-ups costs the sleeper in CPU time: {} \
             (the floor under the CPU of a subscriber that sleeps between messages: {} at \
             10,000 messages/s)\n",
            duration(cpu),
            super::format::percent(cpu * 10_000.0 / 1e9 * 100.0)
        ));
    }
    wake(out, "the same CPU", &floors.wake_same_cpu);
    if let (Some(cross), Some(same)) = (floors.wake_cross_cpu, floors.wake_same_cpu) {
        out.push_str(
            "\nThe two wake-ups can differ by orders of magnitude on a virtual machine, \
             where waking a vCPU that went idle goes through the hypervisor; an \
             event-driven transport cannot beat the one its processes meet",
        );
        match ratio(cross.p50, same.p50) {
            Some(r) => out.push_str(&format!(
                ". Here the cross-CPU p50 is {} the same-CPU p50.\n",
                times(r)
            )),
            None => out.push_str(".\n"),
        }
    }
    out.push('\n');
}

/// The main table: one table per message size, one line per transport.
fn rows(out: &mut String, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "## Latency and throughput\n\n\
         One table per message size. Latency is one-way; msg/s and MB/s are those of a \
         stream; CPU is CPU seconds of both processes per million messages. \"vs baseline\" \
         is the p50 latency (lower is better) and the msg/s (higher is better) over those \
         of the raw baseline named; \"vs iceoryx2\" is the p50 over iceoryx2's. The floor \
         is the cache line's one-way ns before→after the ping-pong / the stream.\n\n",
    );
    let mut sizes: Vec<usize> = rows.iter().map(|row| row.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut moved = false;
    let mut retried = false;
    for size_bytes in sizes {
        out.push_str(&format!("### {} messages\n\n", size(size_bytes)));
        let lines: Vec<Vec<String>> = rows
            .iter()
            .filter(|row| row.size == size_bytes)
            .map(|row| {
                let spans = [row.latency_floor, row.stream_floor];
                moved |= spans.iter().flatten().any(|span| !span.settled);
                retried |= spans.iter().flatten().any(|span| span.attempts > 1);
                let latency = row.latency;
                let stream = row.stream;
                vec![
                    row.transport.clone(),
                    family(row.family).to_owned(),
                    latency.map_or_else(dash, |p| duration(p.p50)),
                    latency.map_or_else(dash, |p| duration(p.p99)),
                    latency.map_or_else(dash, |p| duration(p.p999)),
                    latency.map_or_else(dash, |p| duration(p.max)),
                    stream.map_or_else(dash, |s| rate(s.messages_per_sec)),
                    stream.map_or_else(dash, |s| significant(s.mb_per_sec)),
                    stream.map_or_else(dash, |s| significant(s.cpu_s_per_million)),
                    versus_baseline(row),
                    row.latency_vs_iceoryx2.map_or_else(dash, times),
                    floor_pair(row.latency_floor, row.stream_floor),
                ]
            })
            .collect();
        table(
            out,
            &[
                "transport",
                "family",
                "p50",
                "p99",
                "p99.9",
                "max",
                "msg/s",
                "MB/s",
                "CPU s/M msgs",
                "vs baseline",
                "vs iceoryx2",
                "floor before→after, ns",
            ],
            &lines,
        );
    }
    footnotes(out, moved, retried);
}

/// Footnotes of the marks in floor columns.
fn footnotes(out: &mut String, moved: bool, retried: bool) {
    if moved {
        out.push_str(
            "† The floor moved by more than 25% around this measurement on every attempt: \
             its figures are shown, but no ratio is computed from them.\n\n",
        );
    }
    if retried {
        out.push_str(
            "(n tries): the floor moved during the earlier attempts, and the row was run \
             again.\n\n",
        );
    }
}

/// The "vs baseline" cell: "p50 x1.07, msg/s x0.95 (raw mailbox)".
fn versus_baseline(row: &Row) -> String {
    let Some(baseline) = &row.baseline else {
        return dash();
    };
    let mut parts = Vec::new();
    if let Some(r) = row.latency_vs_baseline {
        parts.push(format!("p50 {}", times(r)));
    }
    if let Some(r) = row.stream_vs_baseline {
        parts.push(format!("msg/s {}", times(r)));
    }
    if parts.is_empty() {
        format!("not compared ({baseline})")
    } else {
        format!("{} ({baseline})", parts.join(", "))
    }
}

/// Blocking transports: a steady stream, and idle.
fn blocking(out: &mut String, results: &Results) {
    if results.blocking.is_empty() {
        return;
    }
    out.push_str(
        "## Blocking transports: a steady stream, and idle\n\n\
         Latency is one-way, of messages sent one per period; idle CPU is that of both \
         processes while nothing is sent, in percent of one CPU.\n\n",
    );
    let lines: Vec<Vec<String>> = results
        .blocking
        .iter()
        .map(|row| {
            vec![
                row.transport.clone(),
                family(row.family).to_owned(),
                size(row.size),
                duration(row.period_ns as f64),
                duration(row.steady.p50),
                duration(row.steady.p99),
                duration(row.steady.max),
                format!("{:.2} %", row.idle_cpu_percent),
            ]
        })
        .collect();
    table(
        out,
        &[
            "transport",
            "family",
            "size",
            "period",
            "steady p50",
            "steady p99",
            "steady max",
            "idle CPU",
        ],
        &lines,
    );
}

/// One publisher, N subscriber processes, at each rate; then one subscriber under each
/// wait preset.
fn fanout(out: &mut String, results: &Results) {
    let wake = results.floors.wake_up_p50_ns();
    if !results.fanout.is_empty() {
        out.push_str(
            "## Fan-out: one publisher, N subscriber processes\n\n\
             The publisher paces messages to the rate asked (sleeping through gaps over \
             50 µs, spinning through shorter ones, sending at once when behind); the \
             subscribers, all on the CPU the publisher is not on, block while there is \
             nothing to read, and check every message.\n\n",
        );
        out.push_str(FANOUT_COLUMNS);
        fanout_table(out, &results.fanout, wake, "transport", |r| {
            r.transport.clone()
        });
    }
    if !results.remote.is_empty() {
        out.push_str(
            "## Beyond one machine: the Zenoh bridge and plain Zenoh\n\n\
             **ipclane pub/sub bridged through Zenoh**: the publisher writes an ipclane \
             feed; an outbound bridge (`ipclane_zenoh::Bridge::out`, in the publisher's \
             process) forwards each record to Zenoh over TCP; an inbound bridge process on \
             the other host (another network namespace joined by a veth pair when the run \
             is root, else loopback) publishes it into a feed there, which the subscriber \
             process reads. **Zenoh pub/sub**: the peer a user might pick instead, \
             between two local processes over TCP on loopback, reliable and blocking on \
             congestion as the bridge is. One subscriber, every message written and \
             checked; at 1,000,000 a second the feed is past what either carries, and \
             delivered/s is its throughput. The bridged feed's missed records are the \
             gaps its subscriber found (a feed published by the inbound bridge has none to \
             tell it of as `Lagged`: the bridges count them, in their stats and log); \
             Zenoh holds the publisher back instead. Neither bridge's CPU is in the \
             columns: the outbound one runs on threads of the publisher's process, not the \
             publishing thread, the inbound one in a process of its own. The bridged row's \
             name says which way it went. The columns are the fan-out's.\n\n",
        );
        fanout_table(out, &results.remote, wake, "feed", |r| r.transport.clone());
    }
    if !results.presets.is_empty() {
        out.push_str(
            "## Wait presets: one ipclane subscriber\n\n\
             One ipclane pub/sub subscriber under each of ipclane's wait presets \
             (`WaitStrategy::low_latency()`, `balanced()` (the default), `efficient()`, \
             `busy_poll()`), at each rate; the columns are the fan-out's.\n\n",
        );
        fanout_table(out, &results.presets, wake, "wait preset", |r| {
            r.wait.clone().unwrap_or_else(dash)
        });
    }
}

/// What the fan-out tables' columns mean.
const FANOUT_COLUMNS: &str = "Sent/s is the publisher's rate; delivered/s the \
messages received a second, all subscribers together. Latency is one-way, from each message's own send time, \
per subscriber, all subscribers' latencies together; worst p99 is the worst subscriber's; \
p50/wake-up is the p50 over the p50 of the wake-up floor (a sleeper on the other CPU). \
Subscriber CPU is each subscriber process's CPU time from its first message to the stop, \
in percent of that time. Publisher in send is the wall time inside the publish calls, and \
publisher CPU the publishing thread's CPU time less the time it spun on the clock for its \
pacing, each in percent of the time spent publishing; a write is one publish call (one \
message to every subscriber). Most sends says whether most messages were sent after a \
sleep, after a spin, or back to back (already due: the publisher could not keep up, or \
caught up after a stall). Missed counts messages published that some subscriber never \
saw; told, those ipclane's subscribers were told they missed (`Lagged`), which must be all \
of them.\n\n";

/// One fan-out table, each row named by `name` in the first column (`first`).
fn fanout_table(
    out: &mut String,
    rows: &[FanoutRow],
    wake: Option<f64>,
    first: &str,
    name: impl Fn(&FanoutRow) -> String,
) {
    let mut moved = false;
    let mut retried = false;
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            moved |= !row.floor.settled;
            retried |= row.floor.attempts > 1;
            vec![
                name(row),
                family(row.family).to_owned(),
                size(row.size),
                rate(row.rate as f64),
                row.subscribers.to_string(),
                rate(row.achieved_per_sec),
                rate(row.delivered_per_sec),
                pacing(row.pacing).to_owned(),
                duration(row.latency.p50),
                duration(row.latency.p99),
                duration(row.latency.p999),
                duration(row.worst_p99_ns),
                wake_ups(row, wake),
                percent(row.subscriber_cpu_mean_percent),
                percent(row.subscriber_cpu_max_percent),
                percent(row.publisher_in_send_percent),
                percent(row.publisher_cpu_percent),
                duration(row.write_mean_ns),
                duration(row.write_p99_ns),
                missed(row),
                row.worst_missed.to_string(),
                row.announced.map_or_else(dash, |n| n.to_string()),
                floor(&row.floor),
            ]
        })
        .collect();
    table(
        out,
        &[
            first,
            "family",
            "size",
            "rate",
            "subscribers",
            "sent/s",
            "delivered/s",
            "most sends",
            "p50",
            "p99",
            "p99.9",
            "worst p99",
            "p50/wake-up",
            "subscriber CPU mean",
            "subscriber CPU max",
            "publisher in send",
            "publisher CPU (less pacing spin)",
            "write mean",
            "write p99",
            "missed",
            "worst subscriber missed",
            "told",
            "floor before→after, ns",
        ],
        &lines,
    );
    footnotes(out, moved, retried);
}

/// A request through a local proxy.
fn proxy(out: &mut String, results: &Results) {
    if results.proxy.is_empty() {
        return;
    }
    out.push_str(
        "## Proxy: client → sidecar → backend\n\n\
         The client's round trip through the sidecar to the backend and back, both hops \
         over the transport named; CPU is that of the three processes per million \
         requests.\n\n",
    );
    let mut moved = false;
    let mut retried = false;
    let lines: Vec<Vec<String>> = results
        .proxy
        .iter()
        .map(|row| {
            moved |= !row.floor.settled;
            retried |= row.floor.attempts > 1;
            vec![
                row.transport.clone(),
                size(row.size),
                duration(row.round_trip.p50),
                duration(row.round_trip.p99),
                duration(row.round_trip.p999),
                duration(row.round_trip.max),
                significant(row.cpu_s_per_million),
                floor(&row.floor),
            ]
        })
        .collect();
    table(
        out,
        &[
            "transport",
            "size",
            "round trip p50",
            "p99",
            "p99.9",
            "max",
            "CPU s/M requests",
            "floor before→after, ns",
        ],
        &lines,
    );
    footnotes(out, moved, retried);
}

/// The targets, one PASS or FAIL line each.
fn targets(out: &mut String, results: &Results) {
    if results.targets.is_empty() {
        return;
    }
    let held = results.targets.iter().filter(|t| t.pass).count();
    out.push_str(&format!(
        "## Targets\n\n{held} of {} held.\n\n",
        results.targets.len()
    ));
    for target in &results.targets {
        let verdict = if target.pass { "PASS" } else { "FAIL" };
        let measured = target_figure(target)
            .unwrap_or_else(|| "not computed (no two rows on a settled floor)".to_owned());
        out.push_str(&format!(
            "- **{verdict}** {}: {measured}\n",
            cell(&target.check)
        ));
    }
    out.push('\n');
}

/// The ratios behind the "vs" columns and the targets: each pair of rows measured back to
/// back in rounds, the median of the rounds whose floor held, and their spread.
fn pairs(out: &mut String, results: &Results) {
    if results.pairs.is_empty() {
        return;
    }
    out.push_str(
        "## Ratios, measured back to back\n\n\
         Each ratio compares two rows measured one right after the other, between a floor \
         measurement before and one after, in rounds; a round whose floor moved by more \
         than 25% is dropped. The ratio is the median of the rounds kept. Latency ratios \
         are p50 over p50 (lower is better for the first row), stream ratios msg/s over \
         msg/s (higher is better).\n\n",
    );
    let lines: Vec<Vec<String>> = results
        .pairs
        .iter()
        .map(|p| {
            vec![
                p.ours.clone(),
                p.base.clone(),
                size(p.size),
                match p.metric {
                    Metric::Latency => "p50 latency".to_owned(),
                    Metric::Stream => "stream msg/s".to_owned(),
                },
                p.ratio.map_or_else(dash, times),
                p.spread
                    .map_or_else(dash, |(lo, hi)| format!("{}–{}", times(lo), times(hi))),
                p.rounds.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "row",
            "against",
            "size",
            "figure",
            "ratio",
            "spread",
            "rounds kept",
        ],
        &lines,
    );
}

/// A markdown table: header, separator, one line per row.
fn table(out: &mut String, header: &[&str], lines: &[Vec<String>]) {
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
    for line in lines {
        let cells: Vec<String> = line.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

/// Text safe in a table cell or a list line: pipes escaped, line breaks as spaces.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Inline code, fenced with more backticks than the text holds in a row.
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest > 0 {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Both floors of a row, ping-pong then stream: "45→46 / 45→47".
fn floor_pair(latency: Option<FloorSpan>, stream: Option<FloorSpan>) -> String {
    match (latency, stream) {
        (None, None) => dash(),
        (Some(l), None) => floor(&l),
        (None, Some(s)) => format!("– / {}", floor(&s)),
        (Some(l), Some(s)) => format!("{} / {}", floor(&l), floor(&s)),
    }
}

/// `a / b` when both are finite and `b` is positive.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && b > 0.0).then(|| a / b)
}

/// Seconds since the Unix epoch as "YYYY-MM-DD HH:MM" (UTC).
fn utc_minute(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX / 2);
    let minutes = unix % 86_400 / 60;
    // Days to a civil date (the proleptic Gregorian calendar), after Howard Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compare::results::Family;
    use crate::compare::results::sample::sample;

    fn fresh_dir(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "ipclane-bench-report-{name}-{}-{nanos}",
            std::process::id()
        ))
    }

    #[test]
    fn write_makes_the_folder() {
        let results = sample();
        let dir = fresh_dir("write").join("nested");
        let paths = write(&results, &dir).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for name in [
            "report.md",
            "results.json",
            "latency.svg",
            "throughput.svg",
            "fanout.svg",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
            assert!(dir.join(name).is_file(), "{name}");
        }
        for path in &paths {
            assert!(path.is_file(), "{}", path.display());
        }
        for (chart, transports) in [
            (
                "latency.svg",
                results
                    .rows
                    .iter()
                    .map(|r| r.transport.as_str())
                    .collect::<Vec<_>>(),
            ),
            (
                "throughput.svg",
                results.rows.iter().map(|r| r.transport.as_str()).collect(),
            ),
            (
                "fanout.svg",
                results
                    .fanout
                    .iter()
                    .map(|r| r.transport.as_str())
                    .collect(),
            ),
        ] {
            let svg = std::fs::read_to_string(dir.join(chart)).unwrap();
            assert!(
                svg.starts_with("<svg") || svg.starts_with("<?xml"),
                "{chart}"
            );
            for transport in transports {
                assert!(svg.contains(transport), "{transport} in {chart}");
            }
        }
        let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(report.contains("![latency](latency.svg)"));
        assert!(report.contains("![fanout](fanout.svg)"));

        let json = std::fs::read_to_string(dir.join("results.json")).unwrap();
        let back: Results = serde_json::from_str(&json).unwrap();
        assert_eq!(back.rows.len(), results.rows.len());
        assert_eq!(back.fanout.len(), results.fanout.len());
        assert_eq!(back.machine.cpu, results.machine.cpu);
        assert_eq!(back.rows[0].family, Family::Ipclane);

        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn write_json_names_the_path_on_error() {
        let path = fresh_dir("missing").join("results.json");
        let error = write_json(&sample(), &path).unwrap_err();
        assert!(error.to_string().contains("results.json"), "{error}");
    }

    #[test]
    fn markdown_holds_the_run() {
        let mut results = sample();
        let md = markdown(&results, &["latency.svg".to_owned()]);
        assert!(md.contains("AMD EPYC 7B13 64-Core Processor"));
        assert!(md.contains("2023-11-14 22:13 UTC"));
        for transport in results
            .rows
            .iter()
            .map(|r| &r.transport)
            .chain(results.fanout.iter().map(|r| &r.transport))
            .chain(results.blocking.iter().map(|r| &r.transport))
            .chain(results.proxy.iter().map(|r| &r.transport))
            .chain(results.remote.iter().map(|r| &r.transport))
        {
            assert!(md.contains(transport.as_str()), "{transport}");
        }
        assert!(
            md.contains("- **PASS** ipclane shm busy-poll p50 <= 1.3x raw mailbox at 64 B: x1.07")
        );
        assert!(md.contains("- **FAIL** ipclane shm busy-poll msg/s >= 0.9x"));
        assert!(md.contains("1 of 2 held."));
        assert!(md.contains("p50 x1.07, msg/s x0.95 (raw mailbox)"));
        assert!(md.contains("45→80†"));
        assert!(md.contains("(3 tries)"));
        assert!(md.contains("![latency](latency.svg)"));
        assert!(!md.contains("![fanout]"));
        assert!(md.contains("### 64 B messages"));
        assert!(md.contains("### 1 MiB messages"));
        assert!(md.contains("12 (0.012 %)"));
        assert!(md.contains("## Wait presets: one ipclane subscriber"));
        assert!(md.contains("| low-latency | ipclane |"));
        assert!(md.contains("| 64 B | 100 k/s | 4 | 99.9 k/s | 400 k/s | spins |"));
        assert!(md.contains("## Beyond one machine: the Zenoh bridge and plain Zenoh"));
        for r in &results.remote {
            assert!(
                md.contains(&format!("| {} |", r.transport)),
                "{}",
                r.transport
            );
        }
        assert!(md.contains("x20.00 the same-CPU p50"));
        assert!(md.contains("real processes"));
        assert!(!md.contains("Quick run"));
        // Every table line is well-formed: as many cells as its header.
        let mut columns = None;
        for line in md.lines() {
            if line.starts_with('|') {
                let cells = line.matches(" |").count();
                assert!(line.ends_with('|'), "{line}");
                match columns {
                    None => columns = Some(cells),
                    Some(n) => assert_eq!(n, cells, "{line}"),
                }
            } else {
                columns = None;
            }
        }

        results.machine.quick = true;
        let md = markdown(&results, &[]);
        assert!(md.contains("**Quick run: it checks integrity"));
        assert!(!md.contains("## Charts"));
    }

    #[test]
    fn empty_sections_are_left_out() {
        let md = markdown(&Results::default(), &[]);
        for section in [
            "## Floors",
            "## Latency",
            "## Blocking",
            "## Fan-out",
            "## Beyond one machine",
            "## Proxy",
            "## Targets",
            "## Charts",
            "Started",
        ] {
            assert!(!md.contains(section), "{section}");
        }
        assert!(md.contains("## Machine"));
        assert!(md.contains("## How these figures were measured"));
    }

    #[test]
    fn markdown_escapes() {
        assert_eq!(code("a `b`"), "`` a `b` ``");
        assert_eq!(cell("a|b"), "a\\|b");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(utc_minute(4_107_542_399), "2100-02-28 23:59");
    }
}
