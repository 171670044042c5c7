//! Instructions per message on the hot paths, counted by `valgrind --tool=callgrind`:
//! repeatable on a noisy machine, so a regression in the hot path shows without timing
//! noise. The bench starts its own binary again under callgrind in the role
//! [`HOT_PATH`], running a path a fixed number of times in one thread, twice with
//! different counts; the difference divided by the difference in counts is the cost of
//! one message, start-up and tear-down cancelled out.

use std::process::Command;

use ipclane::queue::{QueueError, SpscRing};

use crate::integrity::{Checker, Stamp};
use crate::peer;

/// The peer role that runs a hot path: arguments `<path> <len> <count>`.
pub const HOT_PATH: &str = "hot-path";

/// The paths counted.
pub const PATHS: [&str; 3] = ["raw-copy", "spsc-push-pop", "spsc-reserve-read"];

/// Runs `path` `count` times with messages of `len` bytes, each stamped and checked.
///
/// # Panics
///
/// For an unknown path, or a message not intact.
pub fn run_path(path: &str, len: usize, count: u64) {
    let mut out = vec![0u8; len];
    let mut back = vec![0u8; len];
    let mut checker = Checker::default();
    let mut slot = vec![0u8; len];
    let (mut tx, mut rx) = SpscRing::heap(1 << 16).expect("a heap ring");
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        match path {
            // The same work without a queue: the copy into a slot, the copy out of it.
            "raw-copy" => {
                slot.copy_from_slice(&out);
                back.copy_from_slice(std::hint::black_box(&slot));
            }
            "spsc-push-pop" => {
                tx.try_push(&out).expect("push");
                let guard = rx.read().expect("read");
                guard.copy_to(&mut back);
                guard.release();
            }
            "spsc-reserve-read" => {
                let mut guard = tx.reserve(len).expect("reserve");
                guard.write(0, &out).expect("write");
                guard.commit();
                match rx.read() {
                    Ok(guard) => {
                        guard.copy_to(&mut back);
                        guard.release();
                    }
                    Err(QueueError::Empty) => panic!("a committed record is missing"),
                    Err(e) => panic!("read: {e}"),
                }
            }
            other => panic!("unknown hot path {other}"),
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
