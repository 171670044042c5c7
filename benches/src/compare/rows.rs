//! One measurement of one transport at one size, between this process and a peer it
//! starts: a ping-pong, a stream, a steady stream, an idle wait. Each peer role is
//! played by [`play`].

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::drive::{self, Timing, cpu_ns};
use super::link::{self, Rx, Tx};
use super::transport::Transport;
use crate::cpu::Placement;
use crate::endpoint::{self, Send, Stream};
use crate::floor::{self, OnFloor};
use crate::integrity::Stamp;
use crate::peer::{self, Launcher, Peer};
use crate::stats::Latencies;

/// Peer roles, each `<transport> <address> <len>` and the arguments noted.
const ECHO: &str = "compare-echo";
/// `<duration ns>`.
const PRODUCE: &str = "compare-produce";
/// `<count> <period ns>`.
const PACED: &str = "compare-paced";
const IDLE: &str = "compare-idle";

/// The steady stream's period: 50,000 messages a second, each received alone.
pub const STEADY_PERIOD: Duration = Duration::from_micros(20);

/// What every measurement of a run shares.
#[derive(Debug)]
pub struct Bench<'a> {
    /// Starts peers.
    pub launcher: &'a Launcher,
    /// Where this process and its peers run.
    pub placement: Placement,
    /// How long each measurement warms up and measures.
    pub timing: Timing,
    /// Attempts of a row while the floor moves.
    pub attempts: usize,
    /// How long an idle measurement waits.
    pub idle: Duration,
    next: Cell<u32>,
}

impl<'a> Bench<'a> {
    /// A bench with these settings.
    pub fn new(
        launcher: &'a Launcher,
        placement: Placement,
        timing: Timing,
        attempts: usize,
        idle: Duration,
    ) -> Self {
        Self {
            launcher,
            placement,
            timing,
            attempts,
            idle,
            next: Cell::new(0),
        }
    }

