//! ipclane: fast, safe messages between processes, with one API over shared memory, Unix
//! sockets and TCP, addressed by URL.
//!
//! - [`listen`] and [`connect`] take a URL ([`Url`], `docs/urls.md`): `unix:///path` or
//!   `unix:@name` (framed Unix stream), `seqpacket:///path`, `shm:///path` (shared memory
//!   set up over a Unix socket), `tcp://host:port`. [`Options`] sets what users tune.
//! - A [`Connection`] splits into a [`Sender`] and a [`Receiver`], for two threads.
//!   Messages keep their boundaries and order, with the same maximum size, calls and
//!   errors ([`Error`]) on every transport. A local peer that closed or died is
//!   [`Error::Disconnected`] in bounded time (over TCP, a host that vanished is only
//!   noticed by TCP itself).
//! - [`Publisher`] and [`Subscriber`]: a feed fanned out to any number of processes
//!   through a broadcast ring in shared memory.
//! - The layers, re-exported for teams that want one: [`segment`] (shared-memory segment
//!   lifecycle), [`queue`] (lock-free rings in shared memory), [`uds`] (Unix-socket
//!   framing, credentials, descriptor passing).
//! - Optional features: `serde`, typed messages of serde types encoded with postcard
//!   (`TypedSender`, `TypedReceiver`, `TypedPublisher`, `TypedSubscriber`, the `typed`
//!   module); `pod`, plain-old-data types sent as their bytes (`send_pod`, `recv_pod`,
//!   `publish_pod`; zerocopy's traits), whose type a feed or an `shm:` connection can
//!   declare ([`MessageType`]) so that a peer of another type is refused at subscribe or
//!   connect; `tokio`, the async front end (the `tokio` module: `connect(url).await`,
//!   `recv().await`, cancel-safe, on every connection URL, `shm:` included, and feeds'
//!   async subscribers, woken by doorbells rather than a thread or a timer).
//!
//! # Example
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("ipclane-lib-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let url = format!("shm://{}", dir.join("echo.sock").display()); // or unix://, tcp://...
//! let listener = ipclane::listen(&url)?;
//! let client = std::thread::spawn(move || -> Result<bytes::Bytes, ipclane::Error> {
//!     let mut conn = ipclane::connect(&url)?;
//!     conn.send(b"hello")?;
//!     conn.recv()
//! });
//! let mut conn = listener.accept()?;
//! let msg = conn.recv()?;
//! conn.send(&msg)?;
//! assert_eq!(client.join().unwrap()?, &b"hello"[..]);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// No unsafe code, but for registering a descriptor with tokio's reactor (`tokio/ready.rs`,
// feature `tokio`), which tokio makes an unsafe call.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The workspace README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct WorkspaceReadmeDoctests;

mod announce;
mod buffer;
mod connection;
mod error;
mod feed_bells;
mod keyed;
mod listener;
mod liveness;
mod message_type;
mod options;
#[cfg(feature = "pod")]
mod pod;
mod poll;
mod pubsub;
mod reassembly;
mod seqpacket;
pub mod shm;
mod stream;
mod subscribers;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(feature = "serde")]
pub mod typed;
mod url;
mod writer;

pub use announce::{LISTENER_KIND, announced_url};
pub use connection::{Connection, Receiver, Sender};
pub use error::Error;
pub use feed_bells::BELLS_KIND;
pub use listener::Listener;
pub use message_type::{MESSAGE_TYPE_KIND, MessageType};
pub use options::{DEFAULT_MAX_MESSAGE_LEN, DEFAULT_RING_CAPACITY, Options};
pub use pubsub::{PublishOptions, Publisher, Start, SubscribeOptions, Subscriber};
pub use subscribers::{SUBSCRIBER_KIND, SubscriberInfo, subscribers};
#[cfg(feature = "serde")]
pub use typed::{TypedPublisher, TypedReceiver, TypedSender, TypedSubscriber};
pub use url::{MAX_SOCKET_NAME, Url};
pub use writer::MessageWriter;

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
