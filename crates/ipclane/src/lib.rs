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

mod connection;
mod error;
mod listener;
mod options;
mod poll;
mod pubsub;
mod seqpacket;
pub mod shm;
mod stream;
mod url;

pub use connection::{Connection, Receiver, Sender};
pub use error::Error;
pub use listener::Listener;
pub use options::{DEFAULT_MAX_MESSAGE_LEN, DEFAULT_RING_CAPACITY, Options};
pub use pubsub::{PublishOptions, Publisher, Start, Subscriber};
pub use url::{MAX_SOCKET_NAME, Url};

/// Listens on `url` with the default [`Options`].
///
/// # Errors
///
/// Those of [`Options::listen`].
pub fn listen(url: &str) -> Result<Listener, Error> {
    Options::default().listen(url)
}

/// Connects to `url` with the default [`Options`].
///
/// # Errors
///
/// Those of [`Options::connect`].
pub fn connect(url: &str) -> Result<Connection, Error> {
    Options::default().connect(url)
}

#[doc(inline)]
pub use ipclane_queue as queue;
#[doc(inline)]
pub use ipclane_segment as segment;
#[doc(inline)]
pub use ipclane_uds as uds;
