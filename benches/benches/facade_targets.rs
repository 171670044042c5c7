//! The facade's targets between two processes, each facade row beside the layer it
//! stands on in the same run (`ipclane_bench::facade_targets` says what and how).
//!
//! ```text
//! cargo bench -p ipclane-bench --bench facade_targets [-- --quick] [latency|stream|steady|unix]
//! ```

use ipclane_bench::peer::{self, Launcher};
use ipclane_bench::queue_targets::{self, Options};
use ipclane_bench::{facade_targets, uds_targets};

fn main() {
    if let Some((role, args)) = peer::role() {
        let known = facade_targets::play(&role, &args)
            || queue_targets::play(&role, &args)
            || uds_targets::play(&role, &args);
        assert!(known, "unknown peer role {role}");
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("facade_targets: bench");
        return;
    }
    let options = Options::from_args(&args);
    facade_targets::run(&Launcher::binary(), &options);
}