    /// A name for one link, unique in this run and among runs.
    pub fn name(&self, what: &str) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        format!("bench-{}-{n}-{what}", std::process::id())
    }

    /// Listens for a `transport` link, starts the peer `role` on the second CPU with the
    /// link's address, its length and `extra` arguments, and accepts it.
    fn connected(
        &self,
        transport: Transport,
        len: usize,
        role: &str,
        extra: &[String],
    ) -> (Tx, Rx, Peer) {
        let listening = link::listen(transport, &self.name(transport.id()), len);
        let mut args = vec![
            transport.id().to_owned(),
            listening.address().to_owned(),
            len.to_string(),
        ];
        args.extend_from_slice(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let peer = self.launcher.spawn(role, &args, self.placement.second());
        let (tx, rx) = listening.accept();
        (tx, rx, peer)
    }

    /// Runs `row` between floor measurements, again while the floor moved.
    pub(super) fn on_floor<T>(&self, row: impl FnMut() -> T) -> OnFloor<T> {
        floor::measure(self.placement, self.attempts, row)
    }

    /// Runs `row` once between floor measurements.
    pub(super) fn on_floor_once<T>(&self, row: impl FnMut() -> T) -> OnFloor<T> {
        floor::measure(self.placement, 1, row)
    }

    /// One-way latency from a ping-pong of `len`-byte messages (half of each round
    /// trip), on a floor.
    ///
    /// # Panics
    ///
    /// When a message is not whole, or the peer fails.
    pub fn ping(&self, transport: Transport, len: usize) -> OnFloor<Latencies> {
        self.on_floor(|| self.ping_once(transport, len, self.timing))
    }

    /// One ping-pong, timed by `timing`, without the floor.
    ///
    /// # Panics
    ///
    /// As [`ping`](Self::ping).
    pub fn ping_once(&self, transport: Transport, len: usize, timing: Timing) -> Latencies {
        let (mut tx, mut rx, peer) = self.connected(transport, len, ECHO, &[]);
        let round_trips = drive::ping_for(&mut tx, &mut rx, len, timing)
            .unwrap_or_else(|e| panic!("{transport} ping-pong at {len} B: {e}"));
        drop((tx, rx));
        peer.finish();
        round_trips.halved()
    }

    /// A stream of `len`-byte messages from the peer, and the CPU both processes spent
    /// on it (ns), on a floor.
    ///
    /// # Panics
    ///
    /// When a message is lost, repeated, reordered or not whole, or the peer fails.
    pub fn stream(&self, transport: Transport, len: usize) -> OnFloor<(Stream, u64)> {
        self.on_floor(|| self.stream_once(transport, len, self.timing))
    }

    /// One stream, of `timing.measure`, without the floor.
    ///
    /// # Panics
    ///
    /// As [`stream`](Self::stream).
    pub fn stream_once(&self, transport: Transport, len: usize, timing: Timing) -> (Stream, u64) {
        let duration = timing.measure.as_nanos().to_string();
        let (tx, mut rx, peer) = self.connected(transport, len, PRODUCE, &[duration]);
        let cpu0 = cpu_ns();
        let stream = drive::consume_until_stop(&mut rx, len)
            .unwrap_or_else(|e| panic!("{transport} stream at {len} B: {e}"));
        let own = cpu_ns() - cpu0;
        drop((tx, rx));
        let theirs = reported_cpu(&peer.finish());
        (stream, own + theirs)
    }

    /// One-way latency of a steady stream: a message every [`STEADY_PERIOD`] from the
    /// peer, each received as it comes.
    ///
    /// # Panics
    ///
    /// When a message is not whole, or the peer fails.
    pub fn steady(&self, transport: Transport, len: usize) -> Latencies {
        let count = (self.timing.measure.as_nanos() / STEADY_PERIOD.as_nanos()).max(10) as u64;
        let extra = [count.to_string(), STEADY_PERIOD.as_nanos().to_string()];
        let (tx, mut rx, peer) = self.connected(transport, len, PACED, &extra);
        let received = endpoint::receive_times(&mut rx, len, count)
            .unwrap_or_else(|e| panic!("{transport} steady stream: {e}"));
        drop((tx, rx));
        let lines = peer.finish();
        let sent: Vec<u64> = lines
            .iter()
            .filter(|l| !l.starts_with("cpu "))
            .flat_map(|l| l.split(' ').map(|t| t.parse().expect("a send time")))
            .collect();
        assert_eq!(sent.len(), received.len(), "{transport}: a send time each");
        endpoint::one_way(&sent, &received)
    }

    /// The CPU both processes burn while the peer waits [`Bench::idle`] for a message:
    /// percent of one CPU.
    ///
    /// # Panics
    ///
    /// When the message is not whole, or the peer fails.
    pub fn idle(&self, transport: Transport, len: usize) -> f64 {
        let (mut tx, rx, peer) = self.connected(transport, len, IDLE, &[]);
        let (cpu0, t0) = (cpu_ns(), Instant::now());
        std::thread::sleep(self.idle);
        let mut out = vec![0u8; len];
        Stamp::new(0).write(&mut out);
        tx.send(&out);
        let own = cpu_ns() - cpu0;
        let lines = peer.finish();
        let wall = t0.elapsed();
        drop((tx, rx));
        (own + reported_cpu(&lines)) as f64 / wall.as_nanos() as f64 * 100.0
    }
}

/// The CPU time a peer reported (`cpu <ns>`).
///
/// # Panics
///
/// When it reported none.
pub fn reported_cpu(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("cpu "))
        .and_then(|n| n.parse().ok())
        .expect("the peer's CPU time")
}

/// Plays the peer `role` of a row above; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the row passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    if ![ECHO, PRODUCE, PACED, IDLE].contains(&role) {
        return false;
    }
    let transport = Transport::parse(&args[0]).unwrap_or_else(|| panic!("transport {}", args[0]));
    let len: usize = args[2].parse().expect("a message length");
    let num = |i: usize| -> u64 {
        args[i]
            .parse()
            .unwrap_or_else(|_| panic!("{role}: argument {i}"))
    };
    let (mut tx, mut rx) = link::dial(transport, &args[1], len);
    let cpu0 = cpu_ns();
    match role {
        ECHO => {
            drive::echo_until_stop(&mut tx, &mut rx, len)
                .unwrap_or_else(|e| panic!("{transport} echo: {e}"));
        }
        PRODUCE => {
            drive::produce_for(&mut tx, len, Duration::from_nanos(num(3)));
        }
        PACED => {
            let sent = endpoint::send_paced(&mut tx, len, num(3), Duration::from_nanos(num(4)));
            let times: Vec<String> = sent.iter().map(u64::to_string).collect();
            peer::report(times.join(" "));
        }
        _ => {
            let mut buf = vec![0u8; len];
            let n = endpoint::Recv::recv(&mut rx, &mut buf);
            crate::integrity::check(&buf[..n], 0)
                .unwrap_or_else(|e| panic!("{transport} idle: {e}"));
        }
    }
    peer::report(format!("cpu {}", cpu_ns() - cpu0));
    // The measuring side may still be reading: close only once it has everything.
    drop((tx, rx));
    true
}
