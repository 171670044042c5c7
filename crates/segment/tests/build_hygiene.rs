//! What a user of the published crates compiles: each enables only the rustix modules it
//! uses, so nobody builds `mount` (needed only by this crate's tests) or sockets for
//! shared memory.

use std::collections::BTreeSet;
use std::process::Command;

/// The rustix features a normal (not dev) build of `krate` enables, from `cargo tree`.
fn rustix_features(krate: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", krate, "-e", "normal,features"])
        .args(["-i", "rustix", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree for {krate}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("rustix feature \""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn each_published_crate_builds_only_the_rustix_modules_it_uses() {
    let modules = [
        "event", "fs", "mm", "mount", "net", "param", "pipe", "process", "pty", "thread", "time",
    ];
    let used = |krate| {
        let features = rustix_features(krate);
        modules
            .iter()
            .filter(|m| features.contains(**m))
            .copied()
            .collect::<Vec<_>>()
    };
    assert_eq!(used("ipclane-segment"), ["fs", "mm", "param", "process"]);
    // The queue adds futex and membarrier (`thread`), and the monotonic clock that
    // processes compare wake-up stamps on (`time`), to what the segment needs.
    assert_eq!(
        used("ipclane-queue"),
        ["fs", "mm", "param", "process", "thread", "time"]
    );
    assert_eq!(used("ipclane-uds"), ["fs", "net", "process", "thread"]);
}
