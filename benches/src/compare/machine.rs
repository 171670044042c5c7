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
        steal_percent: None,
        quick,
    }
}

/// The CPUs' time so far and the part of it the hypervisor gave to other guests (steal),
/// in clock ticks, from /proc/stat; `None` where it cannot be read.
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest times are inside user).
    Some((fields.iter().take(8).sum(), *fields.get(7)?))
}

/// The steal between two [`cpu_ticks`] readings, percent of the CPUs' time.
pub fn steal_percent(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((total0, steal0), (total1, steal1)) = (before?, after?);
    let total = total1.checked_sub(total0).filter(|&t| t > 0)?;
    Some(steal1.saturating_sub(steal0) as f64 * 100.0 / total as f64)
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
    let cross = placement
        .second()
        .filter(|&cpu| Some(cpu) != first)
        .map(|cpu| wake_up(launcher, Some(cpu), wakes));
    Floors {
        cache_line_ns: floor::cache_line(placement).as_nanos() as f64,
        wake_cross_cpu: cross.as_ref().map(|(l, _)| percentiles(l)),
        sleeper_cpu_per_wake_ns: cross.as_ref().map(|&(_, cpu)| cpu),
        wake_same_cpu: first.map(|cpu| percentiles(&wake_up(launcher, Some(cpu), wakes).0)),
    }
}

/// One-way latencies of `count` wake-ups: this process sleeps on a futex mailbox, a peer
/// on `cpu` sends a message after each pause; and the CPU time each sleep and wake-up
/// cost this thread, ns (on a VM whose idle vCPUs halt, far more for a waker on the other
/// CPU than a futex system call's own cost).
fn wake_up(launcher: &Launcher, cpu: Option<usize>, count: u64) -> (Latencies, f64) {
    let name = format!("bench-{}-wake-{}", std::process::id(), cpu.unwrap_or(0));
    let mut rx = FutexMailbox::create(&name, WAKE_LEN);
    let args = [
        name.as_str(),
        &WAKE_LEN.to_string(),
        &count.to_string(),
        &WAKE_GAP.as_micros().to_string(),
    ];
    let peer = launcher.spawn(FUTEX_SEND, &args, cpu);
    let thread_cpu = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
    };
    let cpu0 = thread_cpu();
    let received = endpoint::receive_times(&mut rx, WAKE_LEN, count)
        .unwrap_or_else(|e| panic!("wake-ups: {e}"));
    let cpu_per_wake = (thread_cpu() - cpu0) / count.max(1) as f64;
    let sent: Vec<u64> = peer
        .finish()
        .iter()
        .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
        .collect();
    assert_eq!(sent.len(), received.len(), "a send time per wake-up");
    (endpoint::one_way(&sent, &received), cpu_per_wake)
}
