//! The run printed as aligned tables: the machine and its floors, one table per message
//! size, the blocking, fan-out and proxy tables, and the targets as PASS/FAIL lines.

use std::fmt::Write;

use super::format::{dash, duration, missed, percent, rate, size, target_figure, times, wake_ups};
use super::results::{FanoutRow, FloorSpan, Results};

/// Columns laid out to their widest cell: the first left-aligned, the rest right.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                let _ = write!(out, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for row in rows {
        line(&mut out, &mut row.iter().map(String::as_str));
    }
    out
}

/// A ratio cell, or a dash when there is none.
fn ratio(r: Option<f64>) -> String {
    r.map_or_else(dash, times)
}

/// A floor cell, or a dash when there is none.
fn floor(f: Option<FloorSpan>) -> String {
    f.map_or_else(dash, |f| super::format::floor(&f))
}

/// A fan-out table: one line per row, named by `name`.
fn fanout(
    title: &str,
    rows: &[FanoutRow],
    wake: Option<f64>,
    name: impl Fn(&FanoutRow) -> String,
) -> String {
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|f| {
            vec![
                name(f),
                rate(f.rate as f64),
                f.subscribers.to_string(),
                rate(f.achieved_per_sec),
                rate(f.delivered_per_sec),
                duration(f.latency.p50),
                duration(f.latency.p99),
                duration(f.latency.p999),
                duration(f.worst_p99_ns),
                wake_ups(f, wake),
                format!(
                    "{}/{}",
                    percent(f.subscriber_cpu_mean_percent),
                    percent(f.subscriber_cpu_max_percent)
                ),
                format!(
                    "{}/{}",
                    percent(f.publisher_in_send_percent),
                    percent(f.publisher_cpu_percent)
                ),
                format!("{}/{}", duration(f.write_mean_ns), duration(f.write_p99_ns)),
                missed(f),
                floor(Some(f.floor)),
            ]
        })
        .collect();
    aligned(
        &[
            title,
            "rate",
            "subs",
            "sent/s",
            "delivered/s",
            "p50",
            "p99",
            "p99.9",
            "worst p99",
            "p50/wake",
            "sub CPU",
            "pub",
            "write",
            "missed",
            "floor",
        ],
        &lines,
    )
}

