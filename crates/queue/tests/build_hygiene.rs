//! What a downstream build of this crate pulls in: a user who loom-tests their own code
//! with `--cfg loom` must get this crate's ordinary atomics, not loom's (whose atomics
//! panic outside a loom model). The switch is namespaced: `--cfg ipclane_loom`.

use std::process::Command;

/// The normal dependencies of this crate that `cargo tree` lists with `rustflags`.
fn dependencies_with(rustflags: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "ipclane-queue", "-e", "normal"])
        .args(["--prefix", "none"])
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_downstream_cfg_loom_leaves_the_queue_on_std_atomics() {
    let loom = |tree: &str| tree.lines().any(|l| l.starts_with("loom "));
    assert!(
        !loom(&dependencies_with("--cfg loom")),
        "--cfg loom pulled loom into ipclane-queue"
    );
    assert!(
        loom(&dependencies_with("--cfg ipclane_loom")),
        "the crate's own switch brings loom in"
    );
}
