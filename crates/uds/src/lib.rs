//! Unix domain sockets done properly: framing, message sockets, credentials, fd passing.
//!
//! **Status: not built yet.** This crate is reserved in the workspace so that the layers
//! above can be planned against it; it exports nothing until its pieces are implemented,
//! tested and measured (issue "ipclane-uds").
//!
//! What it will hold (see `docs/architecture.md`):
//!
//! - a sans-IO length-prefixed codec whose default wire format matches tokio-util's
//!   `LengthDelimitedCodec` (4-byte big-endian length, 8 MiB maximum), and a blocking
//!   `FramedStream` with vectored writes;
//! - `SOCK_SEQPACKET` and `SOCK_DGRAM` message sockets that keep boundaries and report
//!   truncation;
//! - a listener with a real lifecycle (mode 0600, abstract namespace, safe stale-socket
//!   reclaim, unlink on drop);
//! - peer credentials (`SO_PEERCRED`) with an access policy, and fd passing
//!   (`SCM_RIGHTS`) that never leaks a descriptor.
//!
//! It never depends on shared memory.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
