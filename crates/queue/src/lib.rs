//! Lock-free queues that live inside an [`ipclane_segment`] shared-memory region.
//!
//! **Status: not built yet.** This crate is reserved in the workspace so that the layers
//! above can be planned against it; it exports nothing until its structures are
//! implemented, tested and measured (issue "ipclane-queue").
//!
//! What it will hold (see `docs/architecture.md`):
//!
//! - an SPSC byte ring with variable-length records, zero-copy reserve/commit and
//!   read/release, and batching;
//! - a bounded MPMC queue with a sequence number per slot;
//! - a broadcast ring (one writer, many readers that detect being lapped);
//! - a futex-based notifier in the region (spin, then park) so blocking calls cost no
//!   syscall while the peer keeps up;
//! - validation of every position and length read from the region, so a corrupted or
//!   hostile peer yields an error, never undefined behaviour.
//!
//! It depends on `ipclane-segment` only, and never on sockets.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
