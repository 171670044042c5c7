//! What the two halves of a shared-memory connection share: its Unix socket, open while
//! either half lives, whether the connection was closed because the peer broke its
//! rings, and the peer's bells, which its rings' doorbells ring.
//!
//! A half that finds the peer's writes corrupt (`Corrupted`, or a `Protocol` violation:
//! fragments past the maximum) closes the whole connection: it marks it broken, closes
//! its own ring side, so an ipclane peer sees `Disconnected`, and shuts the socket down,
//! so a raw peer reads its end. The other half closes its side at its next call, and
//! every later call on either half is `Disconnected`.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;

use super::bell::{PeerBells, Which};
use crate::Error;
use crate::queue::Doorbell;
use crate::queue::QueueError;

/// The shared part of a shared-memory connection.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Open while either half lives; after the handshake only an async half's bells
    /// are sent on it (see [`bell`](super::bell)).
    socket: UnixStream,
    broken: AtomicBool,
    /// The peer's bells, once read.
    peer_bells: PeerBells,
}

impl Shared {
    pub(crate) fn new(socket: UnixStream) -> Self {
        Self {
            socket,
            broken: AtomicBool::new(false),
            peer_bells: PeerBells::default(),
        }
    }

    /// The connection's socket.
    pub(crate) fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// The peer's bells (read when first rung).
    pub(crate) fn peer_bells(&self) -> &PeerBells {
        &self.peer_bells
    }

    /// Whether a half closed the connection for the peer's corruption. Relaxed: the flag
    /// orders no data; it only makes the other half give up at its next call, and a call
    /// that misses it by a moment does what it would have done a moment earlier.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Closes the connection if `err` says the peer broke the rings; the caller then
    /// closes its own side.
    pub(crate) fn close_if_breach(&self, err: &Error) -> bool {
        let breach = matches!(
            err,
            Error::Queue(QueueError::Corrupted { .. }) | Error::Protocol { .. }
        );
        if breach {
            self.broken.store(true, Ordering::Relaxed);
            let _ = rustix::net::shutdown(&self.socket, rustix::net::Shutdown::Both);
        }
        breach
    }
}

/// A half of a shared-memory connection, as [`checked`] sees it.
pub(crate) trait Half {
    fn control(&self) -> &Shared;
    /// Closes this half's ring side (the peer then sees `Disconnected`).
    fn close_side(&mut self);
}

/// Runs `op` on `half`, unless the connection was closed for the peer's corruption
/// (`Disconnected`, and this half's side closed too), and closes the connection when `op`
/// finds the peer broke the rings. On the path of every message: one relaxed load when
/// all is well, the rest out of line.
#[inline]
pub(crate) fn checked<H: Half, T>(
    half: &mut H,
    op: impl FnOnce(&mut H) -> Result<T, Error>,
) -> Result<T, Error> {
    if half.control().is_broken() {
        return Err(closed(half));
    }
    match op(half) {
        Ok(done) => Ok(done),
        Err(e) => Err(on_error(half, e)),
    }
}

/// `Disconnected`, after closing this half's side of a connection already closed.
#[cold]
#[inline(never)]
fn closed<H: Half>(half: &mut H) -> Error {
    half.close_side();
    Error::DISCONNECTED
}

/// `err`, after closing the connection if it is the peer's breach.
#[cold]
#[inline(never)]
fn on_error<H: Half>(half: &mut H, err: Error) -> Error {
    if half.control().close_if_breach(&err) {
        half.close_side();
    }
    err
}

/// The doorbell one ring of a connection rings: the peer's bell `which`.
#[derive(Debug)]
pub(crate) struct PeerBell {
    control: Arc<Shared>,
    which: Which,
}

impl PeerBell {
    pub(crate) fn doorbell(control: Arc<Shared>, which: Which) -> Arc<dyn Doorbell> {
        Arc::new(Self { control, which })
    }
}

impl Doorbell for PeerBell {
    fn ring(&self) {
        self.control
            .peer_bells()
            .ring(self.control.socket(), self.which);
    }
}
