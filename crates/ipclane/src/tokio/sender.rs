//! The async sending half. Messages are written without blocking (`MSG_DONTWAIT`), in
//! the blocking sender's wire format: a length header and the payload on a stream
//! socket, packets of a flag byte and a fragment on a seqpacket one.
//!
//! A message is sent once its first bytes are in the socket: a message cannot be taken
//! back half sent, so what did not fit then (its *tail*, only ever under backpressure)
//! is handed to a task that writes it as the socket drains, and the next message waits
//! for that task. A `send` therefore only ever waits before a message begins, which is
//! what makes it cancel-safe, and a tail goes out even if its sender is never called
//! again (a request waiting for its reply).
//!
//! On shared memory the same holds with ring records for bytes: a message begins with
//! its first fragment in the ring, the fragments that find no room go to a task, and a
//! sender waits for room on its doorbell (see [`shm`](super::shm)).

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use ::tokio::task::JoinHandle;

use ::tokio::io::Interest;
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendFlags};

use super::ready::{Ready, waiting};
use super::shm::{Waits, until};
use crate::connection::Wire;
use crate::reassembly::{LAST, MORE};
use crate::shm::{ConnectionShared, ShmSender};
use crate::{Error, uds};

/// The sending half of a [`Connection`](super::Connection); `Send`, so another task
/// can own it. Dropping it ends the stream for the peer, as the blocking sender's drop
/// does, once the tail of its last message, if any, is written (by its task, while the
/// runtime runs; [`flush`](Self::flush) waits for it).
#[derive(Debug)]
pub struct Sender {
    path: Path,
    /// The task writing the tail of the last message, while it runs.
    tail: Option<JoinHandle<Result<(), Error>>>,
}

/// Where messages go.
#[derive(Debug)]
enum Path {
    Socket {
        socket: Arc<Socket>,
        /// `Some(fragment)` on seqpacket: messages go in packets of at most this many
        /// bytes.
        fragment: Option<usize>,
    },
    Shm(Arc<Ring>),
}

/// What a shared-memory sender and its tail's task share.
#[derive(Debug)]
struct Ring {
    half: Mutex<ShmSender>,
    waits: Waits,
    shared: Arc<ConnectionShared>,
    url: Arc<str>,
    max_message_len: usize,
}

/// What a sender and its tail's task share: the blocking half (whose drop ends the
/// stream, once both are done) and the socket's registration.
#[derive(Debug)]
struct Socket {
    /// Only held, for its drop (a mutex: the blocking half is `Send`, not `Sync`).
    _inner: std::sync::Mutex<crate::Sender>,
    ready: Ready,
    url: Arc<str>,
    max_message_len: usize,
}

/// What is left of a message begun.
#[derive(Debug)]
struct Tail {
    bytes: Vec<u8>,
    sent: usize,
    /// As the sender's: `None`, the tail is raw bytes of a frame; `Some`, it is the
    /// message's last bytes, sent in packets.
    fragment: Option<usize>,
}

impl Sender {
    pub(super) fn new(inner: crate::Sender) -> Result<Self, Error> {
        let (socket, fragment) = match inner.wire() {
            Some(Wire::Stream(socket)) => (socket, None),
            Some(Wire::Packets { socket, fragment }) => (socket, Some(fragment)),
            None => return Err(super::connection::unserved()),
        };
        let ready = Ready::new(socket, Interest::WRITABLE)?;
        let (url, max_message_len) = (inner.url().clone(), inner.max_message_len());
        Ok(Self {
            path: Path::Socket {
                socket: Arc::new(Socket {
                    _inner: std::sync::Mutex::new(inner),
                    ready,
                    url,
                    max_message_len,
                }),
                fragment,
            },
            tail: None,
        })
    }

    /// A shared-memory sender, woken by `bell` (its end of the room bell).
    pub(super) fn shm(
        half: ShmSender,
        bell: OwnedFd,
        url: Arc<str>,
        max_message_len: usize,
    ) -> Result<Self, Error> {
        let shared = half.shared().clone();
        Ok(Self {
            path: Path::Shm(Arc::new(Ring {
                waits: Waits::new(bell, &shared)?,
                half: Mutex::new(half),
                shared,
                url,
                max_message_len,
            })),
            tail: None,
        })
    }

