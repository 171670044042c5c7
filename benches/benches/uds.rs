//! ipclane-uds's target between two processes: framed messaging on a Unix stream socket
//! against raw reads and writes of the payload alone, each framed row beside its raw
//! baseline in the same round, with the cache-line floor beside every round
//! (`ipclane_bench::uds_targets` says what and how).
//!
//! ```text
//! cargo bench -p ipclane-bench --bench uds [-- --quick] [roundtrip|stream]
//! ```
//!
//! The peer is this binary started again in a role (`ipclane_bench::peer`).

use ipclane_bench::peer::{self, Launcher};
use ipclane_bench::queue_targets::Options;
use ipclane_bench::uds_targets;

fn main() {
    if let Some((role, args)) = peer::role() {
        assert!(uds_targets::play(&role, &args), "unknown peer role {role}");
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("uds: bench");
        return;
    }
    let options = Options::from_args(&args);
    uds_targets::run(&Launcher::binary(), &options);
}
