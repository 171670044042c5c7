//! Passing file descriptors between processes (`SCM_RIGHTS`).

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::UdsError;

/// Most descriptors one message carries on Linux (`SCM_MAX_FD`).
pub const MAX_FDS: usize = 253;

/// Sends `data` with the descriptors `fds` attached (`SCM_RIGHTS`) on a connected Unix
/// socket of any type. The receiver gets its own descriptors for the same open files.
///
/// `data` must not be empty: on a stream socket, descriptors travel with the first byte
/// of the data. On a stream socket all of `data` is sent, across partial writes; the
/// descriptors go with the first part.
///
/// # Errors
///
/// [`UdsError::EmptyMessage`], [`UdsError::TooManyFds`] for more than [`MAX_FDS`],
/// [`UdsError::Disconnected`], or an OS error.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, Write};
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use ipclane_uds::{recv_fds, send_fds};
///
/// let (a, b) = UnixStream::pair()?;
/// let mut file = std::fs::File::from(rustix::fs::memfd_create("doc", rustix::fs::MemfdFlags::CLOEXEC)?);
/// file.write_all(b"shared")?;
/// send_fds(&a, b"x", &[file.as_fd()])?;
///
/// let mut buf = [0u8; 1];
/// let (n, fds) = recv_fds(&b, &mut buf, 1)?;
/// assert_eq!((n, fds.len()), (1, 1));
/// let mut received = std::fs::File::from(fds.into_iter().next().unwrap());
/// let mut text = String::new();
/// received.rewind()?;
/// received.read_to_string(&mut text)?;
/// assert_eq!(text, "shared");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "SCM_RIGHTS")]
pub fn send_fds(socket: impl AsFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), UdsError> {
    if data.is_empty() {
        return Err(UdsError::EmptyMessage);
    }
    if fds.len() > MAX_FDS {
        return Err(UdsError::TooManyFds {
            received: fds.len(),
            max: MAX_FDS,
        });
    }
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        unreachable!("the control buffer was sized for these descriptors");
    }
    let sent = loop {
        match rustix::net::sendmsg(
            &socket,
            &[IoSlice::new(data)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => break n,
            Err(Errno::INTR) => continue,
            Err(Errno::MSGSIZE) => return Err(crate::message::too_large(&socket, data.len())),
            Err(e) => return Err(UdsError::transfer("sendmsg", e)),
        }
    };
    // Stream sockets may take part of the data; the descriptors went with it.
    crate::io::send_all(&socket, &mut [IoSlice::new(&data[sent..])])
}

/// Receives data into `buf` and at most `max_fds` descriptors sent with
/// [`send_fds`] (`SCM_RIGHTS`). Returns the number of bytes received and the
/// descriptors, which are close-on-exec (`MSG_CMSG_CLOEXEC`).
///
/// Every descriptor not handed to the caller is closed: on any error, none leaks.
///
/// # Errors
///
/// [`UdsError::TooManyFds`] or [`UdsError::ControlTruncated`] when more descriptors
/// arrived than accepted (all are closed), [`UdsError::MessageTruncated`] when a message
/// on a datagram or seqpacket socket did not fit in `buf` (its descriptors are closed),
/// [`UdsError::Disconnected`], or an OS error. End of stream is `Ok((0, vec![]))`.
pub fn recv_fds(
    socket: impl AsFd,
    buf: &mut [u8],
    max_fds: usize,
) -> Result<(usize, Vec<OwnedFd>), UdsError> {
    let max_fds = max_fds.min(MAX_FDS);
    // On message sockets, TRUNC makes the kernel report a message's real length; on a
    // stream socket it would mean "discard", so it is left out there.
    let is_stream = rustix::net::sockopt::socket_type(&socket).map_err(|e| UdsError::Io {
        op: "getsockopt(SO_TYPE)",
        source: e.into(),
    })? == rustix::net::SocketType::STREAM;
    let flags = if is_stream {
        RecvFlags::CMSG_CLOEXEC
    } else {
        RecvFlags::CMSG_CLOEXEC | RecvFlags::TRUNC
    };
    // A socket that received with `SeqpacketStream::recv` or `DatagramSocket::recv` has
    // SO_PASSCRED on: the kernel then puts credentials before the descriptors.
    let passcred = rustix::net::sockopt::socket_passcred(&socket).map_err(|e| UdsError::Io {
        op: "getsockopt(SO_PASSCRED)",
        source: e.into(),
    })?;
    // One descriptor more than accepted fits, so that "too many" is seen as such rather
    // than as a truncation; anything beyond that truncates and the kernel closes it.
    let space_len = rustix::cmsg_space!(ScmRights(max_fds + 1))
        + if passcred {
            rustix::cmsg_space!(ScmCredentials(1))
        } else {
            0
        };
    let mut space = vec![MaybeUninit::uninit(); space_len];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let capacity = buf.len();
    let msg = loop {
        let mut iov = [IoSliceMut::new(buf)];
        match rustix::net::recvmsg(&socket, &mut iov, &mut control, flags) {
            Ok(msg) => break msg,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(UdsError::transfer("recvmsg", e)),
        }
    };
    // Take ownership of every descriptor that arrived first, so that each error below
    // closes them all (dropping an OwnedFd closes it).
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(UdsError::ControlTruncated);
    }
    if fds.len() > max_fds {
        return Err(UdsError::TooManyFds {
            received: fds.len(),
            max: max_fds,
        });
    }
    if msg.flags.contains(ReturnFlags::TRUNC) {
        return Err(UdsError::MessageTruncated {
            len: msg.bytes,
            capacity,
        });
    }
    Ok((msg.bytes.min(capacity), fds))
}
