//! Doorbells: how an async half of a shared-memory connection is woken (this file: the
//! peer's bells, which this side rings; `own_bells.rs`: an async half's own).
//!
//! An async waiter cannot sleep on the ring's futex. Its connection makes two datagram
//! socket pairs, one per direction it may wait in (for data, for room), keeps one end of
//! each (registered with tokio), and sends the other ends to the peer over the
//! connection's Unix socket: the message `IPCL`, version, status 4 ("bells"), two zero
//! bytes, with the two descriptors attached (`SCM_RIGHTS`), first the one the peer's
//! producer rings, then the one its consumer rings. It sends them before it first arms a
//! wait, and only then; a peer that never waits async never sends any.
//!
//! The peer's rings set a `PeerBell` (`control.rs`) as their doorbell, on every connection: it costs
//! nothing until the waiter count says an async waiter is parked (see `ipclane-queue`'s
//! "Async waiting"). The first ring then reads the bells message (without waiting: it was
//! sent before the waiter armed), checks each descriptor is a Unix datagram socket, and
//! every ring sends one byte with `MSG_DONTWAIT`, so a peer that stops reading its bell
//! (or shares the file description and plays with its flags) can fill it, never block
//! the ringer; the ring is then dropped, and only that peer's own wait goes unwoken.
//!
//! Why sockets and not eventfds: a peer holding an eventfd's file description can set
//! its counter to the maximum and clear `O_NONBLOCK`, and the next write of the ringer
//! blocks for ever; `MSG_DONTWAIT` is a flag of the call, not of the description.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Mutex, PoisonError};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags, SocketType,
};

use super::wire;

/// Which of the peer's two bells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// Rung by this side's producer: wakes the peer's async receive.
    Data = 0,
    /// Rung by this side's consumer: wakes the peer's async send.
    Room = 1,
}

/// What this side knows of the peer's bells.
#[derive(Debug, Default)]
enum Known {
    /// No bells message read yet.
    #[default]
    Unread,
    /// The peer's two ringer ends.
    Bells([OwnedFd; 2]),
    /// The peer sent something else, or bells that are not datagram sockets: never rung.
    Refused,
}

/// The peer's bells, read from the connection's socket the first time one is needed.
#[derive(Debug, Default)]
pub(crate) struct PeerBells(Mutex<Known>);

/// What a look at the connection's socket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Nothing more to read now.
    Quiet,
    /// The peer closed its end of the socket (it closed or died).
    Closed,
}

impl PeerBells {
    /// Rings the peer's bell `which`, reading the bells from the connection's `socket`
    /// first if they are not yet.
    pub(crate) fn ring(&self, socket: BorrowedFd<'_>, which: Which) {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*known, Known::Unread) {
            read(socket, &mut known);
        }
        if let Known::Bells(bells) = &*known {
            // A full bell, or one whose reader is gone: only its owner loses.
            let _ = rustix::net::send(
                &bells[which as usize],
                &[1],
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            );
        }
    }

    #[cfg(feature = "tokio")]
    /// Reads what the peer sent on the connection's socket (its bells, the first time),
    /// without waiting: an async waiter watching the socket for the peer's end calls it
    /// when the socket is readable.
    pub(crate) fn look(&self, socket: BorrowedFd<'_>) -> Look {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        read(socket, &mut known)
    }
}

/// Reads the socket until it has nothing more, keeping the first bells message if no
/// bells were read yet; anything else is read and dropped (the peer sends nothing else).
fn read(socket: BorrowedFd<'_>, known: &mut Known) -> Look {
    // Bounded: a hostile peer's stream of bytes is read a little at a time.
    for _ in 0..64 {
        let mut buf = [0u8; wire::MESSAGE_LEN];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
        );
        let msg = match received {
            Ok(msg) => msg,
            Err(Errno::INTR) => continue,
            // Nothing more (or an error that reading again will tell again).
            Err(_) => return Look::Quiet,
        };
        let fds: Vec<OwnedFd> = control
            .drain()
            .filter_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => Some(fds),
                _ => None,
            })
            .flatten()
            .collect();
        if msg.bytes == 0 {
            return Look::Closed;
        }
        if matches!(known, Known::Unread) {
            *known = match <[OwnedFd; 2]>::try_from(fds) {
                Ok(bells)
                    if msg.bytes == wire::MESSAGE_LEN
                        && buf == wire::BELLS_MESSAGE
                        && bells.iter().all(is_datagram_socket) =>
                {
                    Known::Bells(bells)
                }
                _ => Known::Refused,
            };
        }
    }
    Look::Quiet
}

/// Whether `fd` is a Unix datagram socket, as a bell must be.
fn is_datagram_socket(fd: &OwnedFd) -> bool {
    rustix::net::sockopt::socket_type(fd).is_ok_and(|t| t == SocketType::DGRAM)
        && rustix::net::sockopt::socket_domain(fd).is_ok_and(|d| d == AddressFamily::UNIX)
}
