//! `ipclane bridge`: runs `ipclane-bridge`, which lives in the crate ipclane-zenoh so that
//! nothing else pays for Zenoh's dependencies.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// The program that bridges.
const PROGRAM: &str = "ipclane-bridge";

/// Replaces this process with `ipclane-bridge ARGS`, found beside this program first, then
/// on `PATH`; returns only when it cannot be run.
pub(crate) fn run(args: &[String]) -> Result<(), ipclane::Error> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(PROGRAM))
        .filter(|path| path.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(PROGRAM));
    let failed = std::process::Command::new(&program).args(args).exec();
    Err(ipclane::Error::Io {
        op: "ipclane bridge: run ipclane-bridge (beside this program or on PATH; \
             `cargo install ipclane-zenoh` installs it)",
        source: failed,
    })
}
