//! Connected `SOCK_SEQPACKET` sockets: reliable, ordered, message boundaries kept.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use bytes::Bytes;
use rustix::net::SocketType;

use crate::message::{self, Inbox, Received};
use crate::{PeerCredentials, UdsAddr, UdsError};

/// A connected `SOCK_SEQPACKET` socket: like a stream (reliable, ordered, connected,
/// peer credentials), but every `send` arrives as exactly one `recv`.
///
/// Messages:
/// - a message larger than the socket can carry is [`UdsError::TooLarge`] at `send`;
/// - a message larger than the receive capacity ([`set_max_message_len`](Self::set_max_message_len),
///   default 256 KiB) is [`UdsError::MessageTruncated`] at `recv`, never returned short;
/// - **zero-length messages**: [`send`](Self::send) refuses them
///   ([`UdsError::EmptyMessage`]), since a receiver using plain `recv(2)` cannot tell one
///   from the peer closing the connection. [`recv`](Self::recv) does tell them apart
///   (see there): an empty message from a foreign peer is `Ok(Some(empty))`, and
///   `Ok(None)` always means the peer closed.
///
/// # Examples
///
/// ```
/// use ipclane_uds::SeqpacketStream;
///
/// let (a, mut b) = SeqpacketStream::pair()?;
/// a.send(b"first")?;
/// a.send(b"second")?;
/// assert_eq!(b.recv()?.as_deref(), Some(&b"first"[..]));
/// assert_eq!(b.recv()?.as_deref(), Some(&b"second"[..]));
/// drop(a);
/// assert_eq!(b.recv()?, None);
/// # Ok::<(), ipclane_uds::UdsError>(())
/// ```
#[derive(Debug)]
pub struct SeqpacketStream {
    fd: OwnedFd,
    inbox: Inbox,
}

impl From<OwnedFd> for SeqpacketStream {
    /// Wraps a connected `SOCK_SEQPACKET` socket.
    fn from(fd: OwnedFd) -> Self {
        Self {
            fd,
            inbox: Inbox::new(),
        }
    }
}

impl SeqpacketStream {
    /// Connects to a [`SeqpacketListener`](crate::SeqpacketListener) at `addr`.
    ///
    /// # Errors
    ///
    /// [`UdsError::NotListening`], [`UdsError::PermissionDenied`],
    /// [`UdsError::InvalidAddress`], or an OS error.
    pub fn connect(addr: &UdsAddr) -> Result<Self, UdsError> {
        Ok(Self::from(crate::bind::connect(
            SocketType::SEQPACKET,
            addr,
        )?))
    }

    /// Two connected sockets (`socketpair`), for example to hand one to a child process.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn pair() -> Result<(Self, Self), UdsError> {
        let (a, b) = crate::bind::pair(SocketType::SEQPACKET)?;
        Ok((Self::from(a), Self::from(b)))
    }

    /// Sends `msg` as one message.
    ///
    /// # Errors
    ///
    /// [`UdsError::EmptyMessage`] for an empty `msg`, [`UdsError::TooLarge`] (over
    /// [`max_send_len`](Self::max_send_len), which it reports as `max`),
    /// [`UdsError::Disconnected`], or an OS error.
    pub fn send(&self, msg: &[u8]) -> Result<(), UdsError> {
        if msg.is_empty() {
            return Err(UdsError::EmptyMessage);
        }
        message::send(&self.fd, msg, None)
    }

    /// Receives the next message; `Ok(None)` when the peer closed the connection (or
    /// this socket was shut down for reading) and no message is left.
    ///
    /// A zero-length message, which a foreign peer may send, is `Ok(Some(empty))` and the
    /// connection stays open. On a seqpacket socket `recv(2)` returns 0 both for such a
    /// message and at the end of the stream; this socket receives with `SO_PASSCRED`
    /// (enabled at the first call), so every message arrives with its sender's
    /// credentials and the end of the stream without any, which tells them apart. A side
    /// effect: if this socket then sends while unbound (a `connect`ed or `pair` socket),
    /// the kernel gives it an autobind abstract address, visible to the peer. Do not
    /// clear `SO_PASSCRED` on its descriptor: an empty message would then read as the end
    /// of the stream.
    ///
    /// The returned message owns exactly its bytes (copied out of a buffer of
    /// [`max_message_len`](Self::max_message_len) bytes that the socket reuses).
    ///
    /// # Errors
    ///
    /// [`UdsError::MessageTruncated`] (the message is lost; the connection stays usable),
    /// [`UdsError::Disconnected`], or an OS error ([`UdsError::Timeout`] when the read timeout expired).
    pub fn recv(&mut self) -> Result<Option<Bytes>, UdsError> {
        Ok(match self.inbox.recv(&self.fd, false)? {
            Received::Message(msg, _) => Some(msg),
            Received::End => None,
        })
    }

    /// Like [`recv`](Self::recv), handing the message to `take` in place (in the
    /// socket's reused receive buffer) instead of copying it into a new [`Bytes`]: no
    /// allocation per message. `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// Those of `recv`.
    ///
    /// ```
    /// use ipclane_uds::SeqpacketStream;
    ///
    /// let (a, mut b) = SeqpacketStream::pair()?;
    /// a.send(b"in place")?;
    /// let mut out = Vec::with_capacity(64);
    /// assert_eq!(b.recv_with(|msg| out.extend_from_slice(msg))?, Some(()));
    /// assert_eq!(out, b"in place");
    /// # Ok::<(), ipclane_uds::UdsError>(())
    /// ```
    pub fn recv_with<T>(&mut self, take: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, UdsError> {
        Ok(self.inbox.recv_with(&self.fd, false, take)?.map(|(t, _)| t))
    }

    /// Largest message [`send`](Self::send) accepts: the socket's send buffer size
    /// (`SO_SNDBUF`) minus the 32 bytes Linux keeps of it.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn max_send_len(&self) -> Result<usize, UdsError> {
        message::max_send_len(&self.fd)
    }

    /// Largest message [`recv`](Self::recv) accepts (default 256 KiB).
    pub fn max_message_len(&self) -> usize {
        self.inbox.max()
    }

    /// Sets the largest message [`recv`](Self::recv) accepts.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.inbox.set_max(max);
    }

    /// Credentials of the peer.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn peer_credentials(&self) -> Result<PeerCredentials, UdsError> {
        crate::peer_credentials(&self.fd)
    }

    /// Sets how long `recv` waits before failing with [`UdsError::Timeout`] (`None`:
    /// forever): the socket's `SO_RCVTIMEO`.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), UdsError> {
        crate::io::set_timeout(&self.fd, rustix::net::sockopt::Timeout::Recv, timeout)
    }

    /// Sets how long `send` waits for room before failing with [`UdsError::Timeout`]
    /// (`None`: forever): the socket's `SO_SNDTIMEO`.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<(), UdsError> {
        crate::io::set_timeout(&self.fd, rustix::net::sockopt::Timeout::Send, timeout)
    }
}

impl AsFd for SeqpacketStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
