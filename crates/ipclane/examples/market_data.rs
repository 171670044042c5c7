//! Market data through shared memory: one publisher fans quotes out to N subscriber
//! processes; each subscriber checks every quote and prints its rate, its one-way latency
//! (from the publisher's timestamp in the quote) and how many quotes it missed.
//!
//! ```text
//! cargo run --release -p ipclane --example market_data -- [--subscribers N] [--async-subscribers M] [--rate PER_SEC] [--seconds S]
//! cargo run --release -p ipclane --example market_data -- publish NAME [--rate PER_SEC] [--seconds S]
//! cargo run --release -p ipclane --example market_data -- subscribe NAME
//! cargo run --release -p ipclane --example market_data --features tokio -- subscribe-async NAME
//! ```
//!
//! The first form starts the N subscribers itself (default 3, 100,000 quotes a second for
//! 2 seconds), and M async ones (`ipclane::tokio::Subscriber` in a tokio runtime, woken by
//! a doorbell instead of the futex; default 0, and the example built with
//! `--features tokio`); the other forms run each side on its own, so subscribers can join
//! (and leave) while a publisher runs. The publisher never waits for subscribers: one that falls more
//! than the ring (65,536 quotes) behind is told how many it missed and resyncs.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ipclane::{Error, PublishOptions, Publisher, Subscriber};

/// A quote: sequence number, publish time (CLOCK_MONOTONIC, ns), symbol, price.
const QUOTE: usize = 32;
const SYMBOLS: [&[u8; 8]; 4] = [b"EURUSD  ", b"USDJPY  ", b"GBPUSD  ", b"AUDUSD  "];

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The price of quote `seq`, so that a subscriber can check every quote it gets.
fn price(seq: u64) -> f64 {
    1.0 + (seq % 10_000) as f64 / 10_000.0
}

fn quote(seq: u64) -> [u8; QUOTE] {
    let mut q = [0u8; QUOTE];
    q[..8].copy_from_slice(&seq.to_le_bytes());
    q[8..16].copy_from_slice(&now_ns().to_le_bytes());
    q[16..24].copy_from_slice(SYMBOLS[(seq % 4) as usize]);
    q[24..].copy_from_slice(&price(seq).to_bits().to_le_bytes());
    q
}

/// Publishes `rate` quotes a second for `seconds`, paced by the clock.
fn publish(publisher: &mut Publisher, rate: u64, seconds: f64) -> Result<u64, Error> {
    let total = (rate as f64 * seconds) as u64;
    let start = Instant::now();
    for seq in 0..total {
        let due = start + Duration::from_secs_f64(seq as f64 / rate as f64);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        publisher.publish(&quote(seq))?;
    }
    Ok(total)
}

/// What a subscriber saw: every quote checked, its latency recorded.
struct Tally {
    latency: Histogram<u64>,
    received: u64,
    missed: u64,
    last: Option<u64>,
    first_at: Option<Instant>,
    last_at: Instant,
}

