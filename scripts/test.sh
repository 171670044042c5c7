#!/usr/bin/env bash
# Every test of the workspace: the ordinary suite (unit, integration across processes,
# property tests, doc tests), then the loom models of the lock-free protocols, which need
# their own build (`--cfg loom`, kept in target/loom so the two builds do not evict each
# other). Long stress variants are #[ignore]d; run them by name (see crates/queue/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --workspace

RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" CARGO_TARGET_DIR=target/loom \
    cargo test -p ipclane-queue --test loom --release
