//! The async receiving half. On a socket: the blocking receiver's non-blocking receive,
//! called when the reactor says the socket is readable. On shared memory: the ring,
//! looked at as the blocking receiver does, and where that one would sleep, the doorbell
//! awaited (see [`shm`](super::shm)).

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use ::tokio::io::Interest;
use bytes::Bytes;

use super::ready::{Ready, waiting};
use super::shm::{Attempt, Waits, until};
use crate::Error;
use crate::shm::{ConnectionShared, ShmReceiver};

/// The receiving half of a [`Connection`](super::Connection); `Send`, so another task
/// can own it.
#[derive(Debug)]
pub struct Receiver(Path);

#[derive(Debug)]
enum Path {
    Socket {
        inner: crate::Receiver,
        ready: Ready,
    },
    Shm {
        /// Behind a lock only for [`until`]'s sake: never contended.
        half: Mutex<ShmReceiver>,
        waits: Waits,
        shared: Arc<ConnectionShared>,
        url: Arc<str>,
    },
}

impl Receiver {
    /// A socket's receiver.
    pub(super) fn new(inner: crate::Receiver) -> Result<Self, Error> {
        let socket = inner.socket().ok_or_else(super::connection::unserved)?;
        let ready = Ready::new(socket, Interest::READABLE)?;
        Ok(Self(Path::Socket { inner, ready }))
    }

    /// A shared-memory receiver, woken by `bell` (its end of the data bell).
    pub(super) fn shm(half: ShmReceiver, bell: OwnedFd, url: Arc<str>) -> Result<Self, Error> {
        let shared = half.shared().clone();
        Ok(Self(Path::Shm {
            waits: Waits::new(bell, &shared)?,
            half: Mutex::new(half),
            shared,
            url,
        }))
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
        match &mut self.0 {
            Path::Socket { inner, ready } => loop {
                let mut readable = ready.0.readable().await.map_err(waiting)?;
                // `try_recv` reads until the socket has nothing more (EAGAIN) before it
                // says `None`: only then may the readiness be cleared, or an edge would
                // be lost.
                match inner.try_recv()? {
                    Some(msg) => return Ok(msg),
                    None => readable.clear_ready(),
                }
            },
            Path::Shm {
                half,
                waits,
                shared,
                url,
            } => until(waits, shared, half, |rx, attempt| match attempt {
                Attempt::First => rx.recv_spinning(),
                Attempt::Last => rx.try_recv(),
            })
            .await
            .map_err(|e| e.at(url)),
        }
    }

    /// What waiting cost this receiver on shared memory (see
    /// [`Receiver::wait_stats`](crate::Receiver::wait_stats)); `None` on sockets.
    pub fn wait_stats(&self) -> Option<crate::queue::WaitStats> {
        match &self.0 {
            Path::Socket { inner, .. } => inner.wait_stats(),
            Path::Shm { half, .. } => Some(
                half.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .wait_stats(),
            ),
        }
    }

    /// The next message if it has wholly arrived, `Ok(None)` if not (what arrived of it
    /// is kept).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        match &mut self.0 {
            Path::Socket { inner, .. } => inner.try_recv(),
            Path::Shm { half, url, .. } => half
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .try_recv()
                .map_err(|e| e.at(url)),
        }
    }
}
