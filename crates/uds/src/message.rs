//! Sending and receiving whole messages on `SOCK_SEQPACKET` and `SOCK_DGRAM` sockets.

use std::os::fd::AsFd;

use bytes::{Bytes, BytesMut};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags, SocketAddrAny, SocketAddrUnix};

use crate::{UdsAddr, UdsError};

/// Default receive capacity: 256 KiB, above the largest message the default socket
/// buffers let through (about 208 KiB).
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 256 * 1024;

/// Sends `msg` as one message, to the connected peer or to `to`.
///
/// # Errors
///
/// [`UdsError::FrameTooLarge`] (`EMSGSIZE`: more than the socket carries in one message;
/// the limit reported is the socket's send buffer), [`UdsError::Disconnected`], or an OS
/// error.
pub(crate) fn send(fd: impl AsFd, msg: &[u8], to: Option<&SocketAddrUnix>) -> Result<(), UdsError> {
    loop {
        let sent = match to {
            Some(addr) => rustix::net::sendto(&fd, msg, SendFlags::NOSIGNAL, addr),
            None => rustix::net::send(&fd, msg, SendFlags::NOSIGNAL),
        };
        return match sent {
            Ok(_) => Ok(()),
            Err(Errno::INTR) => continue,
            Err(Errno::MSGSIZE) => Err(UdsError::FrameTooLarge {
                len: msg.len() as u64,
                max: rustix::net::sockopt::socket_send_buffer_size(&fd).map_or(0, |n| n as u64),
            }),
            Err(Errno::CONNREFUSED | Errno::NOENT) if to.is_some() => Err(UdsError::NotListening {
                addr: to.map(describe).unwrap_or_default(),
            }),
            Err(e) => Err(UdsError::transfer("send", e)),
        };
    }
}

/// Receives whole messages into one reusable buffer.
#[derive(Debug)]
pub(crate) struct Inbox {
    buf: BytesMut,
    max: usize,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            max: DEFAULT_MAX_MESSAGE_LEN,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Receives one message, without copying it out of the buffer, and the sender's
    /// address when `from` is set.
    pub(crate) fn recv(
        &mut self,
        fd: impl AsFd,
        from: bool,
    ) -> Result<(Bytes, Option<UdsAddr>), UdsError> {
        // Reclaims the memory of earlier messages once the caller dropped them.
        self.buf.reserve(self.max);
        let spare = &mut self.buf.spare_capacity_mut()[..self.max];
        let (got, len, addr) = loop {
            // TRUNC: the kernel reports the message's real length even when it did not fit.
            let result = if from {
                rustix::net::recvfrom(&fd, &mut *spare, RecvFlags::TRUNC)
                    .map(|((init, _), len, addr)| (init.len(), len, addr))
            } else {
                rustix::net::recv(&fd, &mut *spare, RecvFlags::TRUNC)
                    .map(|((init, _), len)| (init.len(), len, None))
            };
            match result {
                Ok(r) => break r,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(UdsError::transfer("recv", e)),
            }
        };
        if len > self.max {
            return Err(UdsError::MessageTruncated {
                len,
                capacity: self.max,
            });
        }
        // SAFETY: recv initialised the first `got` (== len) bytes of the spare capacity,
        // which starts at the buffer's current (zero) length.
        unsafe { self.buf.set_len(got) };
        Ok((
            self.buf.split().freeze(),
            addr.and_then(|a| to_uds_addr(&a)),
        ))
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
