//! The machine's own limits, measured at the start of a run: how long a cache line takes
//! to cross between the two CPUs, and how long waking a process asleep in a futex takes,
//! on the other CPU and on the same one (on a virtual machine these differ by orders of
//! magnitude: an idle vCPU is halted by the hypervisor).

use std::time::Duration;

use super::results::{Floors, Machine, Percentiles};
use crate::cpu::{self, Placement};
use crate::endpoint;
use crate::floor;
use crate::peer::Launcher;
use crate::raw::FutexMailbox;
use crate::stats::Latencies;

/// The peer role that sends wake-ups (the queue targets' futex mailbox sender).
const FUTEX_SEND: &str = "futex-send";

/// Length of a wake-up message.
const WAKE_LEN: usize = 64;

/// Pause before each wake-up: long enough for the receiver to fall asleep.
const WAKE_GAP: Duration = Duration::from_micros(500);

/// The header of a run: the machine and how its processes were placed.
pub fn machine(placement: Placement, quick: bool) -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    Machine {
        cpu,
        cpus: cpu::allowed().len(),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        placement: placement.to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        seconds: 0.0,
        quick,
    }
}

/// Percentiles of `latencies`, in nanoseconds.
pub fn percentiles(latencies: &Latencies) -> Percentiles {
    let s = latencies.summary();
    let ns = |d: Duration| d.as_nanos() as f64;
    Percentiles {
        p50: ns(s.p50),
        p99: ns(s.p99),
        p999: ns(s.p999),
        max: ns(s.max),
        count: latencies.len(),
    }
}

/// Measures the floors: the cache line between the placement's two CPUs, and `wakes`
/// wake-ups of a sleeping receiver from the other CPU and from its own. The receiver is
/// the calling thread, which should be pinned to the placement's first CPU.
pub fn floors(launcher: &Launcher, placement: Placement, wakes: u64) -> Floors {
    let first = placement.first();
    Floors {
        cache_line_ns: floor::cache_line(placement).as_nanos() as f64,
        wake_cross_cpu: placement
            .second()
            .filter(|&cpu| Some(cpu) != first)
            .map(|cpu| percentiles(&wake_up(launcher, Some(cpu), wakes))),
        wake_same_cpu: first.map(|cpu| percentiles(&wake_up(launcher, Some(cpu), wakes))),
    }
}

/// One-way latencies of `count` wake-ups: this process sleeps on a futex mailbox, a peer
/// on `cpu` sends a message after each pause.
fn wake_up(launcher: &Launcher, cpu: Option<usize>, count: u64) -> Latencies {
    let name = format!("bench-{}-wake-{}", std::process::id(), cpu.unwrap_or(0));
    let mut rx = FutexMailbox::create(&name, WAKE_LEN);
    let args = [
        name.as_str(),
        &WAKE_LEN.to_string(),
        &count.to_string(),
        &WAKE_GAP.as_micros().to_string(),
    ];
    let peer = launcher.spawn(FUTEX_SEND, &args, cpu);
    let received = endpoint::receive_times(&mut rx, WAKE_LEN, count)
        .unwrap_or_else(|e| panic!("wake-ups: {e}"));
    let sent: Vec<u64> = peer
        .finish()
        .iter()
        .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
        .collect();
    assert_eq!(sent.len(), received.len(), "a send time per wake-up");
    endpoint::one_way(&sent, &received)
}
