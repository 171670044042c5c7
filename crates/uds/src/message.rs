//! Sending and receiving whole messages on `SOCK_SEQPACKET` and `SOCK_DGRAM` sockets.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use bytes::Bytes;
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags, SocketAddrAny, SocketAddrUnix,
};

use crate::{UdsAddr, UdsError};

/// Default receive capacity: 256 KiB, above the largest message the default socket
/// buffers let through (212 960 bytes). Each socket keeps one buffer of its receive
/// capacity once it has received; messages are copied out of it.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 * 1024;

/// What Linux keeps of `SO_SNDBUF` for itself in every Unix message: `unix_dgram_sendmsg`
/// (seqpacket sends go through it too) refuses with `EMSGSIZE` a message longer than
/// `sk_sndbuf - 32`. Measured here (Linux 6.18), for seqpacket and datagram alike: with
/// the default 212 992-byte buffer 212 960 bytes go through and 212 961 do not; with a
/// 2 MiB buffer, 2 097 120 and 2 097 121.
const SNDBUF_RESERVE: usize = 32;

/// Largest message one send on the `SOCK_SEQPACKET` or `SOCK_DGRAM` socket `fd` carries:
/// its send buffer size minus [`SNDBUF_RESERVE`].
pub(crate) fn max_send_len(fd: impl AsFd) -> Result<usize, UdsError> {
    rustix::net::sockopt::socket_send_buffer_size(fd)
        .map(|n| n.saturating_sub(SNDBUF_RESERVE))
        .map_err(|e| UdsError::Io {
            op: "getsockopt(SO_SNDBUF)",
            source: e.into(),
        })
}

/// [`UdsError::TooLarge`] for a message of `len` bytes refused with `EMSGSIZE`.
pub(crate) fn too_large(fd: impl AsFd, len: usize) -> UdsError {
    UdsError::TooLarge {
        len: len as u64,
        max: max_send_len(fd).map_or(0, |n| n as u64),
    }
}

/// Sends `msg` as one message, to the connected peer or to `to`.
///
/// # Errors
///
/// [`UdsError::TooLarge`] (`EMSGSIZE`: more than the socket carries in one message,
/// [`max_send_len`]), [`UdsError::Disconnected`], or an OS error.
pub(crate) fn send(fd: impl AsFd, msg: &[u8], to: Option<&SocketAddrUnix>) -> Result<(), UdsError> {
    loop {
        let sent = match to {
            Some(addr) => rustix::net::sendto(&fd, msg, SendFlags::NOSIGNAL, addr),
            None => rustix::net::send(&fd, msg, SendFlags::NOSIGNAL),
        };
        return match sent {
            Ok(_) => Ok(()),
            Err(Errno::INTR) => continue,
            Err(Errno::MSGSIZE) => Err(too_large(&fd, msg.len())),
            Err(Errno::CONNREFUSED | Errno::NOENT) if to.is_some() => Err(UdsError::NotListening {
                addr: to.map(describe).unwrap_or_default(),
            }),
            Err(e) => Err(UdsError::transfer("send", e)),
        };
    }
}

/// What one receive got.
#[derive(Debug)]
pub(crate) enum Received {
    /// A message (possibly empty) and, when asked for, its sender's address.
    Message(Bytes, Option<UdsAddr>),
    /// No message: end of stream on seqpacket (the peer closed), or a datagram socket
    /// shut down for reading.
    End,
}