    /// Sends `msg`, waiting for room in the socket (or the ring) as long as needed.
    ///
    /// Returns once the message is sent: its first bytes (on seqpacket, its first packet;
    /// on shared memory, its first fragment) are in the socket, and a tail that did not
    /// fit is written by a task of its own as the peer reads, before the next message.
    ///
    /// Cancel-safe: dropped before it completes, it sent nothing of `msg` (it waits only
    /// before the message begins).
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] over [`max_message_len`](Self::max_message_len)
    /// (nothing sent), [`Error::Disconnected`] when the peer is gone.
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.check(msg)?;
        self.flush().await?;
        let (socket, fragment) = match &self.path {
            Path::Socket { socket, fragment } => (socket.clone(), *fragment),
            Path::Shm(ring) => {
                let ring = ring.clone();
                // Waits only while no fragment went in (the attempt pushed none).
                let next = until(&ring.waits, &ring.shared, &ring.half, |tx, _| {
                    let mut next = 0;
                    let done = tx.push_now(msg, &mut next)?;
                    Ok((next > 0).then_some((done, next)))
                })
                .await
                .map_err(|e| e.at(&ring.url))?;
                self.tail = tail_of(&ring, msg, next);
                return Ok(());
            }
        };
        loop {
            let mut writable = socket.ready.0.writable().await.map_err(waiting)?;
            if self.begin(&socket, fragment, writable.get_inner().as_fd(), msg)? {
                return Ok(());
            }
            // `begin` said no only after the socket refused with EAGAIN.
            writable.clear_ready();
        }
    }

    /// Sends `msg` if the socket has room to begin it now: `Ok(false)`, and nothing
    /// sent, when it has none (or the previous message's tail is still being written).
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool, Error> {
        self.check(msg)?;
        if let Some(task) = &mut self.tail {
            match Pin::new(task).poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Pending => return Ok(false),
                Poll::Ready(done) => {
                    self.tail = None;
                    joined(done)?;
                }
            }
        }
        match &self.path {
            Path::Socket { socket, fragment } => {
                let (socket, fragment) = (socket.clone(), *fragment);
                self.begin(&socket, fragment, socket.ready.0.get_ref().as_fd(), msg)
            }
            Path::Shm(ring) => {
                let ring = ring.clone();
                let mut next = 0;
                let done = ring
                    .half
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_now(msg, &mut next)
                    .map_err(|e| e.at(&ring.url))?;
                if next == 0 {
                    return Ok(false);
                }
                self.tail = tail_of(&ring, msg, (done, next));
                Ok(true)
            }
        }
    }

    /// Waits until the tail of the last message, if any, is in the socket.
    ///
    /// Cancel-safe: the tail's task goes on, and the next call waits for it again.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the peer went away before the tail was written.
    pub async fn flush(&mut self) -> Result<(), Error> {
        if let Some(task) = &mut self.tail {
            let done = task.await;
            self.tail = None;
            joined(done)?;
        }
        Ok(())
    }

    /// What waiting cost this sender on shared memory: its `wakes` count the futex wakes
    /// and doorbell rings it made for the receiver (see
    /// [`Sender::wait_stats`](crate::Sender::wait_stats)); `None` on sockets.
    pub fn wait_stats(&self) -> Option<crate::queue::WaitStats> {
        match &self.path {
            Path::Socket { .. } => None,
            Path::Shm(ring) => Some(
                ring.half
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .wait_stats(),
            ),
        }
    }

    /// The largest message this connection carries (the same on every transport).
    pub fn max_message_len(&self) -> usize {
        match &self.path {
            Path::Socket { socket, .. } => socket.max_message_len,
            Path::Shm(ring) => ring.max_message_len,
        }
    }

    fn check(&self, msg: &[u8]) -> Result<(), Error> {
        let max = self.max_message_len();
        if msg.len() > max {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max,
            });
        }
        Ok(())
    }

    /// Begins `msg` (no tail is left): `false` when the socket took none of it. What it
    /// does not take at once goes to a task, which writes it as the socket drains.
    fn begin(
        &mut self,
        shared: &Arc<Socket>,
        fragment: Option<usize>,
        socket: BorrowedFd<'_>,
        msg: &[u8],
    ) -> Result<bool, Error> {
        let url = &shared.url;
        let Some(mut tail) = begin(socket, fragment, msg).map_err(|e| e.at(url))? else {
            return Ok(false);
        };
        if !tail.write_now(socket).map_err(|e| e.at(url))? {
            self.tail = Some(::tokio::spawn(finish(shared.clone(), tail)));
        }
        Ok(true)
    }
}

