//! The queue's performance targets between two processes, each ipclane row beside its
//! raw baseline in the same run (`ipclane_bench::queue_targets` says what and how).
//!
//! ```text
//! cargo bench -p ipclane-bench --bench queue_targets [-- --quick] [latency|stream|wake]
//! ```
//!
//! The peer is this binary started again in a role (`ipclane_bench::peer`). Read the
//! ratios of one run, each beside the cache-line floor it sat on, not absolute times.

use ipclane_bench::peer::{self, Launcher};
use ipclane_bench::queue_targets::{self, Options};

fn main() {
    if let Some((role, args)) = peer::role() {
        assert!(
            queue_targets::play(&role, &args),
            "unknown peer role {role}"
        );
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("queue_targets: bench");
        return;
    }
    let options = Options::from_args(&args);
    queue_targets::run(&Launcher::binary(), &options);
}
