//! Benchmarks of ipclane, and the harness under them.
//!
//! - [`integrity`]: every message stamped by its sender and checked whole by its
//!   receiver, on every row, raw or ipclane.
//! - [`endpoint`]: the two ends of a channel, and the drivers (ping-pong, stream,
//!   wake-up) that measure any transport with the same work per message.
//! - [`raw`]: the raw shared-memory baselines (mailbox, futex mailbox, minimal rings of
//!   each shape); [`spsc`], [`mpmc`], [`broadcast`]: ipclane's queues as measured
//!   transports.
//! - [`cpu`], [`floor`], [`peer`], [`stats`]: pinning, the cache-line floor measured
//!   beside every row, peer processes, and percentiles (hdrhistogram).
//! - [`instructions`]: instructions per message on the hot paths (callgrind).
//! - [`turns`]: the turns of a batched stream (the producer running ahead, held still).
//! - [`uds`]: Unix stream sockets as measured transports, framed and raw; [`facade`]:
//!   the facade's connections over any URL.
//! - [`queue_targets`] and [`uds_targets`]: each layer's targets, each ipclane row
//!   beside its raw baseline (`cargo bench -p ipclane-bench --bench queue_targets`,
//!   `--bench uds`); the figures and what explains them: `docs/performance.md`.
//! - [`facade_targets`]: the facade against the layers it stands on (`--bench
//!   facade_targets`).
//!
//! The criterion benches (`benches/`) time in-process operations of each layer.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod broadcast;
pub mod compare;
pub mod cpu;
pub mod endpoint;
pub mod facade;
pub mod facade_targets;
pub mod floor;
pub mod instructions;
pub mod integrity;
pub mod mpmc;
mod named;
pub mod peer;
pub mod queue_targets;
pub mod raw;
pub mod raw_io;
pub mod retry;
pub mod spsc;
pub mod stats;
pub mod turns;
pub mod uds;
pub mod uds_targets;
