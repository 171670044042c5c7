//! The async front end (feature `tokio`): the blocking API's connections, awaited on a
//! tokio runtime, over every connection URL: `unix:`, `tcp:`, `seqpacket:` and `shm:`.
//!
//! - [`connect`] and [`listen`] (or [`Options::connect`](crate::Options::connect)'s
//!   settings through [`connect_with`] and [`listen_with`]) take the same URLs and give
//!   the same connections: the peer may be a blocking ipclane process, an async one, or
//!   any program speaking the wire format (`docs/wire-format.md`; a tokio-util
//!   `Framed` with `LengthDelimitedCodec::new()` on `unix:` and `tcp:`).
//! - [`Receiver::recv`] waits on the socket's readiness through tokio's reactor, with no
//!   thread of its own and no timer; [`Sender::send`] waits for room in the socket.
//! - On `shm:`, a half looks at its ring as the blocking one does (spinning while that
//!   pays, by the same [`WaitStrategy`](crate::queue::WaitStrategy)); where the blocking
//!   one would sleep on the futex, it awaits a *doorbell*: a datagram socket of its own,
//!   registered with the reactor, whose other end the peer's ring rings once the waiter
//!   count says an async waiter is parked (`docs/architecture.md`, "Doorbells"). A
//!   stream the receiver keeps up with costs no system call per message, as on the
//!   blocking path, and blocking and async peers mix on one connection. A peer that
//!   dies closes the connection's socket, which the half awaits too: `Disconnected`,
//!   without a timer.
//! - Both are **cancel-safe**, as tokio defines it: a `recv` future dropped before it
//!   completed (the losing branch of a `select!`) took no message, which stays next; a
//!   `send` future dropped before it completed sent nothing. What arrived of a message
//!   is kept in the receiver, and a message begun is finished by its sender (see
//!   [`Sender::send`]).
//! - Bounded waits are tokio's own: `tokio::time::timeout(d, rx.recv())` loses nothing,
//!   since `recv` is cancel-safe.
//!
//! - Feeds: [`Subscriber`] awaits a feed's messages the same way, its doorbell found by
//!   the publisher in the feed's table of bells (any number of async and blocking
//!   subscribers mix on a feed), and awaits the publisher's process through a pidfd: a
//!   publisher killed is `Disconnected` at once. Publishing never waits, so
//!   [`Publisher`] is the blocking one, which rings async subscribers as it wakes
//!   blocking ones.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ipclane::Error> {
//! let dir = std::env::temp_dir().join(format!("ipclane-tokio-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let url = format!("unix://{}", dir.join("echo.sock").display());
//! let listener = ipclane::tokio::listen(&url).await?;
//! let client = tokio::spawn(async move {
//!     let mut conn = ipclane::tokio::connect(&url).await?;
//!     conn.send(b"hello").await?;
//!     conn.recv().await
//! });
//! let mut conn = listener.accept().await?;
//! let msg = conn.recv().await?;
//! conn.send(&msg).await?;
//! assert_eq!(client.await.unwrap()?, &b"hello"[..]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

mod connection;
mod listener;
mod ready;
mod receiver;
mod sender;
mod shm;
mod subscriber;

pub use connection::Connection;
pub use listener::Listener;
pub use receiver::Receiver;
pub use sender::Sender;
pub use subscriber::{SUBSCRIBER_BACKSTOP, Subscriber};

/// Publishing never waits: the blocking [`Publisher`] serves async code
/// as it is, and rings the feed's async subscribers.
pub use crate::Publisher;

use crate::{Error, Options};

/// Connects to `url` with the default [`Options`].
///
/// # Errors
///
/// Those of [`connect_with`].
pub async fn connect(url: &str) -> Result<Connection, Error> {
    connect_with(url, &Options::default()).await
}

/// Connects to `url` with `options`, as [`Options::connect`] does. The connect itself
/// (a name lookup for `tcp:`, the connect timeout) runs on tokio's blocking pool.
///
/// # Errors
///
/// Those of [`Options::connect`]; [`Error::Io`] outside a tokio runtime.
pub async fn connect_with(url: &str, options: &Options) -> Result<Connection, Error> {
    let (url, options) = (url.to_owned(), options.clone());
    let conn = blocking(move || options.connect(&url)).await?;
    Connection::from_blocking(conn)
}

/// Listens on `url` with the default [`Options`].
///
/// # Errors
///
/// Those of [`listen_with`].
pub async fn listen(url: &str) -> Result<Listener, Error> {
    listen_with(url, &Options::default()).await
}

/// Listens on `url` with `options`, as [`Options::listen`] does (binding runs on tokio's
/// blocking pool: a `tcp:` host name is looked up).
///
/// # Errors
///
/// Those of [`Options::listen`]; [`Error::Io`] outside a tokio runtime.
pub async fn listen_with(url: &str, options: &Options) -> Result<Listener, Error> {
    let (url, options) = (url.to_owned(), options.clone());
    let listener = blocking(move || options.listen(&url)).await?;
    Listener::from_blocking(listener)
}

/// Runs `f` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    ready::runtime()?;
    ::tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io {
            op: "run the blocking connect",
            source: std::io::Error::other(e.to_string()),
        })?
}
