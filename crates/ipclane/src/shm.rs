//! The hybrid transport, `shm:`: connections are made over a Unix socket, and messages
//! then move through shared memory only.
//!
//! # Handshake (version 1)
//!
//! 1. The client connects to the server's Unix socket and sends its hello: the bytes
//!    `IPCL`, the handshake version, three zero bytes.
//! 2. The server's listener has already checked the client's credentials against its
//!    access policy (same user by default) and closed the connection of a refused
//!    client, who then reads the end of the stream: [`Error::Refused`].
//! 3. The server creates two sealed memfd segments, each holding an SPSC ring, one per
//!    direction, and replies `IPCL`, its version and a status byte (0: accepted), with
//!    the two descriptors attached (`SCM_RIGHTS`): first the client-to-server ring, then
//!    the server-to-client one. A hello of another version gets status 1 and no
//!    descriptors, so a future layout is refused cleanly on both sides.
//! 4. The client attaches its producer and consumer, then sends `IPCL`, its version,
//!    status 2 ("attached"). The server, attached since step 3, waits for this before the
//!    connection is its: a client that died before attaching would leave sides nobody
//!    will take. The socket stays open for the connection's life.
//!
//! Every read of the handshake is bounded by the time left of the handshake timeout, so
//! a peer that trickles its bytes cannot stretch it.
//!
//! # Messages
//!
//! A message shorter than the ring's largest record (`max_record_len`, half the ring less
//! a cache line) is one record, its bytes and nothing else. A longer one is
//! carried in fragments: records of exactly the largest size, then one shorter (possibly
//! empty) that ends it. A record's length alone thus says whether more follow, and the
//! common message costs nothing over the bare ring.
//!
//! # Peer death
//!
//! Each ring side holds a segment claim that the kernel releases when its process dies.
//! A blocking call therefore finds a dead peer within the wait strategy's liveness
//! period (10 ms by default), and a call that is not waiting finds it at its next look.
//! The segments have no name: the kernel frees them with the last descriptor and
//! mapping, so nothing is left in `/dev/shm` after any crash.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::liveness::Liveness;
use crate::queue::{Consumer, Producer, QueueError, Segment, SpscRing, WaitStats, WriteGuard};
use crate::reassembly::Reassembly;
use crate::uds::{self, PeerCredentials};
use crate::{Error, Options};

/// The handshake's version: a peer of another one is refused.
pub const HANDSHAKE_VERSION: u8 = 1;

/// First bytes of every handshake message.
const MAGIC: [u8; 4] = *b"IPCL";

/// Reply status: accepted, the two ring descriptors attached.
const ACCEPTED: u8 = 0;

/// Reply status: the client's handshake version is not this server's.
const WRONG_VERSION: u8 = 1;

/// The client's last message: its sides of both rings are attached.
const ATTACHED: u8 = 2;

/// A hello or a reply: magic, version, status (zero in a hello), two zero bytes.
fn message(version: u8, status: u8) -> [u8; 8] {
    let [a, b, c, d] = MAGIC;
    [a, b, c, d, version, status, 0, 0]
}

