//! The system calls every socket type shares, each retrying `EINTR` and mapping its
//! errors the same way: sends that finish across partial writes, a receive, and the
//! socket timeouts.

use std::io::IoSlice;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags};

use crate::UdsError;

/// Most buffers one `sendmsg` takes (`IOV_MAX` on Linux).
const IOV_MAX: usize = 1024;

/// Sends every byte of `bytes` with `send`, across partial writes and `EINTR`.
pub(crate) fn send_one(fd: impl AsFd, mut bytes: &[u8]) -> Result<(), UdsError> {
    while !bytes.is_empty() {
        match rustix::net::send(&fd, bytes, SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => continue,
            Err(e) => return Err(UdsError::transfer("send", e)),
        }
    }
    Ok(())
}

/// Sends every byte of `slices`, in order, across partial writes and `EINTR`.
pub(crate) fn send_all(fd: impl AsFd, mut slices: &mut [IoSlice<'_>]) -> Result<(), UdsError> {
    IoSlice::advance_slices(&mut slices, 0); // skip leading empty slices
    while !slices.is_empty() {
        let batch = &slices[..slices.len().min(IOV_MAX)];
        let mut no_control = SendAncillaryBuffer::default();
        let sent = match rustix::net::sendmsg(&fd, batch, &mut no_control, SendFlags::NOSIGNAL) {
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(UdsError::transfer("sendmsg", e)),
        };
        IoSlice::advance_slices(&mut slices, sent);
    }
    Ok(())
}

/// One `recv` into `buf`; 0 at the end of the stream.
pub(crate) fn recv(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, UdsError> {
    loop {
        match rustix::net::recv(&fd, &mut *buf, RecvFlags::empty()) {
            Ok((n, _)) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(UdsError::transfer("recv", e)),
        }
    }
}

/// Sets the socket's read (`Timeout::Recv`, `SO_RCVTIMEO`) or write (`Timeout::Send`,
/// `SO_SNDTIMEO`) timeout; `None` waits forever. An expired one is [`UdsError::Timeout`].
pub(crate) fn set_timeout(
    fd: impl AsFd,
    which: Timeout,
    timeout: Option<Duration>,
) -> Result<(), UdsError> {
    let op = match which {
        Timeout::Recv => "setsockopt(SO_RCVTIMEO)",
        Timeout::Send => "setsockopt(SO_SNDTIMEO)",
    };
    rustix::net::sockopt::set_socket_timeout(fd, which, timeout).map_err(|e| UdsError::Io {
        op,
        source: e.into(),
    })
}
