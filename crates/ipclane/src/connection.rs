//! A connection and its two halves, over whichever transport its URL chose.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::seqpacket::{self, SeqReceiver, SeqSender};
use crate::shm::{self, ShmReceiver, ShmSender};
use crate::stream::{self, StreamReceiver, StreamSender};
use crate::uds::{self, PeerCredentials, SeqpacketStream, UdsAddr};
use crate::writer::{MessageWriter, Target};
use crate::{Error, Options, Url};

/// A connection: messages both ways, with their boundaries and order kept, on every
/// transport. [`split`](Self::split) gives its two halves, for two threads.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("ipclane-conn-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// for scheme in ["unix", "shm"] {
///     let url = format!("{scheme}://{}", dir.join(format!("{scheme}.sock")).display());
///     let listener = ipclane::listen(&url)?;
///     let client = std::thread::spawn({
///         let url = url.clone();
///         move || -> Result<(), ipclane::Error> {
///             let mut conn = ipclane::connect(&url)?;
///             conn.send(b"ping")?;
///             assert_eq!(conn.recv()?, &b"pong"[..]);
///             Ok(())
///         }
///     });
///     let mut conn = listener.accept()?;
///     assert_eq!(conn.recv()?, &b"ping"[..]);
///     conn.send(b"pong")?;
///     client.join().unwrap()?;
/// }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
    peer: Option<PeerCredentials>,
    url: Url,
}

/// The sending half of a [`Connection`]; `Send`, so it can work on another thread than
/// its [`Receiver`].
#[derive(Debug)]
pub struct Sender {
    half: SendHalf,
    /// The connection's URL, which a peer gone or a timeout names.
    url: Arc<str>,
    max_message_len: usize,
    /// Where [`send_with`](Self::send_with) has a message written when it does not go
    /// straight into a ring (reused: no allocation per message).
    staging: Vec<u8>,
    /// The declared message type ([`Options::message_type`]).
    message_type: Option<crate::MessageType>,
}

/// The receiving half of a [`Connection`]; `Send`.
#[derive(Debug)]
pub struct Receiver {
    half: RecvHalf,
    /// The connection's URL, which a peer gone or a timeout names.
    url: Arc<str>,
    /// The declared message type ([`Options::message_type`]).
    message_type: Option<crate::MessageType>,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per connection, never in a collection: boxing would only add a pointer to follow per message"
)]
enum SendHalf {
    Stream(StreamSender),
    Seq(SeqSender),
    Shm(ShmSender),
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per connection, never in a collection: boxing would only add a pointer to follow per message"
)]
enum RecvHalf {
    Stream(StreamReceiver),
    Seq(SeqReceiver),
    Shm(ShmReceiver),
}

impl Connection {
    fn new(
        (send, recv): (SendHalf, RecvHalf),
        peer: Option<PeerCredentials>,
        url: Url,
        options: &Options,
    ) -> Self {
        let at: Arc<str> = url.to_string().into();
        Self {
            sender: Sender {
                half: send,
                url: at.clone(),
                max_message_len: options.max_message_len,
                staging: Vec::new(),
                message_type: options.message_type,
            },
            receiver: Receiver {
                half: recv,
                url: at,
                message_type: options.message_type,
            },
            peer,
            url,
        }
    }

    /// Connects to `url` (parsed) with `options`.
    pub(crate) fn connect(url: Url, options: &Options) -> Result<Self, Error> {
        match &url {
            Url::Unix(path) => Self::unix(&UdsAddr::Path(path.clone()), url, options),
            Url::UnixAbstract(name) => {
                Self::unix(&UdsAddr::Abstract(name.as_bytes().to_vec()), url, options)
            }
            Url::SeqPacket(path) => {
                let socket = SeqpacketStream::connect(&UdsAddr::Path(path.clone()))?;
                let peer = socket.peer_credentials()?;
                Self::seqpacket(socket, Some(peer), url, options)
            }
            Url::Tcp { host, port } => {
                let socket = tcp_connect(host, *port, options.connect_timeout)?;
                Self::socket(socket, None, url, options)
            }
            Url::Shm(path) => {
                let socket = uds::connect(&UdsAddr::Path(path.clone()))?;
                let (tx, rx, peer) = shm::connect(socket, &url.to_string(), options)?;
                Ok(Self::new(
                    (SendHalf::Shm(tx), RecvHalf::Shm(rx)),
                    Some(peer),
                    url,
                    options,
                ))
            }
        }
    }

