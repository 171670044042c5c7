//! Which CPUs the bench runs on: pinning each process to one, and what the machine is.

use std::io;

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The CPUs this process may run on, in order.
pub fn allowed() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// Pins the calling thread to `cpu` (a new thread or a child process inherits it).
///
/// # Errors
///
/// The kernel's, for example for a CPU outside the allowed set.
pub fn pin(cpu: usize) -> io::Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(io::Error::from)
}

/// Where the two sides of a measurement run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Each side pinned to its own CPU.
    Pinned {
        /// The CPU of the side that starts (the sender, the pinger).
        first: usize,
        /// The CPU of its peer.
        second: usize,
    },
    /// Both sides pinned to the same CPU (they take turns).
    SameCpu(usize),
    /// Not pinned: the scheduler decides.
    Unpinned,
}

impl Placement {
    /// Two distinct allowed CPUs when there are two, else the same one.
    pub fn distinct() -> Self {
        match allowed()[..] {
            [first, second, ..] => Self::Pinned { first, second },
            [only] => Self::SameCpu(only),
            [] => Self::Unpinned,
        }
    }

    /// The CPU of the first side, if pinned.
    pub fn first(self) -> Option<usize> {
        match self {
            Self::Pinned { first, .. } | Self::SameCpu(first) => Some(first),
            Self::Unpinned => None,
        }
    }

    /// The CPU of the second side, if pinned.
    pub fn second(self) -> Option<usize> {
        match self {
            Self::Pinned { second, .. } | Self::SameCpu(second) => Some(second),
            Self::Unpinned => None,
        }
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pinned { first, second } => write!(f, "pinned to CPUs {first} and {second}"),
            Self::SameCpu(cpu) => write!(f, "both on CPU {cpu}"),
            Self::Unpinned => f.write_str("not pinned"),
        }
    }
}

/// The machine in one line: CPU model, CPUs, kernel.
pub fn describe() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".to_owned());
    format!("{model}, {} CPUs allowed, Linux {kernel}", allowed().len())
}
