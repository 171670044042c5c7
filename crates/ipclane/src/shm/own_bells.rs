//! An async half's own doorbells: made, their other ends sent to the peer, and drained
//! when they rang (the protocol is in `bell.rs`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SocketFlags, SocketType};

use super::control::Shared;
use super::wire;
use crate::{Error, uds};

/// The ends an async half keeps: what it awaits (non-blocking, for the reactor).
#[derive(Debug)]
pub(crate) struct OwnBells {
    /// Rung when data came.
    pub(crate) data: OwnedFd,
    /// Rung when room came.
    pub(crate) room: OwnedFd,
}

impl OwnBells {
    /// Makes both pairs and sends the peer its ends over `control`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] with no descriptor left, or when the socket refuses the message (the
    /// peer is gone: the connection's calls then say `Disconnected`).
    pub(crate) fn make_and_send(control: &Shared) -> Result<Self, Error> {
        let (data, data_ringer) = pair()?;
        let (room, room_ringer) = pair()?;
        uds::send_fds(
            control.socket(),
            &wire::BELLS_MESSAGE,
            &[data_ringer.as_fd(), room_ringer.as_fd()],
        )
        .map_err(|e| match e {
            uds::UdsError::Disconnected => Error::DISCONNECTED,
            other => other.into(),
        })?;
        Ok(Self { data, room })
    }
}

/// A datagram socket pair, both ends non-blocking and close-on-exec: (kept, sent).
fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::Io {
        op: "socketpair(AF_UNIX, SOCK_DGRAM) for a doorbell",
        source: e.into(),
    })
}

/// Takes every ring queued on `bell` (it is non-blocking): call before clearing its
/// readiness.
pub(crate) fn drain(bell: BorrowedFd<'_>) {
    let mut buf = [0u8; 16];
    // Bounded: a bell holds at most its buffer's worth of one-byte rings.
    for _ in 0..1024 {
        match rustix::net::recv(bell, &mut buf, RecvFlags::DONTWAIT) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}
