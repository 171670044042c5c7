//! Two processes exchange messages through a named segment.
//!
//! ```text
//! cargo run --release -p ipclane-segment --example exchange [-- ROUND_TRIPS]
//! ```
//!
//! `ROUND_TRIPS` is 1 to 10 000 000 (default 100 000); anything else is a usage error
//! (exit status 2). A failure at run time exits with status 1.
//!
//! The parent creates a segment holding two single-slot mailboxes (a sequence number on
//! its own cache line, then a 64-byte payload), starts this program again as the child,
//! and plays ping-pong: it writes a payload and bumps its sequence number (Release); the
//! child waits for it (Acquire), answers with the payload's bytes inverted, and bumps its
//! own. Both sides spin. The parent checks every answer and prints round-trip percentiles.
//!
//! Crashes are handled the segment way: the child holds a claim, so if it dies the parent
//! notices (`is_claimed` turns false) instead of spinning forever; if the parent dies,
//! the child sees the owner gone.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipclane_segment::{Kind, Region, Segment};

const KIND: Kind = Kind::from_names(
    "ipclane/examples/exchange",
    "ping u64@0 pong u64@128 payloads@256,512 x64",
);
const PING_SEQ: usize = 0;
const PONG_SEQ: usize = 128;
const PING_DATA: usize = 256;
const PONG_DATA: usize = 512;
const PAYLOAD: usize = 64;
const CHILD_CLAIM: u32 = 0;

type Error = Box<dyn std::error::Error>;

/// Round trips when none are given.
const DEFAULT_ROUNDS: u64 = 100_000;
/// Most round trips one run may ask for: every round trip time is kept (16 bytes each).
const MAX_ROUNDS: u64 = 10_000_000;

const USAGE: &str = "usage: exchange [ROUND_TRIPS]   (1 to 10000000, default 100000)";

/// What the command line asks for.
enum Mode {
    /// Play the parent: create the segment and measure `rounds` round trips.
    Parent { rounds: u64 },
    /// Play the child started by a parent, on the segment `name` (internal).
    Child { name: String },
}

