//! The server's side of the handshake, for many clients at once: a listener's `accept`
//! drives every handshake under way from one `poll(2)`, so a client that is slow, silent
//! or hostile holds up nobody but itself until the handshake timeout drops it.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, poll};

use super::wire::{self, HANDSHAKE_VERSION, Next, ServerHandshake};
use super::{Shared, ShmReceiver, ShmSender};
use crate::queue::{Consumer, Producer, Segment, SpscRing};
use crate::uds::{self, PeerCredentials};
use crate::{Error, Options};

/// Most handshakes a listener has under way at once. Clients beyond it wait in the
/// socket's backlog until one finishes or times out, so a flood of clients that never
/// finish costs the server at most this many descriptors and pairs of rings.
pub(crate) const MAX_HANDSHAKES: usize = 64;

/// A server's handshake with one client.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Non-blocking while the handshake runs.
    socket: UnixStream,
    peer: PeerCredentials,
    /// `None`: a handshake timeout too long to reach is none.
    deadline: Option<Instant>,
    machine: ServerHandshake,
    /// The server's sides of the rings, once they were made and sent (`Some` exactly when
    /// the machine waits for the attached message: `wire.rs` knows nothing of rings).
    rings: Option<(Consumer<Segment>, Producer<Segment>)>,
}

/// A connection whose handshake succeeded: the server's halves and the client.
pub(crate) type Accepted = ((ShmSender, ShmReceiver), PeerCredentials);

/// The handshakes under way on one `shm:` listener.
#[derive(Debug, Default)]
pub(crate) struct Handshakes {
    pending: Vec<Pending>,
}

impl Handshakes {
    /// Waits until a client's handshake succeeds, accepting new clients and advancing
    /// every handshake under way meanwhile.
    ///
    /// # Errors
    ///
    /// One client's failure at a time: [`Error::Refused`] for a handshake that failed or
    /// timed out (that client's connection is closed), the access policy's refusal, the
    /// rings that could not be made, or an OS error; the other handshakes go on at the
    /// next call.
    pub(crate) fn accept(
        &mut self,
        listener: &uds::Listener,
        url: &str,
        options: &Options,
    ) -> Result<Accepted, Error> {
        loop {
            let (listener_ready, ready) = self.wait(listener)?;
            // What clients sent is read before any is found late: a client that finished
            // in time is never refused because `accept` was called late. A handshake
            // that ends, either way, leaves the list and ends this call, so the indices
            // hold until then.
            for &i in ready.iter().rev() {
                if let Some(accepted) = self.advance(i, url, options)? {
                    return Ok(accepted);
                }
            }
            let now = Instant::now();
            let late = (0..self.pending.len()).find(|&i| {
                !ready.contains(&i) && self.pending[i].deadline.is_some_and(|d| d <= now)
            });
            if let Some(i) = late {
                let late = self.pending.swap_remove(i);
                return Err(Error::refused(
                    url,
                    format!(
                        "no {} within the handshake timeout of {:?}",
                        late.machine.awaiting(),
                        options.handshake_timeout
                    ),
                ));
            }
            if listener_ready {
                let (socket, peer) = listener.accept()?;
                self.pending.push(Pending::new(socket, peer, options)?);
            }
        }
    }

    /// Polls the listener (while there is room for another handshake) and every client
    /// under way until one is ready or the first deadline (at once if one passed):
    /// whether the listener has a client waiting, and the indices of the handshakes with
    /// something to read (or a hang-up).
    fn wait(&self, listener: &uds::Listener) -> Result<(bool, Vec<usize>), Error> {
        let now = Instant::now();
        let room = self.pending.len() < MAX_HANDSHAKES;
        let mut fds = Vec::with_capacity(self.pending.len() + 1);
        fds.push(PollFd::new(
            listener,
            if room {
                PollFlags::IN
            } else {
                PollFlags::empty()
            },
        ));
        fds.extend(
            self.pending
                .iter()
                .map(|p| PollFd::new(&p.socket, PollFlags::IN)),
        );
        let timeout = self
            .pending
            .iter()
            .filter_map(|p| p.deadline)
            .min()
            .map(|d| crate::poll::timespec(d.saturating_duration_since(now)));
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(Error::Io {
                    op: "poll the handshakes under way",
                    source: e.into(),
                });
            }
        }
        let listener_ready = room && !fds[0].revents().is_empty();
        let ready = (0..self.pending.len())
            .filter(|&i| !fds[i + 1].revents().is_empty())
            .collect();
        Ok((listener_ready, ready))
    }

    /// Reads what client `i` sent and acts on it: the connection once its handshake
    /// succeeded. A handshake that ends, either way, leaves the list.
    fn advance(
        &mut self,
        i: usize,
        url: &str,
        options: &Options,
    ) -> Result<Option<Accepted>, Error> {
        match self.pending[i].advance(url, options) {
            Ok(Step::Waiting { .. }) => Ok(None),
            Ok(Step::Connected) => self.pending.swap_remove(i).finish(options).map(Some),
            Err(e) => {
                self.pending.swap_remove(i);
                Err(e)
            }
        }
    }
}

/// Where one client's handshake stands after [`Pending::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// More is to come from the client; `blocked` once its socket had nothing more.
    Waiting { blocked: bool },
    /// The client attached: [`Pending::finish`] makes the connection.
    Connected,
}

