//! The comparison's command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};

use super::transport::Transport;
use crate::cpu::Placement;

/// Shared memory or Unix sockets, and what does each cost here? Measures every ipclane
/// transport between real processes, beside the machine's floor, raw baselines and the
/// libraries a user would pick instead, all in one run; prints a table and writes a
/// report folder (report.md, results.json, SVG charts).
#[derive(Debug, Clone, Parser)]
#[command(name = "ipclane-bench", version)]
#[command(group(ArgGroup::new("placement").args(["pin", "same_cpu", "no_pin"])))]
pub struct Args {
    /// A short run (under 20 seconds) that checks every transport delivers every message
    /// whole; its figures are not worth quoting.
    #[arg(long)]
    pub quick: bool,
    /// Transports to measure, by id or group (`shm`, `raw`, `iceoryx2`, `all`):
    /// shm-busy, shm-blocking, unix, seqpacket, tcp, raw-mailbox, raw-futex, raw-ring,
    /// raw-unix, raw-pipe, raw-tcp, iceoryx2-busy, iceoryx2-event, ipc-channel. The raw
    /// baseline of each ipclane transport chosen is measured too.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub transports: Vec<String>,
    /// Message sizes (`64`, `1KiB`, `64KiB`, `1MiB`; multiples of 8 bytes, at least 64).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    pub sizes: Vec<usize>,
    /// How long each measurement records, after a warm-up of a fifth of it (`500ms`,
    /// `2s`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Pin the two sides of each measurement to two distinct CPUs (the default).
    #[arg(long)]
    pub pin: bool,
    /// Pin both sides to the same CPU (they take turns).
    #[arg(long)]
    pub same_cpu: bool,
    /// Do not pin: the scheduler places the processes.
    #[arg(long)]
    pub no_pin: bool,
    /// Subscriber counts of the fan-out, 1 to 16 (default 1,2,4,8,16; quick: 1,4).
    #[arg(
        long = "fanout-subscribers",
        visible_alias = "subscribers",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u16).range(1..=16)
    )]
    pub subscribers: Vec<u16>,
    /// Publishing rates of the fan-out and the wait presets, messages a second (`1000`,
    /// `10k`, `1M`; default 1k,10k,100k,1M; quick: 10k).
    #[arg(long = "fanout-rates", value_delimiter = ',', value_parser = parse_rate)]
    pub rates: Vec<u64>,
    /// Workloads to run: latency, stream, blocking, fanout, presets (one ipclane
    /// subscriber under each wait preset), proxy, remote (beyond one machine: the Zenoh
    /// bridge and plain Zenoh) (all by default).
    #[arg(long, value_delimiter = ',', value_parser = ["latency", "stream", "blocking", "fanout", "presets", "proxy", "remote"])]
    pub workloads: Vec<String>,
    /// Also write results.json to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The report folder.
    #[arg(long, default_value = "target/ipclane-report")]
    pub out: PathBuf,
}

/// The default message sizes.
pub const SIZES: [usize; 4] = [64, 1 << 10, 64 << 10, 1 << 20];
/// The default sizes of a quick run.
pub const QUICK_SIZES: [usize; 2] = [64, 64 << 10];
/// The fan-out's default subscriber counts.
pub const SUBSCRIBERS: [usize; 5] = [1, 2, 4, 8, 16];
/// Those of a quick run.
pub const QUICK_SUBSCRIBERS: [usize; 2] = [1, 4];
/// The fan-out's default rates, messages a second.
pub const RATES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Those of a quick run.
pub const QUICK_RATES: [u64; 1] = [10_000];
/// Messages a fan-out row publishes at least, for a p99.9 worth reading (a quick run:
/// a tenth).
pub const FANOUT_MESSAGES: u64 = 2_000;
/// How long a fan-out row publishes at least (a quick run: a tenth).
pub const FANOUT_DURATION: Duration = Duration::from_millis(500);

impl Args {
    /// The transports chosen, in the table's order, with the baselines of the ipclane
    /// ones.
    ///
    /// # Errors
    ///
    /// For a word that names no transport.
    pub fn chosen_transports(&self) -> Result<Vec<Transport>, String> {
        let mut chosen = Vec::new();
        for word in &self.transports {
            let matched = Transport::matching(word.trim());
            if matched.is_empty() {
                return Err(format!("no transport is called {word:?}"));
            }
            chosen.extend(matched);
        }
        let baselines: Vec<Transport> = chosen.iter().filter_map(|t| t.baseline()).collect();
        chosen.extend(baselines);
        Ok(Transport::ALL
            .into_iter()
            .filter(|t| chosen.contains(t))
            .collect())
    }

    /// The sizes chosen.
    pub fn chosen_sizes(&self) -> Vec<usize> {
        match (self.sizes.is_empty(), self.quick) {
            (false, _) => self.sizes.clone(),
            (true, false) => SIZES.to_vec(),
            (true, true) => QUICK_SIZES.to_vec(),
        }
    }

    /// The fan-out's subscriber counts.
    pub fn chosen_subscribers(&self) -> Vec<usize> {
        match (self.subscribers.is_empty(), self.quick) {
            (false, _) => self.subscribers.iter().map(|&n| usize::from(n)).collect(),
            (true, false) => SUBSCRIBERS.to_vec(),
            (true, true) => QUICK_SUBSCRIBERS.to_vec(),
        }
    }

    /// The rates of the fan-out and the wait presets.
    pub fn chosen_rates(&self) -> Vec<u64> {
        match (self.rates.is_empty(), self.quick) {
            (false, _) => self.rates.clone(),
            (true, false) => RATES.to_vec(),
            (true, true) => QUICK_RATES.to_vec(),
        }
    }

