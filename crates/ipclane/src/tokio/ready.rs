//! A socket's readiness, from tokio's reactor: a duplicate of the socket's descriptor,
//! registered for one direction, so that the two halves of a connection (two tasks) each
//! wait on their own.

use std::os::fd::{BorrowedFd, OwnedFd};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use crate::Error;

/// One direction of a socket, registered with the current runtime's reactor.
#[derive(Debug)]
pub(super) struct Ready(pub(super) AsyncFd<OwnedFd>);

impl Ready {
    /// Registers a duplicate of `socket` for `interest`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime (or one without its I/O driver), or with no
    /// descriptor left.
    #[allow(
        unsafe_code,
        reason = "tokio's registration of a descriptor is unsafe (it cannot check that the \
                  descriptor outlives it): the one unsafe block of the facade"
    )]
    pub(super) fn new(socket: BorrowedFd<'_>, interest: Interest) -> Result<Self, Error> {
        runtime()?;
        let dup = socket.try_clone_to_owned().map_err(|source| Error::Io {
            op: "dup the socket for the tokio reactor",
            source,
        })?;
        // SAFETY: the AsyncFd owns `dup`, an open descriptor of its own (not shared with
        // the blocking half, which holds another): it stays open, on the same open file
        // description, until the AsyncFd drops it, and `OwnedFd::as_raw_fd` always
        // returns that same number.
        unsafe { AsyncFd::register_with_interest(dup, interest) }
            .map(Self)
            .map_err(|source| Error::Io {
                op: "register the socket with the tokio reactor",
                source: source.into(),
            })
    }
}

/// `Ok` inside a tokio runtime; tokio panics where there is none, this says so instead.
pub(super) fn runtime() -> Result<(), Error> {
    ::tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|e| Error::Io {
            op: "find the tokio runtime (ipclane::tokio runs inside one)",
            source: std::io::Error::other(e.to_string()),
        })
}

/// The error of waiting on the reactor (it shut down).
pub(super) fn waiting(source: std::io::Error) -> Error {
    Error::Io {
        op: "wait on the tokio reactor",
        source,
    }
}
