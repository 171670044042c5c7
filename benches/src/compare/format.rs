//! How the table, `report.md` and the charts write a figure: durations, sizes, rates,
//! ratios, floors and families, one formatter each.

use super::results::{Family, FanoutRow, FloorSpan, Pacing, Target};

/// The table's mark for a missing value.
pub fn dash() -> String {
    "–".to_owned()
}

/// The family as the tables name it.
pub fn family(family: Family) -> &'static str {
    match family {
        Family::Ipclane => "ipclane",
        Family::Raw => "raw",
        Family::Peer => "peer",
    }
}

/// One floor span: "45→46", "45→80†" when it moved, "(3 tries)" after retries.
pub fn floor(span: &FloorSpan) -> String {
    let mut text = format!("{:.0}→{:.0}", span.before_ns, span.after_ns);
    if !span.settled {
        text.push('†');
    }
    if span.attempts > 1 {
        text.push_str(&format!(" ({} tries)", span.attempts));
    }
    text
}

/// A percentage: one decimal from 1% up ("45.6%", "3.2%"), two below ("0.22%").
pub fn percent(value: f64) -> String {
    if !value.is_finite() {
        dash()
    } else if value.abs() >= 1.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.2}%")
    }
}

/// How most of a fan-out publisher's messages were sent.
pub fn pacing(pacing: Pacing) -> &'static str {
    match pacing {
        Pacing::Sleeps => "sleeps",
        Pacing::Spins => "spins",
        Pacing::BackToBack => "back to back",
    }
}

/// The messages a fan-out row missed, with their share of all it should have delivered:
/// "12 (0.012 %)", or "0".
pub fn missed(row: &FanoutRow) -> String {
    let expected = row.published.saturating_mul(row.subscribers as u64);
    if row.missed > 0 && expected > 0 {
        format!(
            "{} ({:.3} %)",
            row.missed,
            row.missed as f64 * 100.0 / expected as f64
        )
    } else {
        row.missed.to_string()
    }
}

/// A fan-out row's p50 over the wake-up floor's p50 (`wake_ns`): "x0.62", or "–".
pub fn wake_ups(row: &FanoutRow, wake_ns: Option<f64>) -> String {
    wake_ns
        .filter(|w| *w > 0.0)
        .map_or_else(dash, |w| times(row.latency.p50 / w))
}

/// What a target measured: its own figure, or its ratio ("x1.07"); `None` when neither
/// could be computed.
pub fn target_figure(target: &Target) -> Option<String> {
    target.measured.clone().or_else(|| target.ratio.map(times))
}

/// A ratio as the tables write it: "x1.07" (three decimals below 0.1: "x0.004").
pub fn times(ratio: f64) -> String {
    if ratio.is_finite() && ratio < 0.1 {
        format!("x{ratio:.3}")
    } else if ratio.is_finite() {
        format!("x{ratio:.2}")
    } else {
        dash()
    }
}

/// A number to three significant figures ("0.0123", "1.23", "456", "12345").
pub fn significant(value: f64) -> String {
    if !value.is_finite() {
        return dash();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let mut exponent = value.abs().log10().floor() as i32;
    // 0.9996 rounds up to 1.00, not 1.000: one more digit before the point.
    if (value.abs() / 10f64.powi(exponent - 2)).round() >= 1000.0 {
        exponent += 1;
    }
    let decimals = usize::try_from(2 - exponent).unwrap_or(0).min(9);
    format!("{value:.decimals$}")
}

/// A duration given in nanoseconds, human-readably: ns below 10 µs ("152 ns"), µs
/// below 10 ms ("55.0 µs"), ms above ("12.3 ms"); "–" when not a number.
pub fn duration(ns: f64) -> String {
    if !ns.is_finite() {
        return dash();
    }
    let magnitude = ns.abs();
    if magnitude < 10_000.0 {
        format!("{ns:.0} ns")
    } else if magnitude < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// A size in bytes: "64 B", "1 KiB", "64 KiB", "1 MiB"; "1.5 KiB" when not a whole
/// number of units.
pub fn size(bytes: usize) -> String {
    const UNITS: [(usize, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{:.1} {name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes} B")
}

/// A rate per second to three significant figures: "1.23 M/s", "456 k/s", "12.0 /s";
/// "–" when not a number.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        return dash();
    }
    const UNITS: [(f64, &str); 4] = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")];
    let magnitude = per_sec.abs();
    for (index, (unit, name)) in UNITS.iter().enumerate() {
        if magnitude >= *unit || index == UNITS.len() - 1 {
            let scaled = per_sec / unit;
            let text = significant(scaled);
            // 999_999 rounds to "1000": written in the next unit up.
            if text.trim_start_matches('-').starts_with("1000") && index > 0 {
                let (up, up_name) = UNITS[index - 1];
                return format!("{} {up_name}/s", significant(per_sec / up));
            }
            return format!("{text} {name}/s");
        }
    }
    dash()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(152.0), "152 ns");
        assert_eq!(duration(9_999.0), "9999 ns");
        assert_eq!(duration(10_000.0), "10.0 µs");
        assert_eq!(duration(55_000.0), "55.0 µs");
        assert_eq!(duration(12_345_678.0), "12.3 ms");
        assert_eq!(duration(f64::NAN), "–");
        assert_eq!(size(64), "64 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(65536), "64 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(rate(1_234_567.0), "1.23 M/s");
        assert_eq!(rate(456_000.0), "456 k/s");
        assert_eq!(rate(999_999.0), "1.00 M/s");
        assert_eq!(rate(12.0), "12.0 /s");
        assert_eq!(rate(0.0), "0 /s");
        assert_eq!(rate(2.5e9), "2.50 G/s");
        assert_eq!(significant(0.012_34), "0.0123");
        assert_eq!(significant(456.7), "457");
        assert_eq!(significant(0.999_9), "1.00");
        assert_eq!(significant(9.996), "10.0");
        assert_eq!(times(1.066), "x1.07");
        assert_eq!(percent(45.63), "45.6%");
        assert_eq!(percent(0.224), "0.22%");
        assert_eq!(percent(f64::NAN), "–");
    }
}
