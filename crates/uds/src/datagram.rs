//! `SOCK_DGRAM` Unix sockets: connectionless messages, boundaries kept.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use bytes::Bytes;
use rustix::net::SocketType;
use rustix::net::sockopt::Timeout;

use crate::bind::{Bound, SocketFile};
use crate::message::{self, Inbox, Received};
use crate::{UdsAddr, UdsError};

/// A Unix datagram socket. Every `send` arrives as exactly one `recv`, reliably and in
/// order (Unix datagrams are never dropped or reordered; a full receiver makes the
/// sender wait).
///
/// - A message larger than the socket can carry is [`UdsError::TooLarge`] at `send`.
/// - A message larger than the receive capacity ([`set_max_message_len`](Self::set_max_message_len),
///   default 256 KiB) is [`UdsError::MessageTruncated`] at `recv`, never returned short.
/// - **Zero-length datagrams are ordinary messages**: sent and received as empty [`Bytes`].
///   A datagram socket has no end of stream: a peer closing never makes `recv` return.
///   The one case where `recv(2)` returns 0 without a message, this socket having been
///   shut down for reading (`shutdown(SHUT_RD)` on it or a duplicate), is told apart
///   (with `SO_PASSCRED`, as on [`SeqpacketStream`](crate::SeqpacketStream::recv)) and
///   is [`UdsError::ReadShutdown`], never an empty message.
///
/// A socket bound to a path follows the listener lifecycle: mode 0600, stale file reclaim,
/// removal on drop.
///
/// # Examples
///
/// ```
/// use ipclane_uds::DatagramSocket;
///
/// let (a, mut b) = DatagramSocket::pair()?;
/// a.send(b"tick")?;
/// a.send(b"")?;
/// assert_eq!(&b.recv()?[..], b"tick");
/// assert!(b.recv()?.is_empty());
/// # Ok::<(), ipclane_uds::UdsError>(())
/// ```
#[derive(Debug)]
pub struct DatagramSocket {
    fd: OwnedFd,
    /// The address it is bound to, if any.
    addr: Option<UdsAddr>,
    /// Removes the socket file of a socket bound to a path when dropped.
    _file: Option<SocketFile>,
    inbox: Inbox,
}

impl DatagramSocket {
    fn wrap(fd: OwnedFd) -> Self {
        Self {
            fd,
            addr: None,
            _file: None,
            inbox: Inbox::new(),
        }
    }

    /// A socket bound to `addr` (mode 0600 for a path), to receive from anyone who sends
    /// to it.
    ///
    /// # Errors
    ///
    /// [`UdsError::AddrInUse`], [`UdsError::NotASocket`], [`UdsError::InvalidAddress`],
    /// or an OS error.
    pub fn bind(addr: &UdsAddr) -> Result<Self, UdsError> {
        let Bound { fd, addr, file } = crate::bind::bind(SocketType::DGRAM, addr, 0o600, None)?;
        Ok(Self {
            addr: Some(addr),
            _file: file,
            ..Self::wrap(fd)
        })
    }

    /// An unbound socket, to send with [`send_to`](Self::send_to) or after
    /// [`connect`](Self::connect).
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn unbound() -> Result<Self, UdsError> {
        Ok(Self::wrap(crate::bind::socket(SocketType::DGRAM)?))
    }

    /// Two connected sockets (`socketpair`).
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn pair() -> Result<(Self, Self), UdsError> {
        let (a, b) = crate::bind::pair(SocketType::DGRAM)?;
        Ok((Self::wrap(a), Self::wrap(b)))
    }

    /// Sets the default destination of [`send`](Self::send) and only receives from it.
    ///
    /// # Errors
    ///
    /// [`UdsError::NotListening`] when nothing is bound at `addr`, or an OS error.
    pub fn connect(&self, addr: &UdsAddr) -> Result<(), UdsError> {
        let sockaddr = addr.to_socket_addr()?;
        rustix::net::connect(&self.fd, &sockaddr)
            .map_err(|e| UdsError::connecting(&addr.to_string(), e))
    }

    /// Sends `msg` to the connected address.
    ///
    /// # Errors
    ///
    /// [`UdsError::TooLarge`] (over [`max_send_len`](Self::max_send_len), which it
    /// reports as `max`), [`UdsError::Disconnected`] (the peer socket closed),
    /// or an OS error.
    pub fn send(&self, msg: &[u8]) -> Result<(), UdsError> {
        message::send(&self.fd, msg, None)
    }

    /// Sends `msg` to `addr`.
    ///
    /// # Errors
    ///
    /// [`UdsError::NotListening`] when nothing is bound at `addr`, those of
    /// [`send`](Self::send), or [`UdsError::InvalidAddress`].
    pub fn send_to(&self, msg: &[u8], addr: &UdsAddr) -> Result<(), UdsError> {
        message::send(&self.fd, msg, Some(&addr.to_socket_addr()?))
    }

    /// Receives the next message. It owns exactly its bytes (copied out of a buffer of
    /// [`max_message_len`](Self::max_message_len) bytes that the socket reuses).
    ///
    /// The socket receives with `SO_PASSCRED` (enabled at the first call; see the type's
    /// docs). A side effect: if it then sends while unbound, the kernel gives it an
    /// autobind abstract address, which receivers see in `recv_from`.
    ///
    /// # Errors
    ///
    /// [`UdsError::MessageTruncated`] (the message is lost), [`UdsError::ReadShutdown`],
    /// or an OS error ([`UdsError::Timeout`] when the read timeout expired).
    pub fn recv(&mut self) -> Result<Bytes, UdsError> {
        Ok(self.recv_from_if(false)?.0)
    }

    /// Receives the next message and the address of its sender (`None` for an unbound
    /// sender).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn recv_from(&mut self) -> Result<(Bytes, Option<UdsAddr>), UdsError> {
        self.recv_from_if(true)
    }

    fn recv_from_if(&mut self, from: bool) -> Result<(Bytes, Option<UdsAddr>), UdsError> {
        match self.inbox.recv(&self.fd, from)? {
            Received::Message(msg, addr) => Ok((msg, addr)),
            Received::End => Err(UdsError::ReadShutdown),
        }
    }

    /// Largest message [`send`](Self::send) and [`send_to`](Self::send_to) accept: the
    /// socket's send buffer size (`SO_SNDBUF`) minus the 32 bytes Linux keeps of it.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn max_send_len(&self) -> Result<usize, UdsError> {
        message::max_send_len(&self.fd)
    }

    /// Largest message `recv` accepts (default 256 KiB).
    pub fn max_message_len(&self) -> usize {
        self.inbox.max()
    }

    /// Sets the largest message `recv` accepts.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.inbox.set_max(max);
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> Option<&UdsAddr> {
        self.addr.as_ref()
    }

    /// Sets how long `recv` waits before failing with [`UdsError::Timeout`] (`None`:
    /// forever): the socket's `SO_RCVTIMEO`.
    ///
    /// # Errors
    ///
    /// An OS error.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), UdsError> {
        crate::io::set_timeout(&self.fd, Timeout::Recv, timeout)
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

impl AsFd for DatagramSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
