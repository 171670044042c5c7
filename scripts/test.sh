#!/usr/bin/env bash
# Every test of the workspace, each bounded in time:
# 1. the ordinary suite (unit, integration across processes, property tests) under
#    cargo-nextest, one process per test, killed and failed by name if it runs for more
#    than 4 minutes (.config/nextest.toml); installed from crates.io when missing;
#    then the facade with its optional features (typed messages, the async front end,
#    and the example run that needs them);
# 2. the doc tests (nextest does not run them), with and without those features;
# 3. the loom models of the lock-free protocols, which need their own build (`--cfg ipclane_loom`,
#    kept in target/loom so the two builds do not evict each other).
# Tests that cannot run here (no root, no invariant TSC, ...) say so and are listed and
# counted at the end. Long stress variants are #[ignore]d; run them by name (see
# crates/queue/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "== installing cargo-nextest (the test runner)"
    cargo install cargo-nextest --locked
fi

export IPCLANE_SKIP_LOG="$PWD/target/skipped-tests.txt"
mkdir -p target
: > "$IPCLANE_SKIP_LOG"

# Every package of the lock file, for every cfg: build_hygiene's `cargo tree --offline`
# resolves the loom build too, whose dependencies no ordinary build downloads (a fresh
# machine's cache lacked `generator`, loom's).
cargo fetch --locked

cargo nextest run --workspace

# The optional features (typed messages: serde, pod; the async front end: tokio): their
# tests, the example test that needs them (async subscribers), and the facade's unit tests
# built with them.
cargo nextest run -p ipclane --all-features -E 'binary(typed) | binary(tokio) | binary(tokio_pubsub) | (binary(examples) & test(async)) | kind(lib)'

cargo test --workspace --doc
cargo test -p ipclane --all-features --doc

RUSTFLAGS="--cfg ipclane_loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" CARGO_TARGET_DIR=target/loom \
    timeout 20m cargo test -p ipclane-queue --test loom --release

skipped=$(sort -u "$IPCLANE_SKIP_LOG" | sed '/^$/d')
if [ -n "$skipped" ]; then
    echo "== $(echo "$skipped" | wc -l) tests skipped at run time (they passed nothing):"
    echo "$skipped"
else
    echo "== no test skipped at run time"
fi