    /// How long a fan-out row at `rate` publishes: `--duration` if given, else
    /// [`FANOUT_DURATION`], and at least long enough for [`FANOUT_MESSAGES`] (a tenth of
    /// each in a quick run).
    pub fn fanout_duration(&self, rate: u64) -> Duration {
        let scale = if self.quick { 10 } else { 1 };
        let least = self.duration.unwrap_or(FANOUT_DURATION / scale);
        let messages = FANOUT_MESSAGES / u64::from(scale);
        least.max(Duration::from_secs_f64(
            messages as f64 / rate.max(1) as f64,
        ))
    }

    /// Whether `workload` runs.
    pub fn runs(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload)
    }

    /// How long each measurement records.
    pub fn measure(&self) -> Duration {
        self.duration.unwrap_or(if self.quick {
            Duration::from_millis(25)
        } else {
            Duration::from_millis(300)
        })
    }

    /// Where the processes run.
    pub fn placement(&self) -> Placement {
        if self.no_pin {
            Placement::Unpinned
        } else if self.same_cpu {
            Placement::distinct()
                .first()
                .map_or(Placement::Unpinned, Placement::SameCpu)
        } else {
            Placement::distinct()
        }
    }
}

/// A size: bytes, or with a `KiB`/`MiB` suffix.
///
/// # Errors
///
/// For anything else, or a size a stamped message cannot have.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{s:?} is no size (64, 1KiB, 64KiB, 1MiB)"))?;
    let bytes = match unit.trim() {
        "" | "B" => n,
        "K" | "KiB" => n << 10,
        "M" | "MiB" => n << 20,
        other => return Err(format!("{other:?} is no unit (B, KiB, MiB)")),
    };
    if bytes < 64 || !bytes.is_multiple_of(crate::integrity::WORD) || bytes > 64 << 20 {
        return Err(format!(
            "{s}: a message is 64 bytes to 64 MiB, a multiple of 8"
        ));
    }
    Ok(bytes)
}

/// A rate, messages a second: `1000`, `10k`, `1M` (1 to 10M).
///
/// # Errors
///
/// For anything else.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is no rate (1000, 10k, 1M; up to 10M)");
    let (digits, scale) = match s.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1_000),
        None => match s.strip_suffix('M') {
            Some(digits) => (digits, 1_000_000),
            None => (s, 1),
        },
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    let rate = n.checked_mul(scale).ok_or_else(bad)?;
    if !(1..=10_000_000).contains(&rate) {
        return Err(bad());
    }
    Ok(rate)
}

/// A duration: `250ms`, `2s`, `1.5s`.
///
/// # Errors
///
/// For anything else.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is no duration (250ms, 2s)");
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(secs) = s.strip_suffix('s') {
        (secs, 1.0)
    } else {
        return Err(bad());
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(value > 0.0 && value * scale <= 600.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_and_bad_ones_are_named() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("12").unwrap_err().contains("64 bytes"));
        assert!(parse_size("3GiB").unwrap_err().contains("unit"));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_rate("1000"), Ok(1_000));
        assert_eq!(parse_rate("10k"), Ok(10_000));
        assert_eq!(parse_rate("1M"), Ok(1_000_000));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("20M").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn the_fanout_grid_and_its_durations() {
        let args = Args::parse_from(["ipclane-bench"]);
        assert_eq!(args.chosen_subscribers(), SUBSCRIBERS);
        assert_eq!(args.chosen_rates(), RATES);
        assert_eq!(args.fanout_duration(1_000), Duration::from_secs(2));
        assert_eq!(args.fanout_duration(1_000_000), FANOUT_DURATION);
        let args = Args::parse_from(["ipclane-bench", "--quick"]);
        assert_eq!(args.chosen_subscribers(), QUICK_SUBSCRIBERS);
        assert_eq!(args.chosen_rates(), QUICK_RATES);
        assert_eq!(args.fanout_duration(10_000), Duration::from_millis(50));
        let args = Args::parse_from([
            "ipclane-bench",
            "--fanout-subscribers",
            "1,16",
            "--fanout-rates",
            "10k",
        ]);
        assert_eq!(args.chosen_subscribers(), [1, 16]);
        assert_eq!(args.chosen_rates(), [10_000]);
        let args = Args::parse_from(["ipclane-bench", "--subscribers", "2"]);
        assert_eq!(args.chosen_subscribers(), [2]);
    }

    #[test]
    fn a_chosen_ipclane_transport_brings_its_baseline() {
        let args = Args::parse_from(["ipclane-bench", "--transports", "unix,shm-busy"]);
        assert_eq!(
            args.chosen_transports().unwrap(),
            [
                Transport::ShmBusy,
                Transport::Unix,
                Transport::RawRing,
                Transport::RawUnix
            ]
        );
        let args = Args::parse_from(["ipclane-bench", "--transports", "smh"]);
        assert!(args.chosen_transports().unwrap_err().contains("smh"));
    }

    #[test]
    fn the_quick_run_is_short_and_placement_flags_exclude_each_other() {
        let args = Args::parse_from(["ipclane-bench", "--quick"]);
        assert_eq!(args.chosen_sizes(), QUICK_SIZES);
        assert!(args.measure() < Duration::from_millis(100));
        assert!(Args::try_parse_from(["ipclane-bench", "--pin", "--no-pin"]).is_err());
        assert!(Args::try_parse_from(["ipclane-bench", "--subscribers", "17"]).is_err());
    }
}
