//! Instructions per message on the hot paths, counted by `valgrind --tool=callgrind`:
//! repeatable on a noisy machine, so a regression in the hot path shows without timing
//! noise. The bench starts its own binary again under callgrind in the role
//! [`HOT_PATH`], running a path a fixed number of times in one thread, twice with
//! different counts; the difference divided by the difference in counts is the cost of
//! one message, start-up and tear-down cancelled out.

use std::process::Command;

use ipclane::queue::{QueueError, SpscRing};

use crate::broadcast::{self, BroadcastRecv, BroadcastSend};
use crate::endpoint::{Recv, Send};
use crate::mpmc::{self, MpmcRecv, MpmcSend};
use crate::raw::{HeaderRing, RawMpmc, RawSeqlock};
use crate::spsc::{self, SpscRecv, SpscSend, Wait};

use crate::integrity::{Checker, Stamp};
use crate::peer;

/// The peer role that runs a hot path: arguments `<path> <len> <count>`.
pub const HOT_PATH: &str = "hot-path";

/// The paths counted: each ipclane structure after its raw baseline, as the
/// cross-process rows time them ([`endpoint`](crate::endpoint)'s `Send` and `Recv`) with
/// both ends in this one thread; `raw-copy` (the copies alone, no queue); and
/// `spsc-reserve-read` (the SPSC ring's zero-copy calls).
pub const PATHS: [&str; 8] = [
    "raw-copy",
    "header-ring",
    "spsc",
    "spsc-reserve-read",
    "raw-mpmc",
    "mpmc",
    "seqlock",
    "broadcast",
];

/// Slots of the MPMC queues and broadcast rings counted; bytes of the rings.
const SLOTS: usize = 256;
const RING: usize = 1 << 16;

/// Runs `path` `count` times with messages of `len` bytes, each stamped and checked.
///
/// # Panics
///
/// For an unknown path, or a message not intact.
pub fn run_path(path: &str, len: usize, count: u64) {
    let name = format!("bench-hot-{}-{path}", std::process::id());
    match path {
        "raw-copy" => {
            let mut slot = vec![0u8; len];
            drive(len, count, |out, back| {
                slot.copy_from_slice(out);
                back.copy_from_slice(std::hint::black_box(&slot));
                back.len()
            });
        }
        "header-ring" => {
            let mut tx = HeaderRing::create(&name, RING);
            through(&mut tx, &mut HeaderRing::open(&name), len, count);
        }
        "spsc" => {
            let ring = spsc::create(&name, RING);
            let mut tx = SpscSend::attach(ring.clone(), Wait::Spin);
            through(&mut tx, &mut SpscRecv::attach(ring, Wait::Spin), len, count);
        }
        "spsc-reserve-read" => reserve_read(len, count),
        "raw-mpmc" => {
            let mut tx = RawMpmc::create(&name, SLOTS, len);
            through(&mut tx, &mut RawMpmc::open(&name, SLOTS, len), len, count);
        }
        "mpmc" => {
            let queue = mpmc::create(&name, SLOTS, len);
            let mut tx = MpmcSend::attach(queue.clone());
            through(&mut tx, &mut MpmcRecv::attach(queue), len, count);
        }
        "seqlock" => {
            let mut tx = RawSeqlock::create(&name, SLOTS, len);
            through(
                &mut tx,
                &mut RawSeqlock::open(&name, SLOTS, len),
                len,
                count,
            );
        }
        "broadcast" => {
            let ring = broadcast::create(&name, SLOTS, len);
            let mut tx = BroadcastSend::attach(ring.clone());
            through(&mut tx, &mut BroadcastRecv::attach(ring), len, count);
        }
        other => panic!("unknown hot path {other}"),
    }
}

/// Sends each message through `tx` and takes it back out of `rx`.
fn through(tx: &mut impl Send, rx: &mut impl Recv, len: usize, count: u64) {
    drive(len, count, |out, back| {
        tx.send(out);
        rx.recv(back)
    });
}

/// Stamps `count` messages of `len` bytes, passes each through `round_trip` (which
/// copies it into its second argument and returns the length), and checks every one.
fn drive(len: usize, count: u64, mut round_trip: impl FnMut(&[u8], &mut [u8]) -> usize) {
    let (mut out, mut back) = (vec![0u8; len], vec![0u8; len]);
    let mut checker = Checker::default();
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        let n = round_trip(&out, &mut back);
        checker.check(&back[..n]).expect("an intact message");
    }
    std::hint::black_box(checker.bytes());
}

/// The SPSC ring's zero-copy calls: `reserve`, `write`, `commit`; `read`, `copy_to`,
/// `release`.
fn reserve_read(len: usize, count: u64) {
    let (mut tx, mut rx) = SpscRing::heap(RING).expect("a heap ring");
    let (mut out, mut back) = (vec![0u8; len], vec![0u8; len]);
    let mut checker = Checker::default();
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        let mut guard = tx.try_reserve(len).expect("reserve");
        guard.write_at(0, &out).expect("write");
        guard.commit();
        match rx.try_read() {
            Ok(guard) => {
                guard.copy_to(&mut back);
                guard.release();
            }
            Err(QueueError::Empty) => panic!("a committed record is missing"),
            Err(e) => panic!("read: {e}"),
        }
        checker.check(&back).expect("an intact message");
    }
    std::hint::black_box(checker.bytes());
}

/// Instructions per message of `path` at `len` bytes, or why they could not be counted
/// (valgrind missing, say).
///
/// # Errors
///
/// A sentence saying what failed.
pub fn per_message(path: &str, len: usize) -> Result<f64, String> {
    let (few, many) = (1_000u64, 11_000u64);
    let a = total(path, len, few)?;
    let b = total(path, len, many)?;
    Ok(b.saturating_sub(a) as f64 / (many - few) as f64)
}

/// Instructions of one run of `count` messages under callgrind.
fn total(path: &str, len: usize, count: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the running binary: {e}"))?;
    let out = std::env::temp_dir().join(format!(
        "ipclane-callgrind-{}-{path}-{len}-{count}.out",
        std::process::id()
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .env(peer::ROLE_VAR, HOT_PATH)
        .env(peer::ARGS_VAR, format!("{path} {len} {count}"))
        .env_remove(peer::CPU_VAR)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("valgrind: {e}"))?;
    let text = std::fs::read_to_string(&out);
    let _ = std::fs::remove_file(&out);
    if !status.success() {
        return Err(format!("valgrind --tool=callgrind failed ({status})"));
    }
    let text = text.map_err(|e| format!("read {}: {e}", out.display()))?;
    parse_total(&text).ok_or_else(|| format!("no instruction total in {}", out.display()))
}

/// The instruction total of a callgrind output file (its `summary:` or `totals:` line).
fn parse_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Plays [`HOT_PATH`]; `false` for another role.
pub fn play(role: &str, args: &[String]) -> bool {
    if role != HOT_PATH {
        return false;
    }
    let len = args[1].parse().expect("a length");
    let count = args[2].parse().expect("a count");
    run_path(&args[0], len, count);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_runs_with_every_message_checked() {
        for path in PATHS {
            run_path(path, 64, 100);
        }
    }

    #[test]
    fn the_total_is_read_from_callgrinds_summary() {
        let text = "events: Ir\nfl=x\n0 5\nsummary: 123456\n";
        assert_eq!(parse_total(text), Some(123_456));
        assert_eq!(parse_total("totals: 7 8\n"), Some(7));
        assert_eq!(parse_total("events: Ir\n"), None);
    }
}
