//! The comparison binary's quick run between real processes, as CI runs it: every
//! transport and every peer library, at a small and a large size, both scenarios and
//! the wait presets, deliver every message whole and in order (a peer or the measuring
//! side panics on the first lost, repeated, reordered or torn message, and on a gap an
//! ipclane subscriber was not told of); the report folder is written. It asserts no
//! timing.

use clap::Parser;
use ipclane_bench::compare::cli::{Args, QUICK_RATES, QUICK_SUBSCRIBERS};
use ipclane_bench::compare::feed::{Feed, REMOTE_SIZES};
use ipclane_bench::compare::transport::Transport;
use ipclane_bench::compare::{self, report, run};
use ipclane_bench::peer::{self, Launcher};

/// The peers of the test below run here (started by name, with their role in the
/// environment); run alone, it has nothing to do.
#[test]
#[ignore = "entry point of the comparison's peer processes"]
fn peer_entry() {
    if let Some((role, args)) = peer::role() {
        assert!(compare::play(&role, &args), "unknown peer role {role}");
    }
}

#[test]
fn every_transport_and_peer_delivers_every_message_whole() {
    let out = std::env::temp_dir().join(format!("ipclane-compare-smoke-{}", std::process::id()));
    let out_arg = out.display().to_string();
    let args = Args::parse_from([
        "ipclane-bench",
        "--quick",
        "--sizes",
        "64,64KiB",
        "--out",
        &out_arg,
    ]);
    let results = run::run(&Launcher::test_entry("peer_entry"), &args).expect("a run");

    assert_eq!(results.rows.len(), Transport::ALL.len() * 2);
    for row in &results.rows {
        let latency = row.latency.expect("every row pings");
        assert!(
            latency.count > 0,
            "{} at {}: no round trip",
            row.transport,
            row.size
        );
        let streams = Transport::from_label(&row.transport)
            .expect("a known transport")
            .streams();
        assert_eq!(row.stream.is_some(), streams, "{}", row.transport);
        if let Some(stream) = row.stream {
            assert!(
                stream.messages > 0,
                "{} at {}: nothing streamed",
                row.transport,
                row.size
            );
        }
    }
    // The blocking transports and busy-polling shm; the quick fan-out grid (three feeds
    // to each quick subscriber count at each quick rate); one subscriber under each wait
    // preset at each quick rate; the sidecar over unix and shm.
    let blocking = Transport::ALL
        .iter()
        .filter(|t| t.streams() && (!t.spins() || **t == Transport::ShmBusy))
        .count();
    assert_eq!(results.blocking.len(), blocking);
    let rates = QUICK_RATES.len();
    assert_eq!(results.fanout.len(), 3 * QUICK_SUBSCRIBERS.len() * rates);
    assert_eq!(results.presets.len(), 4 * rates);
    for f in results.fanout.iter().chain(&results.presets) {
        let what = format!("{} ({:?}) to {}", f.transport, f.wait, f.subscribers);
        assert!(f.latency.count > 0, "{what}: nothing delivered");
        assert!(f.missed < f.published * f.subscribers as u64, "{what}");
        assert!(f.worst_missed <= f.missed, "{what}");
        if f.transport.starts_with("ipclane pub/sub") {
            assert_eq!(f.announced, Some(f.missed), "{what}: missed but not told");
        }
        if f.transport.starts_with("ipclane unix") {
            assert_eq!(f.missed, 0, "{what}: a socket lost a message");
        }
    }
    // Beyond one machine, at the first remote size and rate: the bridged feed and plain
    // Zenoh (whose publisher waits for room, so loses nothing).
    assert_eq!(results.remote.len(), Feed::REMOTE.len());
    for f in &results.remote {
        assert!(f.latency.count > 0, "{}: nothing delivered", f.transport);
        assert_eq!(f.size, REMOTE_SIZES[0], "{}", f.transport);
        assert!(f.missed < f.published, "{}", f.transport);
        if f.transport == Feed::Zenoh.label() {
            assert_eq!(f.missed, 0, "plain Zenoh lost a message");
        }
    }
    assert_eq!(results.proxy.len(), 2);
    // Every ipclane row against its baseline (latency and stream), the shm rows against
    // iceoryx2 and busy-poll against the mailbox at 64 B.
    assert_eq!(results.pairs.len(), 13 + 12);
    assert!(!results.targets.is_empty());

    let written = report::write(&results, &out).expect("the report");
    for file in [
        "report.md",
        "results.json",
        "latency.svg",
        "throughput.svg",
        "fanout.svg",
    ] {
        assert!(
            written.iter().any(|p| p.ends_with(file)),
            "{file} missing from {written:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