/// Parses the arguments after the program name; `Err` is what is wrong with them.
fn parse_args(args: &[String]) -> Result<Mode, String> {
    match args {
        [] => Ok(Mode::Parent {
            rounds: DEFAULT_ROUNDS,
        }),
        [flag, name] if flag == "--child" => Ok(Mode::Child { name: name.clone() }),
        [flag, ..] if flag == "--child" => {
            Err("--child takes exactly one segment name (it is meant for the parent to use)".into())
        }
        [n] => match n.parse::<u64>() {
            Ok(rounds) if (1..=MAX_ROUNDS).contains(&rounds) => Ok(Mode::Parent { rounds }),
            Ok(rounds) => Err(format!(
                "ROUND_TRIPS must be between 1 and {MAX_ROUNDS}, not {rounds}"
            )),
            Err(_) => Err(format!("ROUND_TRIPS must be a number, not {n:?}")),
        },
        _ => Err(format!("expected at most one argument, got {}", args.len())),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match parse_args(&args) {
        Ok(mode) => mode,
        Err(problem) => {
            eprintln!("exchange: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match mode {
        Mode::Parent { rounds } => parent(rounds),
        Mode::Child { name } => child(&name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exchange: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sequence number the parent stores to tell the child to stop.
const STOP: u64 = u64::MAX;

/// Spins until `cell` holds `want` (or [`STOP`]) and returns it, checking every few
/// thousand spins that `alive()` still holds; gives up with an error when it does not.
fn wait_for(cell: &AtomicU64, want: u64, mut alive: impl FnMut() -> bool) -> Result<u64, Error> {
    let mut spins = 0u32;
    loop {
        // Acquire pairs with the peer's Release store of the sequence number: the payload
        // it wrote before is visible once we see the number.
        let seen = cell.load(Ordering::Acquire);
        if seen == want || seen == STOP {
            return Ok(seen);
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(65_536) {
            if !alive() {
                return Err("the peer process died".into());
            }
            std::thread::yield_now();
        }
    }
}

fn payload(round: u64) -> [u8; PAYLOAD] {
    let mut p = [0u8; PAYLOAD];
    for (i, b) in p.iter_mut().enumerate() {
        *b = (round as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    p
}

fn parent(rounds: u64) -> Result<(), Error> {
    let name = format!("exchange-{}", std::process::id());
    let seg = Segment::named(&name).size(4096).kind(KIND).create()?;
    let region = seg.region();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--child", &name])
        .spawn()?;
    let (ping, pong) = (
        region.atomic::<AtomicU64>(PING_SEQ)?,
        region.atomic::<AtomicU64>(PONG_SEQ)?,
    );

    // The child announces itself by taking its claim.
    let started = Instant::now();
    while !seg.is_claimed(CHILD_CLAIM)? {
        if child.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(10) {
            return Err("the child did not start".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // At most MAX_ROUNDS, so the reservation is bounded (160 MB).
    let mut rtts = Vec::with_capacity(usize::try_from(rounds)?);
    let mut answer = [0u8; PAYLOAD];
    for round in 1..=rounds {
        let sent = payload(round);
        let t0 = Instant::now();
        region.write(PING_DATA, &sent)?;
        // Release: the payload written above is visible to whoever sees this number.
        ping.store(round, Ordering::Release);
        wait_for(pong, round, || seg.is_claimed(CHILD_CLAIM).unwrap_or(false))?;
        region.read(PONG_DATA, &mut answer)?;
        rtts.push(t0.elapsed());
        if answer.iter().zip(sent).any(|(a, s)| *a != !s) {
            return Err(format!("round {round}: wrong answer").into());
        }
    }
    ping.store(STOP, Ordering::Release);
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("child failed: {status}").into());
    }
    report(&seg, &rtts);
    Ok(())
}

fn child(name: &str) -> Result<(), Error> {
    let seg = Segment::named(name).kind(KIND).open()?;
    let _claim = seg.claim(CHILD_CLAIM)?;
    let region: Region<'_> = seg.region();
    let (ping, pong) = (
        region.atomic::<AtomicU64>(PING_SEQ)?,
        region.atomic::<AtomicU64>(PONG_SEQ)?,
    );
    let mut data = [0u8; PAYLOAD];
    let mut round = 0;
    loop {
        round += 1;
        if wait_for(ping, round, || seg.owner_alive().unwrap_or(false))? == STOP {
            return Ok(());
        }
        region.read(PING_DATA, &mut data)?;
        for b in &mut data {
            *b = !*b;
        }
        region.write(PONG_DATA, &data)?;
        pong.store(round, Ordering::Release);
    }
}

/// Prints the percentiles of `rtts` (at least one round trip, as `parse_args` ensures).
fn report(seg: &Segment, rtts: &[Duration]) {
    if rtts.is_empty() {
        return;
    }
    let mut histogram = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .expect("valid histogram bounds");
    for rtt in rtts.iter() {
        histogram.saturating_record(rtt.as_nanos().try_into().unwrap_or(u64::MAX));
    }
    let pct = |p: f64| Duration::from_nanos(histogram.value_at_quantile(p));
    let total: Duration = rtts.iter().sum();
    println!(
        "{} round trips of {PAYLOAD}-byte messages between two processes through {}",
        rtts.len(),
        seg.display_name()
    );
    println!("all answers verified; both sides spinning");
    println!(
        "round trip: p50 {:?}  p90 {:?}  p99 {:?}  p99.9 {:?}  max {:?}  (mean {:?})",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        total / rtts.len() as u32
    );
    println!(
        "one-way latency is about half a round trip: p50 {:?}",
        pct(0.50) / 2
    );
}