impl Tally {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            latency: Histogram::new(3)?,
            received: 0,
            missed: 0,
            last: None,
            first_at: None,
            last_at: Instant::now(),
        })
    }

    /// Checks the quote in `buf[..len]` (whole, in order) and records its latency.
    fn quote(&mut self, buf: &[u8; QUOTE], len: usize) -> Result<(), Box<dyn std::error::Error>> {
        let at = now_ns();
        let seq = u64::from_le_bytes(buf[..8].try_into()?);
        let sent = u64::from_le_bytes(buf[8..16].try_into()?);
        let ok = len == QUOTE
            && &buf[16..24] == SYMBOLS[(seq % 4) as usize]
            && f64::from_bits(u64::from_le_bytes(buf[24..].try_into()?)) == price(seq)
            && self.last.is_none_or(|l| seq > l);
        if !ok {
            return Err(format!("quote {seq} arrived wrong or out of order").into());
        }
        self.latency.record(at.saturating_sub(sent))?;
        self.received += 1;
        self.last = Some(seq);
        self.first_at.get_or_insert_with(Instant::now);
        self.last_at = Instant::now();
        Ok(())
    }

    /// Takes what a receive gave: `Ok(false)` at the end of the feed.
    fn take(
        &mut self,
        got: Result<usize, Error>,
        buf: &[u8; QUOTE],
    ) -> Result<bool, Box<dyn std::error::Error>> {
        match got {
            Ok(len) => self.quote(buf, len)?,
            Err(Error::Lagged { missed }) => self.missed += missed,
            Err(Error::Disconnected { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        Ok(true)
    }

    fn report(&self, how: &str) {
        let span = self
            .first_at
            .map_or(0.0, |f| self.last_at.duration_since(f).as_secs_f64());
        let latency = |q| self.latency.value_at_quantile(q) as f64 / 1e3;
        println!(
            "subscriber {}: {} quotes ({how}) at {:.0}/s, one-way latency p50 {:.2} us p99 {:.2} us p99.9 {:.2} us, {} missed",
            std::process::id(),
            self.received,
            if span > 0.0 {
                self.received as f64 / span
            } else {
                0.0
            },
            latency(0.5),
            latency(0.99),
            latency(0.999),
            self.missed,
        );
    }
}

/// A subscriber that blocks in its receives (on the futex, once the spin gives up).
fn subscribe(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut subscriber = Subscriber::open(name)?;
    println!("ready");
    let mut tally = Tally::new()?;
    let mut buf = [0u8; QUOTE];
    while tally.take(subscriber.recv_into(&mut buf), &buf)? {}
    tally.report("blocking");
    Ok(())
}

/// A subscriber in a tokio task, awaiting its receives (woken by its doorbell).
#[cfg(feature = "tokio")]
fn subscribe_async(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut subscriber = ipclane::tokio::Subscriber::open(name).await?;
        println!("ready");
        let mut tally = Tally::new()?;
        let mut buf = [0u8; QUOTE];
        loop {
            let got = subscriber.recv_into(&mut buf).await;
            if !tally.take(got, &buf)? {
                break;
            }
        }
        tally.report("tokio");
        Ok(())
    })
}

#[cfg(not(feature = "tokio"))]
fn subscribe_async(_name: &str) -> Result<(), Box<dyn std::error::Error>> {
    Err("async subscribers need the example built with --features tokio".into())
}

/// The value after `flag` in `args`, parsed, or `default`.
fn option<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

fn feed() -> Result<Publisher, Error> {
    let name = format!("market-data-{}", std::process::id());
    Publisher::create(
        &name,
        PublishOptions::default()
            .slots(1 << 16)
            .max_message_len(QUOTE),
    )
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let rate: u64 = option(args, "--rate", 100_000)?;
    let seconds: f64 = option(args, "--seconds", 2.0)?;
    match args.first().map(String::as_str) {
        Some("subscribe") => subscribe(args.get(1).ok_or("subscribe NAME")?),
        Some("subscribe-async") => subscribe_async(args.get(1).ok_or("subscribe-async NAME")?),
        Some("publish") => {
            let name = args.get(1).ok_or("publish NAME")?;
            let mut publisher = Publisher::create(
                name,
                PublishOptions::default()
                    .slots(1 << 16)
                    .max_message_len(QUOTE),
            )?;
            let total = publish(&mut publisher, rate, seconds)?;
            println!("published {total} quotes on {name}");
            Ok(())
        }
        _ => {
            let blocking: usize = option(args, "--subscribers", 3)?;
            let awaiting: usize = option(args, "--async-subscribers", 0)?;
            let count = blocking + awaiting;
            let mut publisher = feed()?;
            let mut children = Vec::new();
            for i in 0..count {
                let how = if i < blocking {
                    "subscribe"
                } else {
                    "subscribe-async"
                };
                let mut child = Command::new(std::env::current_exe()?)
                    .args([how, publisher.name()])
                    .stdout(Stdio::piped())
                    .spawn()?;
                let mut out = BufReader::new(child.stdout.take().ok_or("subscriber stdout")?);
                let mut line = String::new();
                out.read_line(&mut line)?;
                if line.trim() != "ready" {
                    return Err(format!("a subscriber said {line:?}").into());
                }
                children.push((child, out));
            }
            let total = publish(&mut publisher, rate, seconds)?;
            println!(
                "published {total} quotes to {count} subscribers through {}",
                publisher.name()
            );
            drop(publisher); // ends the feed: subscribers finish and report
            for (mut child, mut out) in children {
                let mut line = String::new();
                out.read_line(&mut line)?;
                print!("{line}");
                if !child.wait()?.success() {
                    return Err("a subscriber failed".into());
                }
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("market_data: {e}");
            ExitCode::FAILURE
        }
    }
}
