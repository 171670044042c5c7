//! ipclane: fast, safe inter-process communication on one Linux machine.
//!
//! This facade re-exports each layer as a module, so an application can depend on one
//! crate and reach every layer:
//!
//! - [`segment`]: shared-memory segment lifecycle (create, open, validate, own, seal, gc).
//! - [`queue`]: lock-free SPSC, MPMC and broadcast rings in shared memory, futex wake-up.
//! - [`uds`]: Unix-socket framing, message sockets, listener lifecycle, credentials and
//!   descriptor passing.
//!
//! The unified `Sender`/`Receiver` API over shared memory, Unix sockets and TCP, addressed
//! by URL, and the `ipclane` command-line tool come on top of those layers (see
//! `docs/architecture.md`); nothing of them is exported until they are built.
//!
//! # Example
//!
//! ```
//! use ipclane::segment::Segment;
//!
//! let seg = Segment::anonymous("facade-doc").size(4096).create()?;
//! seg.region().write(0, b"hello")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

#[doc(inline)]
pub use ipclane_queue as queue;
#[doc(inline)]
pub use ipclane_segment as segment;
#[doc(inline)]
pub use ipclane_uds as uds;
