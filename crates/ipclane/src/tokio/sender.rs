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

use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use ::tokio::task::JoinHandle;

use ::tokio::io::Interest;
use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendFlags};

use super::ready::{Ready, waiting};
use crate::connection::Wire;
use crate::reassembly::{LAST, MORE};
use crate::{Error, uds};

/// The sending half of a [`Connection`](super::Connection); `Send`, so another task
/// can own it. Dropping it ends the stream for the peer, as the blocking sender's drop
/// does, once the tail of its last message, if any, is written (by its task, while the
/// runtime runs; [`flush`](Self::flush) waits for it).
#[derive(Debug)]
pub struct Sender {
    socket: Arc<Socket>,
    /// `Some(fragment)` on seqpacket: messages go in packets of at most this many bytes.
    fragment: Option<usize>,
    /// The task writing the tail of the last message, while it runs.
    tail: Option<JoinHandle<Result<(), Error>>>,
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
            socket: Arc::new(Socket {
                _inner: std::sync::Mutex::new(inner),
                ready,
                url,
                max_message_len,
            }),
            fragment,
            tail: None,
        })
    }

    /// Sends `msg`, waiting for room in the socket as long as needed.
    ///
    /// Returns once the message is sent: its first bytes (on seqpacket, its first packet)
    /// are in the socket, and a tail that did not fit is written by a task of its own as
    /// the peer reads, before the next message.
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
        loop {
            self.flush().await?;
            let socket = self.socket.clone();
            let mut writable = socket.ready.0.writable().await.map_err(waiting)?;
            if self.begin(writable.get_inner().as_fd(), msg)? {
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
        let socket = self.socket.clone();
        self.begin(socket.ready.0.get_ref().as_fd(), msg)
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

    /// The largest message this connection carries (the same on every transport).
    pub fn max_message_len(&self) -> usize {
        self.socket.max_message_len
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
    fn begin(&mut self, socket: BorrowedFd<'_>, msg: &[u8]) -> Result<bool, Error> {
        let url = &self.socket.url;
        let Some(mut tail) = begin(socket, self.fragment, msg).map_err(|e| e.at(url))? else {
            return Ok(false);
        };
        if !tail.write_now(socket).map_err(|e| e.at(url))? {
            self.tail = Some(::tokio::spawn(finish(self.socket.clone(), tail)));
        }
        Ok(true)
    }
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
