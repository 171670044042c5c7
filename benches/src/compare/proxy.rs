//! The local-proxy scenario: a client (this process) sends each request to a sidecar,
//! which forwards it to a backend and the response back; three processes, both hops on
//! the same transport. The client measures the round trip; all three check every byte.

use super::drive::{self, cpu_ns};
use super::link;
use super::rows::{Bench, reported_cpu};
use super::transport::Transport;
use crate::floor::OnFloor;
use crate::peer;
use crate::stats::Latencies;

/// Peer roles: the backend listens on `<transport> <name> <len>` and echoes; the sidecar
/// dials `<transport> <client address> <len> <backend address>` and forwards.
const BACKEND: &str = "compare-backend";
const SIDECAR: &str = "compare-sidecar";

/// What a proxy row measured.
#[derive(Debug)]
pub struct Proxied {
    /// The client's round trips (whole, not halved).
    pub round_trips: Latencies,
    /// CPU of the three processes, ns.
    pub cpu_ns: u64,
    /// Requests answered.
    pub requests: u64,
}

/// A request/response round trip of `len` bytes through a sidecar over `transport`.
///
/// # Panics
///
/// When a request or response is not whole, or a peer fails.
pub fn proxy(bench: &Bench<'_>, transport: Transport, len: usize) -> OnFloor<Proxied> {
    let cpu = bench.placement.second();
    bench.on_floor(|| {
        let back = bench.name("backend");
        let backend =
            bench
                .launcher
                .spawn(BACKEND, &[transport.id(), &back, &len.to_string()], cpu);
        let front = link::listen(transport, &bench.name("front"), len);
        let sidecar = bench.launcher.spawn(
            SIDECAR,
            &[
                transport.id(),
                front.address(),
                &len.to_string(),
                &link::address_of(transport, &back),
            ],
            cpu,
        );
        let (mut tx, mut rx) = front.accept();
        let cpu0 = cpu_ns();
        let round_trips = drive::ping_for(&mut tx, &mut rx, len, bench.timing)
            .unwrap_or_else(|e| panic!("{transport} proxy: {e}"));
        let own = cpu_ns() - cpu0;
        drop((tx, rx));
        let theirs = reported_cpu(&sidecar.finish()) + reported_cpu(&backend.finish());
        Proxied {
            requests: round_trips.len(),
            round_trips,
            cpu_ns: own + theirs,
        }
    })
}

/// Plays the peer `role` of the proxy; `false` for a role it does not know.
///
/// # Panics
///
/// When the arguments are not those the row passes, or a message is not whole.
pub fn play(role: &str, args: &[String]) -> bool {
    if role != BACKEND && role != SIDECAR {
        return false;
    }
    let transport = Transport::parse(&args[0]).unwrap_or_else(|| panic!("transport {}", args[0]));
    let len: usize = args[2].parse().expect("a message length");
    let cpu0 = cpu_ns();
    if role == BACKEND {
        let (mut tx, mut rx) = link::listen(transport, &args[1], len).accept();
        drive::echo_until_stop(&mut tx, &mut rx, len)
            .unwrap_or_else(|e| panic!("{transport} backend: {e}"));
    } else {
        let (mut front_tx, mut front_rx) = link::dial(transport, &args[1], len);
        let (mut back_tx, mut back_rx) = link::dial(transport, &args[3], len);
        drive::forward_until_stop(
            (&mut front_tx, &mut front_rx),
            (&mut back_tx, &mut back_rx),
            len,
        )
        .unwrap_or_else(|e| panic!("{transport} sidecar: {e}"));
    }
    peer::report(format!("cpu {}", cpu_ns() - cpu0));
    true
}