    fn unix(addr: &UdsAddr, url: Url, options: &Options) -> Result<Self, Error> {
        let socket = uds::connect(addr)?;
        let peer = uds::peer_credentials(&socket)?;
        Self::socket(socket.into(), Some(peer), url, options)
    }

    /// A framed connection over a connected stream socket.
    pub(crate) fn socket(
        socket: OwnedFd,
        peer: Option<PeerCredentials>,
        url: Url,
        options: &Options,
    ) -> Result<Self, Error> {
        let (tx, rx) = stream::split(socket, options)?;
        Ok(Self::new(
            (SendHalf::Stream(tx), RecvHalf::Stream(rx)),
            peer,
            url,
            options,
        ))
    }

    /// A connection over a connected seqpacket socket.
    pub(crate) fn seqpacket(
        socket: SeqpacketStream,
        peer: Option<PeerCredentials>,
        url: Url,
        options: &Options,
    ) -> Result<Self, Error> {
        let (tx, rx) = seqpacket::split(socket, options)?;
        Ok(Self::new(
            (SendHalf::Seq(tx), RecvHalf::Seq(rx)),
            peer,
            url,
            options,
        ))
    }

    /// A shared-memory connection whose handshake the listener just finished.
    pub(crate) fn shm(
        (tx, rx): (ShmSender, ShmReceiver),
        peer: PeerCredentials,
        url: Url,
        options: &Options,
    ) -> Self {
        Self::new(
            (SendHalf::Shm(tx), RecvHalf::Shm(rx)),
            Some(peer),
            url,
            options,
        )
    }

    /// Its parts, for the async front end: the halves, the peer, the URL.
    #[cfg(feature = "tokio")]
    pub(crate) fn into_parts(self) -> (Sender, Receiver, Option<PeerCredentials>, Url) {
        (self.sender, self.receiver, self.peer, self.url)
    }

    /// Its two halves, for two threads (both directions work at once).
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender {
        &mut self.sender
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver {
        &mut self.receiver
    }

    /// Sends `msg` ([`Sender::send`]).
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.sender.send(msg)
    }

