//! An async listener: the blocking listener's socket, non-blocking and registered with
//! tokio's reactor, so that `accept` waits for a client without a thread.

use ::tokio::io::Interest;

use super::Connection;
use super::ready::{Ready, waiting};
use crate::{Error, Url};

/// Accepts connections on one URL, as the blocking [`Listener`](crate::Listener) does
/// (same access policy, same options, same socket file removed on drop, same `ipclane
/// ls` record).
#[derive(Debug)]
pub struct Listener {
    inner: crate::Listener,
    ready: Ready,
}

impl Listener {
    pub(super) fn from_blocking(inner: crate::Listener) -> Result<Self, Error> {
        let socket = inner.socket().ok_or_else(super::connection::unserved)?;
        // Non-blocking, so that an `accept` after a readiness another task took returns
        // EAGAIN instead of waiting (the flag is the socket's: the blocking listener
        // inside sees it too, and is only called when ready).
        rustix::io::ioctl_fionbio(socket, true).map_err(|e| Error::Io {
            op: "make the listening socket non-blocking",
            source: e.into(),
        })?;
        let ready = Ready::new(socket, Interest::READABLE)?;
        Ok(Self { inner, ready })
    }

    /// Waits for the next connection.
    ///
    /// Cancel-safe: dropped before it completes, it accepted nobody (a client waiting
    /// stays in the backlog for the next call). Calls from several tasks take turns.
    ///
    /// # Errors
    ///
    /// Those of the blocking [`Listener::accept`](crate::Listener::accept): a client the
    /// access policy refuses (its connection is closed; call `accept` again), or an OS
    /// error. Out of descriptors, it waits 50 ms and tries once more, as the blocking one
    /// does, on the task's thread.
    pub async fn accept(&self) -> Result<Connection, Error> {
        loop {
            let mut readable = self.ready.0.readable().await.map_err(waiting)?;
            match self.inner.accept() {
                Ok(conn) => return Connection::from_blocking(conn),
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::AGAIN.raw_os_error()) => {
                    readable.clear_ready();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL it listens on: for `tcp://host:0`, with the port the system chose.
    pub fn url(&self) -> &Url {
        self.inner.url()
    }
}
