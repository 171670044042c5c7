//! Benchmarks of ipclane.
//!
//! - `benches/segment.rs` (criterion): cost of the segment lifecycle: creating, opening and
//!   dropping named and anonymous segments, and the liveness queries.
//!
//! The cross-process comparison binary (latency and throughput of every transport, with
//! raw baselines measured in the same run) will live here once the transports exist; see
//! `docs/architecture.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
