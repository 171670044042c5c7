//! `cargo run --release -p ipclane-bench`: shared memory or Unix sockets, and what does
//! each cost here? See [`ipclane_bench::compare`] and `docs/choosing.md`.

fn main() -> std::process::ExitCode {
    ipclane_bench::compare::main(&ipclane_bench::peer::Launcher::binary())
}
