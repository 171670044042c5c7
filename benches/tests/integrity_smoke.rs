//! The bench's quick mode between real processes, as CI runs it: every row, raw and
//! ipclane, delivers every message whole and in order (a peer or the measuring side
//! panics on the first lost, repeated, reordered or torn message). It asserts no timing.

use ipclane_bench::cpu::Placement;
use ipclane_bench::peer::{self, Launcher};
use ipclane_bench::queue_targets::{self, Options};
use ipclane_bench::{facade_targets, uds_targets};

/// The peers of the test below run here (started by name, with their role in the
/// environment); run alone, it has nothing to do.
#[test]
#[ignore = "entry point of the bench's peer processes"]
fn peer_entry() {
    if let Some((role, args)) = peer::role() {
        assert!(
            queue_targets::play(&role, &args)
                || uds_targets::play(&role, &args)
                || facade_targets::play(&role, &args),
            "unknown peer role {role}"
        );
    }
}

fn quick() -> Options {
    Options {
        quick: true,
        filters: Vec::new(),
        placement: Placement::distinct(),
    }
}

#[test]
fn every_queue_target_row_delivers_every_message_whole() {
    let verdicts = queue_targets::run(&Launcher::test_entry("peer_entry"), &quick());
    // SPSC: nine latencies (three sizes against three baselines), eight streams (two
    // baselines, two rings, two regimes), the wake-up and the blocking stream; MPMC: a
    // latency and two streams; broadcast: a latency. Every row ran to its end.
    assert_eq!(verdicts.len(), 23, "{verdicts:?}");
}

#[test]
fn every_uds_target_row_delivers_every_message_whole() {
    let verdicts = uds_targets::run(&Launcher::test_entry("peer_entry"), &quick());
    // A round trip and a stream at each of four sizes, and a stream against the same
    // bytes on the wire at 64 B and 4 KiB.
    assert_eq!(verdicts.len(), 10, "{verdicts:?}");
}

#[test]
fn every_facade_target_row_delivers_every_message_whole() {
    let verdicts = facade_targets::run(&Launcher::test_entry("peer_entry"), &quick());
    // The shm latency, two shm streams, the steady stream and its wake calls, and the
    // unix round trip at three sizes.
    assert_eq!(verdicts.len(), 8, "{verdicts:?}");
}