    /// Receives the next message ([`Receiver::recv`]).
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::recv`].
    pub fn recv(&mut self) -> Result<Bytes, Error> {
        self.receiver.recv()
    }

    /// Who the peer is, on every local transport (`None` over TCP): its process, user
    /// and group ids when it connected, as the kernel tells them.
    pub fn peer_credentials(&self) -> Option<&PeerCredentials> {
        self.peer.as_ref()
    }

    /// The address of the connection (for an accepted one, the listener's).
    pub fn url(&self) -> &Url {
        &self.url
    }
}

/// Connects to the first of `host`'s addresses that answers within `timeout`.
fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<OwnedFd, Error> {
    let addrs = (host, port).to_socket_addrs().map_err(|source| Error::Io {
        op: "resolve the host",
        source,
    })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return tcp_ready(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(source) if source.kind() == std::io::ErrorKind::ConnectionRefused => Error::Refused {
            url: format!("tcp://{host}:{port}"),
            reason: "nothing listens there".into(),
        },
        Some(source) => Error::Io {
            op: "connect",
            source,
        },
        None => Error::Io {
            op: "resolve the host",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        },
    })
}

/// A TCP socket set up for messages: `TCP_NODELAY`, so a small message leaves at once.
pub(crate) fn tcp_ready(stream: TcpStream) -> Result<OwnedFd, Error> {
    stream.set_nodelay(true).map_err(|source| Error::Io {
        op: "set TCP_NODELAY",
        source,
    })?;
    Ok(stream.into())
}

impl Sender {
    /// Sends `msg`, waiting as long as the peer is slow to take it.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] over [`max_message_len`](Self::max_message_len)
    /// (nothing sent), [`Error::Disconnected`] when the peer is gone.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.send_within(msg, None).map(drop)
    }

    /// Sends the message in `msg` ([`send`](Self::send)).
    ///
    /// # Errors
    ///
    /// Those of `send`.
    pub fn send_bytes(&mut self, msg: Bytes) -> Result<(), Error> {
        self.send(&msg)
    }

    /// Sends `msg` if there is room for it now: `Ok(false)`, and nothing sent, when the
    /// transport is full (a peer not reading). A message that does not fit the room left
    /// then waits for the rest: once its first bytes are out it goes whole, since half a
    /// message cannot be taken back.
    ///
    /// # Errors
    ///
    /// Those of `send`.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool, Error> {
        self.send_within(msg, Some(Duration::ZERO))
    }

    /// Like [`send`](Self::send), giving up with [`Error::Timeout`] (nothing sent) when
    /// no room came within `timeout` (as for [`try_send`](Self::try_send), the wait bounds
    /// the start of the message).
    ///
    /// # Errors
    ///
    /// Those of `send`, and [`Error::Timeout`].
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), Error> {
        if self.send_within(msg, Some(timeout))? {
            Ok(())
        } else {
            Err(Error::TIMEOUT.at(&self.url))
        }
    }

    fn send_within(&mut self, msg: &[u8], wait: Option<Duration>) -> Result<bool, Error> {
        let sent = self.send_on(msg, wait);
        sent.map_err(|e| e.at(&self.url))
    }

    fn send_on(&mut self, msg: &[u8], wait: Option<Duration>) -> Result<bool, Error> {
        if msg.len() > self.max_message_len {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: self.max_message_len,
            });
        }
        match &mut self.half {
            SendHalf::Stream(s) => match wait {
                None => s.send(msg).map(|()| true),
                Some(_) => s.send_within(msg, wait),
            },
            SendHalf::Seq(s) => match wait {
                None => s.send(msg).map(|()| true),
                Some(d) => s.send_within(msg, d),
            },
            SendHalf::Shm(s) => s.send_within(msg, wait),
        }
    }

    /// Sends a message of `len` bytes that `write` writes: on shared memory straight into
    /// the ring (a serializer writes the message in place, with no copy of it), on
    /// sockets into a reused buffer. `write` must write exactly `len` bytes; if it fails,
    /// or writes fewer, nothing is sent.
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send); [`Error::Io`] with what `write` returned, or for a
    /// message it left short.
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let dir = std::env::temp_dir().join(format!("ipclane-send-with-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let url = format!("shm://{}", dir.join("s.sock").display());
    /// let listener = ipclane::listen(&url)?;
    /// let client = std::thread::spawn(move || -> Result<(), ipclane::Error> {
    ///     let mut conn = ipclane::connect(&url)?;
    ///     conn.sender().send_with(11, |w| write!(w, "tick {:>6}", 42))
    /// });
    /// let mut conn = listener.accept()?;
    /// assert_eq!(conn.recv()?, &b"tick     42"[..]);
    /// client.join().unwrap()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_with(
        &mut self,
        len: usize,
        write: impl FnOnce(&mut MessageWriter<'_>) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        if len > self.max_message_len {
            return Err(Error::MessageTooLarge {
                len,
                max: self.max_message_len,
            });
        }
        let written = |source| Error::Io {
            op: "write the message",
            source,
        };
        let short = || {
            written(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("the message was left short of its {len} bytes"),
            ))
        };
        if let SendHalf::Shm(shm) = &mut self.half
            && let Some(guard) = shm.reserve_whole(len).map_err(|e| e.at(&self.url))?
        {
            let mut writer = MessageWriter::new(Target::Ring(guard), len);
            write(&mut writer).map_err(written)?;
            return match writer.finish() {
                Some(Target::Ring(guard)) => {
                    guard.commit();
                    Ok(())
                }
                _ => Err(short()),
            };
        }
        let mut staging = std::mem::take(&mut self.staging);
        staging.clear();
        let mut writer = MessageWriter::new(Target::Buffer(&mut staging), len);
        let result = match write(&mut writer).map_err(written) {
            Ok(()) if writer.finish().is_some() => self.send(&staging),
            Ok(()) => Err(short()),
            Err(e) => Err(e),
        };
        self.staging = staging;
        result
    }

    /// What waiting cost this sender on shared memory (wake system calls made for the
    /// receiver, sleeps, spin budget; see [`WaitStats`](crate::queue::WaitStats)); `None`
    /// on sockets, where the kernel does the waiting.
    pub fn wait_stats(&self) -> Option<crate::queue::WaitStats> {
        match &self.half {
            SendHalf::Shm(s) => Some(s.wait_stats()),
            _ => None,
        }
    }

    /// The largest message this connection carries (the same on every transport).
    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }
}

/// How a sender's messages reach its socket, for the async front end, which writes them
/// without blocking.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    /// A stream socket: frames of a length header and the payload.
    Stream(std::os::fd::BorrowedFd<'a>),
    /// A seqpacket socket: a message in packets of a flag byte and at most `fragment`
    /// bytes.
    Packets {
        socket: std::os::fd::BorrowedFd<'a>,
        fragment: usize,
    },
}

#[cfg(feature = "tokio")]
impl Sender {
    /// Its socket and how messages go over it; `None` on shared memory.
    pub(crate) fn wire(&self) -> Option<Wire<'_>> {
        match &self.half {
            SendHalf::Stream(s) => Some(Wire::Stream(s.socket())),
            SendHalf::Seq(s) => {
                let (socket, fragment) = s.packets();
                Some(Wire::Packets { socket, fragment })
            }
            SendHalf::Shm(_) => None,
        }
    }

    /// The connection's URL, which its errors name.
    pub(crate) fn url(&self) -> &Arc<str> {
        &self.url
    }

    /// Its shared-memory half, or itself on another transport.
    #[allow(
        clippy::result_large_err,
        reason = "called once per connection, and the error is the value itself, given back"
    )]
    pub(crate) fn into_shm(self) -> Result<ShmSender, Self> {
        match self.half {
            SendHalf::Shm(shm) => Ok(shm),
            half => Err(Self { half, ..self }),
        }
    }
}

impl Sender {
    /// The declared type of the connection's messages ([`Options::message_type`]).
    pub fn message_type(&self) -> Option<crate::MessageType> {
        self.message_type
    }

    /// Refuses a typed call of another type than the declared one.
    #[cfg(feature = "pod")]
    pub(crate) fn check_message_type(&self, called: crate::MessageType) -> Result<(), Error> {
        crate::message_type::check_call(|| self.url.to_string(), self.message_type, called)
    }
}

impl Receiver {
    /// The declared type of the connection's messages ([`Options::message_type`]).
    pub fn message_type(&self) -> Option<crate::MessageType> {
        self.message_type
    }

    /// Refuses a typed call of another type than the declared one.
    #[cfg(feature = "pod")]
    pub(crate) fn check_message_type(&self, called: crate::MessageType) -> Result<(), Error> {
        crate::message_type::check_call(|| self.url.to_string(), self.message_type, called)
    }
}

#[cfg(feature = "tokio")]
impl Receiver {
    /// Its socket, readable when a message may have come; `None` on shared memory.
    pub(crate) fn socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match &self.half {
            RecvHalf::Stream(r) => Some(r.socket()),
            RecvHalf::Seq(r) => Some(r.socket()),
            RecvHalf::Shm(_) => None,
        }
    }

    /// Its shared-memory half, or itself on another transport.
    #[allow(
        clippy::result_large_err,
        reason = "called once per connection, and the error is the value itself, given back"
    )]
    pub(crate) fn into_shm(self) -> Result<ShmReceiver, Self> {
        match self.half {
            RecvHalf::Shm(shm) => Ok(shm),
            half => Err(Self { half, ..self }),
        }
    }
}

impl Receiver {
    /// The next message, waiting for it as long as needed.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the peer closed or died and every message it sent was
    /// received; [`Error::Protocol`] for a peer that breaks the message format (one whose
    /// maximum message is larger than this side's, say); on `shm:`,
    /// [`Error::Queue`] with `Corrupted` for a peer that wrote what no peer writes into
    /// the ring. On `shm:` either of those two closes the connection: the peer is told,
    /// and every later call on either half is `Disconnected`. [`Error::OutOfMemory`] when
    /// no memory is left for the message, which then stays next.
    pub fn recv(&mut self) -> Result<Bytes, Error> {
        let got = match &mut self.half {
            RecvHalf::Stream(r) => r.recv(),
            RecvHalf::Seq(r) => r.recv(),
            RecvHalf::Shm(r) => r.recv(),
        };
        got.map_err(|e| e.at(&self.url))
    }

    /// The next message if it has wholly arrived, `Ok(None)` if not (what arrived of it
    /// is kept for the next call).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        let got = match &mut self.half {
            RecvHalf::Stream(r) => r.try_recv(),
            RecvHalf::Seq(r) => r.try_recv(),
            RecvHalf::Shm(r) => r.try_recv(),
        };
        got.map_err(|e| e.at(&self.url))
    }

    /// Like [`recv`](Self::recv), giving up with [`Error::Timeout`] after `timeout`
    /// (nothing is lost: the next call continues the message).
    ///
    /// # Errors
    ///
    /// Those of `recv`, and [`Error::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        let got = match &mut self.half {
            RecvHalf::Stream(r) => r.recv_timeout(timeout),
            RecvHalf::Seq(r) => r.recv_timeout(timeout),
            RecvHalf::Shm(r) => r.recv_timeout(timeout),
        };
        got.map_err(|e| e.at(&self.url))
    }

    /// What waiting cost this receiver on shared memory; `None` on sockets (see
    /// [`Sender::wait_stats`]).
    pub fn wait_stats(&self) -> Option<crate::queue::WaitStats> {
        match &self.half {
            RecvHalf::Shm(r) => Some(r.wait_stats()),
            _ => None,
        }
    }

    /// Receives the next message into `buf` and returns its length, with one copy (a
    /// large message on a stream socket is received in place): the hot path of a receiver that
    /// knows how long its messages can be.
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv), and [`Error::BufferTooSmall`] for a longer
    /// message, which then stays next (for a larger buffer, or `recv`).
    pub fn recv_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let got = match &mut self.half {
            RecvHalf::Stream(r) => r.recv_into_slice(buf),
            RecvHalf::Seq(r) => r.recv_into_slice(buf),
            RecvHalf::Shm(r) => r.recv_into_slice(buf),
        };
        got.map_err(|e| e.at(&self.url))
    }

    /// Receives the next message into `buf` (cleared first) and returns its length: once
    /// `buf` has grown to the messages' size, nothing is allocated per message on any
    /// transport.
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        let got = match &mut self.half {
            RecvHalf::Stream(r) => r.recv_into(buf),
            RecvHalf::Seq(r) => r.recv_into(buf),
            RecvHalf::Shm(r) => r.recv_into(buf),
        };
        got.map_err(|e| e.at(&self.url))
    }
}