impl Pending {
    /// The handshake of a client just accepted (its socket made non-blocking).
    pub(crate) fn new(
        socket: UnixStream,
        peer: PeerCredentials,
        options: &Options,
    ) -> Result<Self, Error> {
        socket.set_nonblocking(true).map_err(|source| Error::Io {
            op: "make a handshake's socket non-blocking",
            source,
        })?;
        Ok(Self {
            socket,
            peer,
            deadline: Instant::now().checked_add(options.handshake_timeout),
            machine: ServerHandshake::new(),
            rings: None,
        })
    }

    /// The client's socket.
    #[cfg(feature = "tokio")]
    pub(crate) fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// When the handshake must be over (`None`: never).
    #[cfg(feature = "tokio")]
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// What it waits for, to say what did not come in time.
    #[cfg(feature = "tokio")]
    pub(crate) fn awaiting(&self) -> &'static str {
        self.machine.awaiting()
    }

    /// Reads once what the client sent and acts on it (makes and sends the rings after
    /// its hello).
    ///
    /// # Errors
    ///
    /// Why the handshake failed ([`Error::Refused`] for the client's part): it is over.
    pub(crate) fn advance(&mut self, url: &str, options: &Options) -> Result<Step, Error> {
        let mut buf = [0u8; wire::MESSAGE_LEN];
        let wanted = self.machine.wanted();
        let left = |client: &Pending| {
            Error::refused(
                url,
                format!("the client left before its {}", client.machine.awaiting()),
            )
        };
        let next = match (&self.socket).read(&mut buf[..wanted]) {
            Ok(0) => return Err(left(self)),
            Ok(n) => self
                .machine
                .feed(&buf[..n])
                .map_err(|why| Error::refused(url, why))?,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(Step::Waiting {
                    blocked: e.kind() == std::io::ErrorKind::WouldBlock,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(left(self)),
            Err(source) => {
                return Err(Error::Io {
                    op: "read the shm handshake",
                    source,
                });
            }
        };
        match next {
            Next::Read => Ok(Step::Waiting { blocked: false }),
            Next::Accept => match make_rings(options) {
                Ok(rings) => match send_rings(&self.socket, &rings) {
                    Ok(()) => {
                        self.rings = Some((rings.receiver, rings.sender));
                        Ok(Step::Waiting { blocked: false })
                    }
                    // The client went away (or does not read: 8 bytes always fit a
                    // fresh socket): its loss, not the server's.
                    Err(e) => Err(Error::refused(
                        url,
                        format!("the client left before the reply: {e}"),
                    )),
                },
                Err(e) => {
                    // Best effort: the client learns it was not its fault.
                    let _ = uds::send_fds(&self.socket, &wire::FAILED_REPLY, &[]);
                    Err(e)
                }
            },
            Next::WrongVersion(theirs) => {
                // Best effort: the client learns why; the connection ends either way.
                let _ = uds::send_fds(&self.socket, &wire::WRONG_VERSION_REPLY, &[]);
                Err(Error::refused(
                    url,
                    format!(
                        "the client speaks handshake version {theirs}, this server {HANDSHAKE_VERSION}"
                    ),
                ))
            }
            Next::Connected => Ok(Step::Connected),
        }
    }

    /// The connection of a handshake that reached [`Step::Connected`].
    ///
    /// # Errors
    ///
    /// An OS error making its socket blocking again.
    pub(crate) fn finish(self, options: &Options) -> Result<Accepted, Error> {
        let (receiver, sender) = self
            .rings
            .expect("a client attaches only to rings it was sent");
        self.socket
            .set_nonblocking(false)
            .map_err(|source| Error::Io {
                op: "make a connection's socket blocking",
                source,
            })?;
        let control = Arc::new(Shared::new(self.socket));
        Ok((
            (
                ShmSender::new(sender, control.clone(), options),
                ShmReceiver::new(receiver, control, options),
            ),
            self.peer,
        ))
    }
}

/// A connection's two rings, the server's sides attached.
struct Rings {
    up: Arc<Segment>,
    down: Arc<Segment>,
    receiver: Consumer<Segment>,
    sender: Producer<Segment>,
}

/// Makes the connection's two rings and attaches the server's sides.
fn make_rings(options: &Options) -> Result<Rings, Error> {
    let ring = || match options.message_type {
        Some(declared) => {
            SpscRing::create_memfd_holding(&declared.declaration(), options.ring_capacity)
        }
        None => SpscRing::create_memfd(options.ring_capacity),
    };
    let up = Arc::new(ring()?);
    let down = Arc::new(ring()?);
    let receiver = Consumer::attach(up.clone())?;
    let sender = Producer::attach(down.clone())?;
    Ok(Rings {
        up,
        down,
        receiver,
        sender,
    })
}

/// Sends the accepted reply with both rings' descriptors, the client-to-server ring first.
/// The socket is fresh and its buffer empty: the 8 bytes go at once, non-blocking.
fn send_rings(socket: &UnixStream, rings: &Rings) -> Result<(), crate::uds::UdsError> {
    uds::send_fds(
        socket,
        &wire::ACCEPTED_REPLY,
        &[rings.up.as_fd(), rings.down.as_fd()],
    )
}