/// The task that pushes the fragments of `msg` from `next` on, unless `done`.
fn tail_of(
    ring: &Arc<Ring>,
    msg: &[u8],
    (done, next): (bool, usize),
) -> Option<JoinHandle<Result<(), Error>>> {
    (!done).then(|| ::tokio::spawn(finish_fragments(ring.clone(), msg.to_vec(), next)))
}

/// A shared-memory tail's task: pushes the fragments left as the receiver frees room.
async fn finish_fragments(ring: Arc<Ring>, msg: Vec<u8>, mut next: usize) -> Result<(), Error> {
    until(&ring.waits, &ring.shared, &ring.half, |tx, _| {
        Ok(tx.push_now(&msg, &mut next)?.then_some(()))
    })
    .await
    .map_err(|e| e.at(&ring.url))
}

/// The outcome of a tail's task.
fn joined(done: Result<Result<(), Error>, ::tokio::task::JoinError>) -> Result<(), Error> {
    done.map_err(|e| Error::Io {
        op: "write the tail of a message",
        source: std::io::Error::other(e.to_string()),
    })?
}

/// The tail's task: writes it as the socket drains.
async fn finish(socket: Arc<Socket>, mut tail: Tail) -> Result<(), Error> {
    loop {
        let mut writable = socket.ready.0.writable().await.map_err(waiting)?;
        if tail
            .write_now(writable.get_inner().as_fd())
            .map_err(|e| e.at(&socket.url))?
        {
            return Ok(());
        }
        writable.clear_ready();
    }
}

/// Sends the start of `msg`: `None` when the socket took none of it, else what is left
/// (perhaps nothing).
fn begin(
    socket: BorrowedFd<'_>,
    fragment: Option<usize>,
    msg: &[u8],
) -> Result<Option<Tail>, Error> {
    let mut bytes = Vec::new();
    let rest = match fragment {
        None => {
            let header = frame_header(msg.len())?;
            let Some(n) = write(socket, &[IoSlice::new(&header), IoSlice::new(msg)])? else {
                return Ok(None);
            };
            if n < header.len() {
                bytes.extend_from_slice(&header[n..]);
                msg
            } else {
                &msg[n - header.len()..]
            }
        }
        Some(fragment) => {
            let first = &msg[..msg.len().min(fragment)];
            let flag = [if first.len() < msg.len() { MORE } else { LAST }];
            if write(socket, &[IoSlice::new(&flag), IoSlice::new(first)])?.is_none() {
                return Ok(None);
            }
            &msg[first.len()..]
        }
    };
    bytes.extend_from_slice(rest);
    Ok(Some(Tail {
        bytes,
        sent: 0,
        fragment,
    }))
}

impl Tail {
    /// Sends what the socket takes of the tail now: `true` once none is left.
    fn write_now(&mut self, socket: BorrowedFd<'_>) -> Result<bool, Error> {
        while self.sent < self.bytes.len() {
            let rest = &self.bytes[self.sent..];
            let taken = match self.fragment {
                None => write(socket, &[IoSlice::new(rest)])?,
                Some(fragment) => {
                    let packet = &rest[..rest.len().min(fragment)];
                    let flag = [if packet.len() < rest.len() {
                        MORE
                    } else {
                        LAST
                    }];
                    write(socket, &[IoSlice::new(&flag), IoSlice::new(packet)])?
                        .map(|_| packet.len())
                }
            };
            match taken {
                Some(n) => self.sent += n,
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}
/// The stream frame header of a message of `len` bytes: 4 bytes, big-endian, as
/// `FrameCodec`'s default (and tokio-util's `LengthDelimitedCodec`'s).
fn frame_header(len: usize) -> Result<[u8; 4], Error> {
    let len = u32::try_from(len).map_err(|_| {
        Error::Uds(uds::UdsError::TooLarge {
            len: len as u64,
            max: u64::from(u32::MAX),
        })
    })?;
    Ok(len.to_be_bytes())
}

/// One non-blocking send of `bufs`: the bytes taken, `None` when the socket has no room
/// (EAGAIN).
fn write(socket: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<Option<usize>, Error> {
    loop {
        let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        match rustix::net::sendmsg(socket, bufs, &mut SendAncillaryBuffer::default(), flags) {
            Ok(n) => return Ok(Some(n)),
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Ok(None),
            Err(Errno::PIPE | Errno::CONNRESET) => return Err(Error::DISCONNECTED),
            Err(e) => {
                return Err(Error::Io {
                    op: "send",
                    source: e.into(),
                });
            }
        }
    }
}
