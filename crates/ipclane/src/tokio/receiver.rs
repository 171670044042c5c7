//! The async receiving half: the blocking receiver's non-blocking receive, called when
//! the reactor says the socket is readable.

use ::tokio::io::Interest;
use bytes::Bytes;

use super::ready::{Ready, waiting};
use crate::Error;

/// The receiving half of a [`Connection`](super::Connection); `Send`, so another task
/// can own it.
#[derive(Debug)]
pub struct Receiver {
    inner: crate::Receiver,
    ready: Ready,
}

impl Receiver {
    pub(super) fn new(inner: crate::Receiver) -> Result<Self, Error> {
        let socket = inner.socket().ok_or_else(super::connection::unserved)?;
        let ready = Ready::new(socket, Interest::READABLE)?;
        Ok(Self { inner, ready })
    }

    /// The next message, waiting for it as long as needed.
    ///
    /// Cancel-safe: dropped before it completes, it took no message (what arrived of
    /// one stays in this receiver, and the next call continues it).
    ///
    /// # Errors
    ///
    /// Those of the blocking [`Receiver::recv`](crate::Receiver::recv):
    /// [`Error::Disconnected`] once the peer closed or died and every message it sent was
    /// received, [`Error::Protocol`] for a peer that breaks the format.
    pub async fn recv(&mut self) -> Result<Bytes, Error> {
        loop {
            let mut readable = self.ready.0.readable().await.map_err(waiting)?;
            // `try_recv` reads until the socket has nothing more (EAGAIN) before it says
            // `None`: only then may the readiness be cleared, or an edge would be lost.
            match self.inner.try_recv()? {
                Some(msg) => return Ok(msg),
                None => readable.clear_ready(),
            }
        }
    }

    /// The next message if it has wholly arrived, `Ok(None)` if not (what arrived of it
    /// is kept).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        self.inner.try_recv()
    }
}