/// Receives whole messages through one reusable buffer.
///
/// Each message is received into a buffer of the receive capacity that the socket keeps,
/// and copied out into a [`Bytes`] of exactly its length: a retained message holds its
/// own bytes, not the capacity (a 1-byte message used to pin 256 KiB), and steady
/// traffic allocates only the messages returned.
///
/// To tell an empty message from the end of the stream, the socket receives with
/// `SO_PASSCRED` (enabled at the first receive): Linux attaches the sender's credentials
/// (`SCM_CREDENTIALS`) to every message it delivers, empty or not, and none to the
/// zero-byte return that means end of stream, which `recv(2)` alone cannot tell apart
/// (`unix_dgram_recvmsg` returns 0 for both). A side effect of `SO_PASSCRED`: when this
/// socket sends while unbound, the kernel binds it to an autobind abstract address.
/// The option is set once and not checked again: code that clears `SO_PASSCRED` on the
/// descriptor (through `as_fd`, or a duplicate of it) makes an empty message read as the
/// end of the stream.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// `max` bytes once a message was received; empty before.
    buf: Vec<u8>,
    max: usize,
    passcred: bool,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::new(),
            max: DEFAULT_MAX_MESSAGE_LEN,
            passcred: false,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Receives one message, with the sender's address when `from` is set.
    pub(crate) fn recv(&mut self, fd: impl AsFd, from: bool) -> Result<Received, UdsError> {
        Ok(match self.recv_with(fd, from, Bytes::copy_from_slice)? {
            Some((msg, addr)) => Received::Message(msg, addr),
            None => Received::End,
        })
    }

    /// Receives one message and hands it to `take` in place, in the reused buffer: `None`
    /// at the end of the stream.
    pub(crate) fn recv_with<T>(
        &mut self,
        fd: impl AsFd,
        from: bool,
        take: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<(T, Option<UdsAddr>)>, UdsError> {
        if !self.passcred {
            rustix::net::sockopt::set_socket_passcred(&fd, true).map_err(|e| UdsError::Io {
                op: "setsockopt(SO_PASSCRED)",
                source: e.into(),
            })?;
            self.passcred = true;
        }
        if self.buf.len() != self.max {
            // Zeroed memory comes from fresh pages; allocated once per socket and maximum.
            self.buf = vec![0; self.max];
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = loop {
            let mut iov = [IoSliceMut::new(&mut self.buf)];
            // TRUNC: the kernel reports the message's real length even when it did not
            // fit. CMSG_CLOEXEC: descriptors a peer sends do not fit the control buffer
            // (the kernel closes them), but would never leak across exec if they did.
            match rustix::net::recvmsg(
                &fd,
                &mut iov,
                &mut control,
                RecvFlags::TRUNC | RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(msg) => break msg,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(UdsError::transfer("recvmsg", e)),
            }
        };
        // Dropping any other control message (descriptors) closes what it holds.
        let delivered = control
            .drain()
            .any(|m| matches!(m, RecvAncillaryMessage::ScmCredentials(_)));
        if msg.bytes == 0 && !delivered {
            return Ok(None);
        }
        if msg.bytes > self.max {
            return Err(UdsError::MessageTruncated {
                len: msg.bytes,
                capacity: self.max,
            });
        }
        let addr = if from {
            msg.address.and_then(|a| to_uds_addr(&a))
        } else {
            None
        };
        Ok(Some((take(&self.buf[..msg.bytes]), addr)))
    }
}

/// The sender's address as a [`UdsAddr`], when it has one (unbound sockets have none).
fn to_uds_addr(addr: &SocketAddrAny) -> Option<UdsAddr> {
    let unix = SocketAddrUnix::try_from(addr.clone()).ok()?;
    if let Some(name) = unix.abstract_name() {
        return Some(UdsAddr::Abstract(name.to_vec()));
    }
    let path = unix.path_bytes()?;
    if path.is_empty() {
        return None;
    }
    use std::os::unix::ffi::OsStrExt;
    Some(UdsAddr::Path(std::ffi::OsStr::from_bytes(path).into()))
}

fn describe(addr: &SocketAddrUnix) -> String {
    match addr.abstract_name() {
        Some(name) => format!("@{}", String::from_utf8_lossy(name)),
        None => String::from_utf8_lossy(addr.path_bytes().unwrap_or_default()).into_owned(),
    }
}