/// The end of a handshake: every read of it is bounded by the time left, so a peer that
/// trickles its bytes cannot stretch the handshake past its timeout.
#[derive(Debug, Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Self(
            Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)),
        )
    }

    /// Bounds `socket`'s next read by the time left.
    fn arm(self, socket: &UnixStream) -> Result<(), Error> {
        let left = self.0.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::TIMEOUT);
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|source| Error::Io {
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

/// Lifts the handshake's bound on reads once it is done.
fn handshake_done(socket: &UnixStream) -> Result<(), Error> {
    socket.set_read_timeout(None).map_err(|source| Error::Io {
        op: "clear the handshake timeout",
        source,
    })
}

/// Sends `hello`'s bytes and reads the server's reply and the descriptors it carries.
fn handshake(
    socket: &UnixStream,
    url: &str,
    version: u8,
    deadline: Deadline,
) -> Result<Vec<std::os::fd::OwnedFd>, Error> {
    let refused = |reason: String| Error::Refused {
        url: url.to_owned(),
        reason,
    };
    // A server that refuses this client closes the connection at once: the hello may
    // then meet a closed socket, and the reply a reset or the end of the stream.
    let closed = || {
        refused(
            "the server closed the connection during the handshake (its access policy may refuse this user)"
                .into(),
        )
    };
    if let Err(source) = (&*socket).write_all(&message(version, 0)) {
        return Err(match source.kind() {
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => closed(),
            _ => Error::Io {
                op: "send the shm hello",
                source,
            },
        });
    }
    let mut reply = [0u8; 8];
    deadline.arm(socket)?;
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
    if reply[..4] != MAGIC {
        return Err(refused(format!(
            "the reply {reply:02x?} is not an ipclane handshake"
        )));
    }
    match reply[5] {
        ACCEPTED if reply[4] == version && fds.len() == 2 => Ok(fds),
        ACCEPTED => Err(refused(format!(
            "the server accepted with version {} and {} descriptors (expected {version} and 2)",
            reply[4],
            fds.len()
        ))),
        WRONG_VERSION => Err(refused(format!(
            "the server speaks handshake version {}, this client {version}",
            reply[4]
        ))),
        other => Err(refused(format!("the server answered with status {other}"))),
    }
}

/// The client's side: hello, reply, then the rings.
pub(crate) fn connect(
    socket: UnixStream,
    url: &str,
    options: &Options,
) -> Result<(ShmSender, ShmReceiver, PeerCredentials), Error> {
    let deadline = Deadline::after(options.handshake_timeout);
    let fds = handshake(&socket, url, HANDSHAKE_VERSION, deadline)?;
    let mut fds = fds.into_iter();
    let up = SpscRing::open_fd(fds.next().expect("two descriptors"))?;
    let down = SpscRing::open_fd(fds.next().expect("two descriptors"))?;
    let peer = uds::peer_credentials(&socket)?;
    let producer = Producer::attach(Arc::new(up))?;
    let consumer = Consumer::attach(Arc::new(down))?;
    // Step 3: both sides attached, so the server's waits can tell a client that dies
    // from here on; before this, its sides were free, and free sides are not "gone".
    (&socket)
        .write_all(&message(HANDSHAKE_VERSION, ATTACHED))
        .map_err(|source| Error::Io {
            op: "send the shm attached message",
            source,
        })?;
    handshake_done(&socket)?;
    let control = Arc::new(socket);
    Ok((
        ShmSender::new(producer, control.clone(), options),
        ShmReceiver::new(consumer, control, options),
        peer,
    ))
}

/// The server's side, on a connection its listener accepted (and whose credentials it
/// checked): reads the hello, makes the rings and hands them over.
pub(crate) fn accept(
    socket: UnixStream,
    url: &str,
    options: &Options,
) -> Result<(ShmSender, ShmReceiver), Error> {
    let refused = |reason: String| Error::Refused {
        url: url.to_owned(),
        reason,
    };
    let deadline = Deadline::after(options.handshake_timeout);
    let handshake_failed = |e: Error, what: &str| match e {
        Error::Timeout { .. } => refused(format!(
            "no {what} within the handshake timeout of {:?}",
            options.handshake_timeout
        )),
        Error::Disconnected { .. } => refused(format!("the client left before its {what}")),
        other => other,
    };
    let mut hello = [0u8; 8];
    deadline
        .read_exact(&socket, &mut hello)
        .map_err(|e| handshake_failed(e, "hello"))?;
    if hello[..4] != MAGIC {
        return Err(refused(format!(
            "the hello {hello:02x?} is not an ipclane handshake"
        )));
    }
    if hello[4] != HANDSHAKE_VERSION {
        // Best effort: the client learns why; the connection ends either way.
        let _ = uds::send_fds(&socket, &message(HANDSHAKE_VERSION, WRONG_VERSION), &[]);
        return Err(refused(format!(
            "the client speaks handshake version {}, this server {HANDSHAKE_VERSION}",
            hello[4]
        )));
    }
    let up = Arc::new(SpscRing::create_memfd(options.ring_capacity)?);
    let down = Arc::new(SpscRing::create_memfd(options.ring_capacity)?);
    let receiver = Consumer::attach(up.clone())?;
    let sender = Producer::attach(down.clone())?;
    uds::send_fds(
        &socket,
        &message(HANDSHAKE_VERSION, ACCEPTED),
        &[up.as_fd(), down.as_fd()],
    )?;
    // Step 3: the client attached its sides (a client that dies before never leaves
    // this connection waiting on sides nobody will take).
    let mut attached = [0u8; 8];
    deadline
        .read_exact(&socket, &mut attached)
        .map_err(|e| handshake_failed(e, "attached message"))?;
    if attached != message(HANDSHAKE_VERSION, ATTACHED) {
        return Err(refused(format!(
            "the attached message {attached:02x?} is not an ipclane handshake's"
        )));
    }
    handshake_done(&socket)?;
    let control = Arc::new(socket);
    Ok((
        ShmSender::new(sender, control.clone(), options),
        ShmReceiver::new(receiver, control, options),
    ))
}

/// The sending half: the producer of this side's outgoing ring.
#[derive(Debug)]
pub(crate) struct ShmSender {
    producer: Producer<Segment>,
    /// When `try_send` last asked whether the receiver lives.
    liveness: Liveness,
    /// The connection's socket, open while either half lives.
    _control: Arc<UnixStream>,
}

impl ShmSender {
    fn new(mut producer: Producer<Segment>, control: Arc<UnixStream>, options: &Options) -> Self {
        producer.set_wait_strategy(options.wait_strategy);
        Self {
            producer,
            liveness: Liveness::new(options.wait_strategy.liveness_period),
            _control: control,
        }
    }

    /// Sends `msg`, waiting for room for its first fragment within `first` (`None`:
    /// forever; zero: not at all) and as long as needed for the others, since a message
    /// half sent cannot be taken back. `false` when the first fragment found no room.
    pub(crate) fn send_within(
        &mut self,
        msg: &[u8],
        first: Option<Duration>,
    ) -> Result<bool, Error> {
        // The length was checked against the connection's maximum by the Sender.
        let room = self.producer.max_record_len();
        // Full records while more follow, then the rest (shorter than a full one, maybe
        // empty): see the module docs.
        let full = msg.len() / room;
        let mut first = Some(first);
        for i in 0..=full {
            let fragment = &msg[i * room..((i + 1) * room).min(msg.len())];
            let pushed = match first.take() {
                Some(Some(d)) if d.is_zero() => self.producer.try_push(fragment),
                Some(Some(d)) => self.producer.push_timeout(fragment, d),
                Some(None) | None => self.producer.push_blocking(fragment),
            };
            match pushed {
                Ok(()) => {}
                // A killed receiver never closes its side: a send that never waits asks.
                Err(QueueError::Full)
                    if i == 0 && self.liveness.due() && !self.producer.is_consumer_alive()? =>
                {
                    return Err(Error::DISCONNECTED);
                }
                Err(QueueError::Full | QueueError::Timeout) if i == 0 => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

impl ShmSender {
    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.producer.wait_stats()
    }

    /// A ring record for a whole message of `len` bytes, when one record holds it
    /// (`None`: it needs fragments), waiting for room as long as needed.
    pub(crate) fn reserve_whole(
        &mut self,
        len: usize,
    ) -> Result<Option<WriteGuard<'_, Segment>>, Error> {
        if len >= self.producer.max_record_len() {
            return Ok(None);
        }
        Ok(Some(self.producer.reserve_blocking(len)?))
    }
}

/// How long a receive may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Not at all.
    Never,
    /// As long as needed.
    Forever,
    /// Until then.
    Until(Instant),
}

/// The receiving half: the consumer of this side's incoming ring, and the message being
/// reassembled.
#[derive(Debug)]
pub(crate) struct ShmReceiver {
    consumer: Consumer<Segment>,
    /// When `try_recv` last asked whether the sender lives.
    liveness: Liveness,
    message: Reassembly,
    _control: Arc<UnixStream>,
}

impl ShmReceiver {
    fn new(mut consumer: Consumer<Segment>, control: Arc<UnixStream>, options: &Options) -> Self {
        consumer.set_wait_strategy(options.wait_strategy);
        Self {
            liveness: Liveness::new(options.wait_strategy.liveness_period),
            consumer,
            message: Reassembly::new(options.max_message_len),
            _control: control,
        }
    }

    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.consumer.wait_stats()
    }

    pub(crate) fn recv(&mut self) -> Result<Bytes, Error> {
        self.fill(Wait::Forever)?;
        Ok(self.message.take())
    }

    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        let wait = Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until);
        self.fill(wait)?;
        Ok(self.message.take())
    }

    pub(crate) fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        Ok(self.fill(Wait::Never)?.then(|| self.message.take()))
    }

    pub(crate) fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        self.fill(Wait::Forever)?;
        Ok(self.message.take_into(buf))
    }

    /// Straight from the ring into `buf` when the message is one record that fits; a
    /// message that does not fit stays for the next call.
    pub(crate) fn recv_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.message.is_idle() {
            let room = self.consumer.max_record_len();
            let guard = self.consumer.read_blocking()?;
            let len = guard.len();
            if len < room && len <= buf.len() {
                guard.copy_to(&mut buf[..len]);
                guard.release();
                return Ok(len);
            }
            // Fragments, or too long: the guard is dropped unreleased (a peek), and the
            // record is taken with the others.
            drop(guard);
        }
        self.fill(Wait::Forever)?;
        self.message.take_into_slice(buf)
    }

    /// Takes records until a message is whole: `Ok(false)` when `wait` is
    /// [`Wait::Never`] and the next one is not there yet (what arrived stays).
    fn fill(&mut self, wait: Wait) -> Result<bool, Error> {
        let mut sender_dead = false;
        // A record of the ring's largest size says more follow.
        let room = self.consumer.max_record_len();
        while !self.message.is_ready() {
            let guard = match wait {
                Wait::Never => self.consumer.try_read(),
                Wait::Forever => self.consumer.read_blocking(),
                Wait::Until(deadline) => self
                    .consumer
                    .read_timeout(deadline.saturating_duration_since(Instant::now())),
            };
            let failed = match guard {
                Ok(guard) => {
                    let len = guard.len();
                    if len > room {
                        return Err(Error::protocol(format!(
                            "a record of {len} bytes, over the ring's largest of {room}"
                        )));
                    }
                    guard.copy_to(self.message.spare(len)?);
                    guard.release();
                    if len < room {
                        self.message.finish();
                    }
                    continue;
                }
                Err(e) => e,
            };
            match failed {
                QueueError::Empty if sender_dead => return Err(Error::DISCONNECTED),
                // A killed sender never closes its side: a receive that never waits asks,
                // then looks once more (what it published before dying is taken).
                QueueError::Empty
                    if self.liveness.due() && !self.consumer.is_producer_alive()? =>
                {
                    sender_dead = true;
                }
                QueueError::Empty => return Ok(false),
                e => return Err(e.into()),
            }
        }
        Ok(true)
    }
}
