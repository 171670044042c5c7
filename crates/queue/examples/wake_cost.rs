//! What `FUTEX_WAKE` costs the waker when N processes sleep on one word: waking them all
//! at once, against waking one (the first hop of the tree `ipclane-queue` wakes in),
//! with each woken process waking the next.
//!
//! ```text
//! cargo run --release -p ipclane-queue --example wake_cost
//! ```
//!
//! Prints the median and 90th percentile of the waker's system call, per N, over 200
//! rounds; each round waits until every sleeper is asleep (and 300 µs more, so their CPUs
//! settle as they would between messages of a quiet feed).

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipclane_segment::Segment;
use rustix::thread::futex;

const ROUNDS: u32 = 200;
/// The futex word's value that tells the sleepers to leave.
const QUIT: u32 = u32::MAX;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name, chain] = &args[..]
        && role == "sleeper"
    {
        return sleeper(name, chain == "chain");
    }
    println!("waker's FUTEX_WAKE, N sleeping processes:");
    for n in [1usize, 2, 4, 8, 16] {
        for chain in [false, true] {
            let (p50, p90) = measure(n, chain)?;
            let how = if chain {
                "wake one, passed on"
            } else {
                "wake all"
            };
            println!("N={n:2} {how:21} p50 {p50:7} ns  p90 {p90:7} ns");
        }
    }
    Ok(())
}

/// Word 0: the futex word; word 1: how many sleep.
fn words(segment: &Segment) -> Result<(&AtomicU32, &AtomicU32), Box<dyn std::error::Error>> {
    let region = segment.region();
    Ok((
        region.atomic::<AtomicU32>(0)?,
        region.atomic::<AtomicU32>(4)?,
    ))
}

fn measure(n: usize, chain: bool) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let name = format!("wake-cost-{}-{n}-{chain}", std::process::id());
    let segment = Segment::named(&name).size(4096).create()?;
    let (word, asleep) = words(&segment)?;
    let exe = std::env::current_exe()?;
    let how = if chain { "chain" } else { "all" };
    let sleepers: Vec<Child> = (0..n)
        .map(|_| Command::new(&exe).args(["sleeper", &name, how]).spawn())
        .collect::<Result<_, _>>()?;
    let mut costs = Vec::with_capacity(ROUNDS as usize);
    for round in 1..=ROUNDS {
        let deadline = Instant::now() + Duration::from_secs(10);
        while asleep.load(Ordering::SeqCst) < n as u32 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(Duration::from_micros(300));
        word.store(round, Ordering::SeqCst);
        let count = if chain { 1 } else { u32::MAX >> 1 };
        let t0 = Instant::now();
        let _ = futex::wake(word, futex::Flags::empty(), count);
        costs.push(t0.elapsed().as_nanos() as u64);
    }
    word.store(QUIT, Ordering::SeqCst);
    let _ = futex::wake(word, futex::Flags::empty(), u32::MAX >> 1);
    for mut sleeper in sleepers {
        sleeper.wait()?;
    }
    costs.sort_unstable();
    Ok((costs[costs.len() / 2], costs[costs.len() * 9 / 10]))
}

/// Sleeps on the word until it changes, again and again; in a chain, wakes the next (the
/// library wakes two, by generation: the waker's cost is the same).
fn sleeper(name: &str, chain: bool) -> Result<(), Box<dyn std::error::Error>> {
    let segment = Segment::named(name).open()?;
    let (word, asleep) = words(&segment)?;
    let mut seen = word.load(Ordering::SeqCst);
    loop {
        asleep.fetch_add(1, Ordering::SeqCst);
        let _ = futex::wait(word, futex::Flags::empty(), seen, None);
        asleep.fetch_sub(1, Ordering::SeqCst);
        let now = word.load(Ordering::SeqCst);
        if now == QUIT {
            return Ok(());
        }
        if chain && now != seen {
            let _ = futex::wake(word, futex::Flags::empty(), 1);
        }
        seen = now;
    }
}
