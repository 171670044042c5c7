//! The client's side of the handshake: hello, the server's reply with the rings, attach,
//! "attached". It blocks, each read bounded by the time left of the handshake timeout.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wire::{self, ATTACHED_MESSAGE, HANDSHAKE_VERSION, MESSAGE_LEN};
use super::{Shared, ShmReceiver, ShmSender};
use crate::queue::{Consumer, Producer, QueueError, SpscRing};
use crate::segment::SegmentError;
use crate::uds::{self, PeerCredentials};
use crate::{Error, Options};

/// The end of a handshake: every read of it is bounded by the time left, so a server that
/// trickles its bytes cannot stretch the handshake past its timeout. `None`: a timeout
/// too long to reach is none (as on the server's side).
#[derive(Debug, Clone, Copy)]
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Self(Instant::now().checked_add(timeout))
    }

    /// Bounds `socket`'s next read by the time left.
    fn arm(self, socket: &UnixStream) -> Result<(), Error> {
        let left = self
            .0
            .map(|end| end.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            return Err(Error::TIMEOUT);
        }
        socket.set_read_timeout(left).map_err(|source| Error::Io {
            op: "set the handshake timeout",
            source,
        })
    }

    /// Reads `buf` whole by the deadline.
    fn read_exact(self, socket: &UnixStream, buf: &mut [u8]) -> Result<(), Error> {
        let mut got = 0;
        while got < buf.len() {
            self.arm(socket)?;
            match (&*socket).read(&mut buf[got..]) {
                Ok(0) => return Err(Error::DISCONNECTED),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::TIMEOUT);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Err(Error::DISCONNECTED);
                }
                Err(source) => {
                    return Err(Error::Io {
                        op: "read the shm handshake",
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Sends the hello and reads the server's reply and the descriptors it carries.
fn handshake(socket: &UnixStream, url: &str, deadline: Deadline) -> Result<Vec<OwnedFd>, Error> {
    let refused = |reason: String| Error::refused(url, reason);
    // A server that refuses this client closes the connection at once: the hello may
    // then meet a closed socket, and the reply a reset or the end of the stream.
    let closed = || {
        refused(
            "the server closed the connection during the handshake (its access policy may refuse this user)"
                .into(),
        )
    };
    if let Err(source) = (&*socket).write_all(&wire::HELLO) {
        return Err(match source.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => closed(),
            _ => Error::Io {
                op: "send the shm hello",
                source,
            },
        });
    }
    let mut reply = [0u8; MESSAGE_LEN];
    deadline.arm(socket)?;
    // Two descriptors at most: more are closed by `recv_fds` and refused.
    let (n, fds) = match uds::recv_fds(socket, &mut reply, 2) {
        Ok((0, _)) | Err(uds::UdsError::Disconnected) => return Err(closed()),
        Ok(received) => received,
        Err(e) => return Err(Error::from(e).at(url)),
    };
    deadline
        .read_exact(socket, &mut reply[n..])
        .map_err(|e| match e {
            Error::Disconnected { .. } => refused("the server's reply was cut short".into()),
            other => other.at(url),
        })?;
    // A refused reply drops `fds`, closing every descriptor it carried, unmapped.
    wire::check_reply(&reply, fds.len(), HANDSHAKE_VERSION).map_err(refused)?;
    Ok(fds)
}

/// The client's side: hello, reply, then the rings.
pub(crate) fn connect(
    socket: UnixStream,
    url: &str,
    options: &Options,
) -> Result<(ShmSender, ShmReceiver, PeerCredentials), Error> {
    let deadline = Deadline::after(options.handshake_timeout);
    let fds = handshake(&socket, url, deadline)?;
    let mut fds = fds.into_iter();
    let open = |fd| match options.message_type {
        Some(declared) => {
            SpscRing::open_fd_holding(fd, &declared.declaration()).map_err(|e| match e {
                QueueError::Segment(SegmentError::Incompatible { .. }) => Error::WrongMessageType {
                    at: url.to_owned(),
                    expected: declared.to_string(),
                    found: None,
                },
                other => other.into(),
            })
        }
        None => Ok(SpscRing::open_fd(fd)?),
    };
    let up = open(fds.next().expect("two descriptors"))?;
    let down = open(fds.next().expect("two descriptors"))?;
    let peer = uds::peer_credentials(&socket)?;
    let producer = Producer::attach(Arc::new(up))?;
    let consumer = Consumer::attach(Arc::new(down))?;
    // Both sides attached, so the server's waits can tell a client that dies from here
    // on; before this, its sides were free, and free sides are not "gone".
    (&socket)
        .write_all(&ATTACHED_MESSAGE)
        .map_err(|source| Error::Io {
            op: "send the shm attached message",
            source,
        })?;
    socket.set_read_timeout(None).map_err(|source| Error::Io {
        op: "clear the handshake timeout",
        source,
    })?;
    let control = Arc::new(Shared::new(socket));
    Ok((
        ShmSender::new(producer, control.clone(), options),
        ShmReceiver::new(consumer, control, options),
        peer,
    ))
}
