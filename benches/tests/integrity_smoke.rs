//! The bench's quick mode between real processes, as CI runs it: every row, raw and
//! ipclane, delivers every message whole and in order (a peer or the measuring side
//! panics on the first lost, repeated, reordered or torn message). It asserts no timing.

use ipclane_bench::cpu::Placement;
use ipclane_bench::peer::{self, Launcher};
use ipclane_bench::queue_targets::{self, Options};

/// The peers of the test below run here (started by name, with their role in the
/// environment); run alone, it has nothing to do.
#[test]
#[ignore = "entry point of the bench's peer processes"]
fn peer_entry() {
    if let Some((role, args)) = peer::role() {
        assert!(
            queue_targets::play(&role, &args),
            "unknown peer role {role}"
        );
    }
}

#[test]
fn every_queue_target_row_delivers_every_message_whole() {
    let options = Options {
        quick: true,
        filters: Vec::new(),
        placement: Placement::distinct(),
    };
    let verdicts = queue_targets::run(&Launcher::test_entry("peer_entry"), &options);
    // SPSC: three latencies, two streams, one wake-up; MPMC: a latency and a stream;
    // broadcast: a latency. Every row ran to its end.
    assert_eq!(verdicts.len(), 23, "{verdicts:?}");
}
