//! The socket transports, `unix:` and `tcp:`: ipclane-uds frames over a stream socket,
//! one descriptor for each direction (two descriptors of one socket), so that a sender
//! and a receiver work from two threads at once.

use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustix::event::PollFlags;

use crate::uds::{FrameCodec, FramedStream};
use crate::{Error, Options, poll};

/// The sending half of a stream connection.
#[derive(Debug)]
pub(crate) struct StreamSender {
    frames: FramedStream<OwnedFd>,
}

/// The receiving half of a stream connection.
#[derive(Debug)]
pub(crate) struct StreamReceiver {
    frames: FramedStream<OwnedFd>,
    /// A frame `recv_into` took but had no memory to copy into the caller's buffer: the
    /// next message, so that running out of memory loses nothing.
    held: Option<Bytes>,
}

/// Splits a connected stream socket into its two halves, framed with `options`' maximum
/// message size.
pub(crate) fn split(
    socket: OwnedFd,
    options: &Options,
) -> Result<(StreamSender, StreamReceiver), Error> {
    let reading = socket.try_clone().map_err(|source| Error::Io {
        op: "dup the socket for its receiving half",
        source,
    })?;
    let codec = || {
        FrameCodec::builder()
            .max_frame_length(options.max_message_len)
            .new_codec()
    };
    Ok((
        StreamSender {
            frames: FramedStream::with_codec(socket, codec()),
        },
        StreamReceiver {
            frames: FramedStream::with_codec(reading, codec()),
            held: None,
        },
    ))
}

/// Dropping the sending half ends the stream for the peer (`shutdown(SHUT_WR)`): its
/// receive sees the end once it has read everything, as when a shared-memory sender is
/// dropped, even while this side's receiving half lives on.
impl Drop for StreamSender {
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(self.frames.get_ref(), rustix::net::Shutdown::Write);
    }
}

/// Dropping the receiving half tells a local peer that nobody reads (`shutdown(SHUT_RD)`:
/// its sends on a Unix socket then fail); over TCP the peer is not told.
impl Drop for StreamReceiver {
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(self.frames.get_ref(), rustix::net::Shutdown::Read);
    }
}

impl StreamSender {
    #[cfg(feature = "tokio")]
    /// Its socket, for a front end that writes frames without blocking.
    pub(crate) fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        self.frames.get_ref().as_fd()
    }

    pub(crate) fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        Ok(self.frames.write_frame(msg)?)
    }

    /// Sends once the socket has room, waiting at most `timeout` for it; `false` when it
    /// had none. The frame then goes out whole: a frame larger than the room waits for the
    /// rest, since a frame half sent cannot be taken back.
    pub(crate) fn send_within(
        &mut self,
        msg: &[u8],
        timeout: Option<Duration>,
    ) -> Result<bool, Error> {
        self.frames.codec().check_len(msg.len())?;
        if !poll::ready(self.frames.get_ref(), PollFlags::OUT, timeout)? {
            return Ok(false);
        }
        self.send(msg)?;
        Ok(true)
    }
}

impl StreamReceiver {
    #[cfg(feature = "tokio")]
    /// Its socket, for a front end that waits for it to be readable.
    pub(crate) fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        self.frames.get_ref().as_fd()
    }

    pub(crate) fn recv(&mut self) -> Result<Bytes, Error> {
        if let Some(frame) = self.held.take() {
            return Ok(frame);
        }
        received(self.frames.read_frame())?.ok_or(Error::DISCONNECTED)
    }

    /// Bounded as a whole: a frame trickling in cannot stretch the wait past `timeout`
    /// (what arrived of it stays buffered).
    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        poll::recv_by(
            self,
            timeout,
            |r| r.frames.get_ref().as_fd(),
            Self::try_recv,
        )
    }

    pub(crate) fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(frame) = self.held.take() {
            return Ok(Some(frame));
        }
        received(self.frames.try_read_frame())
    }

    /// Straight into `buf` (a large frame is received in place).
    pub(crate) fn recv_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if let Some(frame) = self.held.take_if(|frame| frame.len() <= buf.len()) {
            buf[..frame.len()].copy_from_slice(&frame);
            return Ok(frame.len());
        }
        if let Some(frame) = &self.held {
            return Err(Error::BufferTooSmall {
                len: frame.len(),
                capacity: buf.len(),
            });
        }
        received(self.frames.read_frame_into(buf))?.ok_or(Error::DISCONNECTED)
    }

    /// Into `buf`, grown fallibly: out of memory, the frame is held for the next call.
    pub(crate) fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        let frame = match self.held.take() {
            Some(frame) => frame,
            None => received(self.frames.read_frame())?.ok_or(Error::DISCONNECTED)?,
        };
        buf.clear();
        if let Err(e) = crate::buffer::try_grow(buf, frame.len()) {
            self.held = Some(frame);
            return Err(e);
        }
        buf.extend_from_slice(&frame);
        Ok(frame.len())
    }
}

/// A receive's outcome in the facade's terms: a frame header over the maximum is the
/// peer breaking the format (the stream is out of step), not a message this side refused
/// to send, so it is [`Error::Protocol`], as a broken message is on every transport.
///
/// The stream ending inside a frame (the codec's `Truncated`) is a peer that closed or
/// died in the middle of a send: [`Error::Disconnected`], as on shared memory and
/// seqpacket, whose fragments of a message cut short are dropped the same way. The part
/// is never delivered; every message the peer sent whole was received before. (Found by
/// `tests/crash.rs`: a sender killed inside a large message left the receiver with
/// `Error::Uds(Truncated)` on `unix:` and `tcp:` only.)
fn received<T>(result: Result<T, crate::uds::UdsError>) -> Result<T, Error> {
    result.map_err(|e| match e {
        crate::uds::UdsError::TooLarge { len, max } => Error::protocol(format!(
            "a frame header announces {len} bytes, over the maximum of {max} (close the connection)"
        )),
        crate::uds::UdsError::Truncated { .. } => Error::DISCONNECTED,
        other => other.into(),
    })
}
