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
//! On top of them, the facade's own items so far:
//!
//! - [`Url`]: where a connection goes, `unix:`, `seqpacket:`, `tcp:` or `shm:`
//!   (`docs/urls.md`), parsed and validated before any socket exists.
//! - [`Error`]: one error type, carrying each layer's error whole (`From` for each).
//!
//! The `Sender`/`Receiver` API addressed by these URLs and the `ipclane` command-line
//! tool come next (see `docs/architecture.md`); nothing of them is exported until it is
//! built.
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

mod error;
mod url;

pub use error::Error;
pub use url::{MAX_SOCKET_NAME, Url};

#[doc(inline)]
pub use ipclane_queue as queue;
#[doc(inline)]
pub use ipclane_segment as segment;
#[doc(inline)]
pub use ipclane_uds as uds;