/// The whole run as text.
pub fn render(results: &Results) -> String {
    let m = &results.machine;
    let mut out = format!(
        "ipclane-bench: {}, {} CPUs, Linux {}; processes {}\n",
        m.cpu, m.cpus, m.kernel, m.placement
    );
    if m.quick {
        out.push_str("quick run: every message checked; too few for figures worth quoting\n");
    }
    if let Some(steal) = m.steal_percent {
        let _ = writeln!(
            out,
            "hypervisor steal during the run: {} of the CPUs' time (stalls of milliseconds in every tail)",
            percent(steal)
        );
    }
    let f = &results.floors;
    let _ = write!(
        out,
        "floors: a cache line crosses between the CPUs in {} one-way",
        duration(f.cache_line_ns)
    );
    for (what, wake) in [
        ("the other CPU", f.wake_cross_cpu),
        ("the same CPU", f.wake_same_cpu),
    ] {
        if let Some(w) = wake {
            let _ = write!(
                out,
                "; waking a sleeper from {what}: p50 {} p99 {}",
                duration(w.p50),
                duration(w.p99)
            );
        }
    }
    if let Some(cpu) = f.sleeper_cpu_per_wake_ns {
        let _ = write!(
            out,
            "; each cross-CPU sleep and wake-up costs the sleeper {} of CPU",
            duration(cpu)
        );
    }
    out.push('\n');
    let mut sizes: Vec<usize> = results.rows.iter().map(|r| r.size).collect();
    sizes.dedup();
    for s in sizes {
        let rows: Vec<Vec<String>> = results
            .rows
            .iter()
            .filter(|r| r.size == s)
            .map(|r| {
                let l = r.latency;
                let cell = |v: Option<f64>| v.map_or("-".to_owned(), duration);
                let st = r.stream;
                vec![
                    r.transport.clone(),
                    cell(l.map(|l| l.p50)),
                    cell(l.map(|l| l.p99)),
                    cell(l.map(|l| l.p999)),
                    cell(l.map(|l| l.max)),
                    st.map_or("-".to_owned(), |t| rate(t.messages_per_sec)),
                    st.map_or("-".to_owned(), |t| format!("{:.0}", t.mb_per_sec)),
                    st.map_or("-".to_owned(), |t| format!("{:.2}", t.cpu_s_per_million)),
                    ratio(r.latency_vs_baseline),
                    ratio(r.stream_vs_baseline),
                    ratio(r.latency_vs_iceoryx2),
                    floor(r.latency_floor),
                    floor(r.stream_floor),
                ]
            })
            .collect();
        let _ = write!(
            out,
            "\n{}\n",
            aligned(
                &[
                    &format!("{} messages", size(s)),
                    "p50",
                    "p99",
                    "p99.9",
                    "max",
                    "msg/s",
                    "MB/s",
                    "CPU s/M",
                    "p50/raw",
                    "rate/raw",
                    "p50/iox2",
                    "floor (ping)",
                    "floor (stream)",
                ],
                &rows,
            )
        );
    }
    if !results.blocking.is_empty() {
        let rows: Vec<Vec<String>> = results
            .blocking
            .iter()
            .map(|b| {
                vec![
                    b.transport.clone(),
                    duration(b.steady.p50),
                    duration(b.steady.p99),
                    duration(b.steady.max),
                    format!("{:.1}%", b.idle_cpu_percent),
                ]
            })
            .collect();
        let b = &results.blocking[0];
        let _ = write!(
            out,
            "\n{}\n",
            aligned(
                &[
                    &format!(
                        "steady stream: {} every {}",
                        size(b.size),
                        duration(b.period_ns as f64)
                    ),
                    "p50",
                    "p99",
                    "max",
                    "idle CPU",
                ],
                &rows,
            )
        );
    }
    let wake = results.floors.wake_up_p50_ns();
    if let Some(first) = results.fanout.first() {
        let title = format!("fan-out of {}", size(first.size));
        let _ = write!(
            out,
            "\n{}",
            fanout(&title, &results.fanout, wake, |r| r.transport.clone())
        );
    }
    if !results.presets.is_empty() {
        let title = "one ipclane subscriber, wait preset";
        let _ = write!(
            out,
            "\n{}",
            fanout(title, &results.presets, wake, |r| {
                r.wait.clone().unwrap_or_else(dash)
            })
        );
    }
    if !results.remote.is_empty() {
        let _ = write!(
            out,
            "\n{}",
            fanout(
                "beyond one machine: one subscriber on the other host (Zenoh bridge) or \
                 process (Zenoh)",
                &results.remote,
                wake,
                |r| format!("{} {}", r.transport, size(r.size))
            )
        );
    }
    if !results.fanout.is_empty() || !results.presets.is_empty() || !results.remote.is_empty() {
        let _ = writeln!(
            out,
            "delivered/s: messages received, all subscribers together; p50/wake: p50 over \
             the wake-up floor's p50 ({}); sub CPU: each subscriber's \
             process from its first message to the stop, mean/max; pub: wall time in the \
             publish calls / the publishing thread's CPU less its pacing spin, of the time \
             spent publishing; write: time in one publish call, mean/p99",
            wake.map_or_else(dash, duration)
        );
    }
    if !results.proxy.is_empty() {
        let rows: Vec<Vec<String>> = results
            .proxy
            .iter()
            .map(|p| {
                vec![
                    p.transport.clone(),
                    duration(p.round_trip.p50),
                    duration(p.round_trip.p99),
                    duration(p.round_trip.p999),
                    format!("{:.2}", p.cpu_s_per_million),
                    floor(Some(p.floor)),
                ]
            })
            .collect();
        let _ = write!(
            out,
            "\n{}\n",
            aligned(
                &[
                    &format!("request through a sidecar, {}", size(results.proxy[0].size)),
                    "round trip p50",
                    "p99",
                    "p99.9",
                    "CPU s/M",
                    "floor",
                ],
                &rows,
            )
        );
    }
    if !results.pairs.is_empty() {
        let kept: usize = results.pairs.iter().map(|p| p.rounds).sum();
        let _ = writeln!(
            out,
            "\nratios (p50/raw, rate/raw, p50/iox2 and the targets): each pair of rows measured \
             again back to back, the median of the rounds whose floor held ({kept} rounds kept \
             over {} pairs; report.md lists each)",
            results.pairs.len()
        );
    }
    if !results.targets.is_empty() {
        out.push('\n');
        for t in &results.targets {
            let _ = writeln!(
                out,
                "{} {}: {}",
                if t.pass { "PASS" } else { "FAIL" },
                t.check,
                target_figure(t).unwrap_or_else(|| "no pair on one floor".to_owned())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fanout_and_preset_tables_show_every_row() {
        let results = crate::compare::results::sample::sample();
        let text = render(&results);
        assert!(text.contains("fan-out of 64 B"));
        assert!(text.contains("one ipclane subscriber, wait preset"));
        assert!(text.contains("beyond one machine"));
        assert!(text.contains("Zenoh pub/sub (tcp, peers) 64 B"));
        assert!(text.contains("delivered/s"));
        for wait in ["low-latency", "efficient"] {
            assert!(text.contains(wait), "{wait}");
        }
        // p50 over the wake-up floor's (40 µs): 600 ns to two subscribers.
        assert!(text.contains("x0.015"));
        assert!(text.contains("p50/wake: p50 over the wake-up floor's p50 (40.0 µs)"));
    }

    #[test]
    fn columns_line_up() {
        let text = aligned(
            &["name", "p50"],
            &[
                vec!["a".into(), "152 ns".into()],
                vec!["longer name".into(), "9 ns".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name            p50");
        assert_eq!(lines[1], "a            152 ns");
        assert_eq!(lines[2], "longer name    9 ns");
    }
}
