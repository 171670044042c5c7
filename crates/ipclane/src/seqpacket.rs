//! The `seqpacket:` transport: a Unix `SOCK_SEQPACKET` socket, which keeps message
//! boundaries itself.
//!
//! Each packet is one flag byte ([`MORE`] or [`LAST`]) and a fragment. A message longer than the socket carries in one packet (its send buffer
//! less 32 bytes, Linux's limit) is therefore sent in fragments and reassembled, rather
//! than refused, so the connection's maximum is the same as on every transport; and an
//! empty message is a packet of one byte, which a receiver cannot take for the end of the
//! stream.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustix::event::PollFlags;

use crate::reassembly::{LAST, MORE, Reassembly};
use crate::uds::SeqpacketStream;
use crate::{Error, Options, poll};

/// The sending half.
#[derive(Debug)]
pub(crate) struct SeqSender {
    socket: SeqpacketStream,
    /// Where each packet is put together (reused: no allocation per message).
    packet: Vec<u8>,
    /// The longest fragment one packet carries.
    fragment: usize,
}

/// The receiving half.
#[derive(Debug)]
pub(crate) struct SeqReceiver {
    socket: SeqpacketStream,
    message: Reassembly,
}

/// Splits a connected seqpacket socket into its halves.
pub(crate) fn split(
    socket: SeqpacketStream,
    options: &Options,
) -> Result<(SeqSender, SeqReceiver), Error> {
    let reading: OwnedFd = socket
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| Error::Io {
            op: "dup the socket for its receiving half",
            source,
        })?;
    let mut reading = SeqpacketStream::from(reading);
    let packet = socket.max_send_len()?;
    let fragment = packet
        .checked_sub(1)
        .filter(|&f| f > 0)
        .ok_or_else(|| Error::Io {
            op: "size the socket's packets",
            source: std::io::Error::other(format!("a packet holds only {packet} bytes")),
        })?;
    // A packet as large as this side could send; the peer's is alike (same defaults).
    reading.set_max_message_len(packet.max(reading.max_message_len()));
    Ok((
        SeqSender {
            socket,
            packet: Vec::new(),
            fragment,
        },
        SeqReceiver {
            socket: reading,
            message: Reassembly::new(options.max_message_len),
        },
    ))
}

/// Dropping a half shuts its direction down, as on a stream socket (see `stream`).
impl Drop for SeqSender {
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(self.socket.as_fd(), rustix::net::Shutdown::Write);
    }
}

/// See [`SeqSender`]'s.
impl Drop for SeqReceiver {
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(self.socket.as_fd(), rustix::net::Shutdown::Read);
    }
}

impl SeqSender {
    #[cfg(feature = "tokio")]
    /// Its socket and the longest fragment a packet carries, for a front end that sends
    /// packets without blocking.
    pub(crate) fn packets(&self) -> (std::os::fd::BorrowedFd<'_>, usize) {
        (self.socket.as_fd(), self.fragment)
    }

    pub(crate) fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        let mut fragments = msg.chunks(self.fragment).peekable();
        loop {
            let fragment = fragments.next().unwrap_or(&[]);
            let more = fragments.peek().is_some();
            self.packet.clear();
            self.packet.push(if more { MORE } else { LAST });
            self.packet.extend_from_slice(fragment);
            self.socket.send(&self.packet)?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Sends once the socket has room, waiting at most `timeout` for it (`false`, nothing
    /// sent, when none came); the message then goes out whole, its later fragments
    /// waiting for room as needed.
    pub(crate) fn send_within(&mut self, msg: &[u8], timeout: Duration) -> Result<bool, Error> {
        if !poll::ready(self.socket.as_fd(), PollFlags::OUT, Some(timeout))? {
            return Ok(false);
        }
        self.send(msg)?;
        Ok(true)
    }
}

impl SeqReceiver {
    #[cfg(feature = "tokio")]
    /// Its socket, for a front end that waits for it to be readable.
    pub(crate) fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Receives one packet and hands it to `take`: [`Error::Disconnected`] at the end of
    /// the stream; a packet lost to a short receive buffer breaks its message. Room for
    /// the packet in the message is made first: out of memory, it stays in the socket
    /// ([`Error::OutOfMemory`]), and nothing is lost.
    fn packet<T>(
        socket: &mut SeqpacketStream,
        message: &mut Reassembly,
        take: impl FnOnce(&mut Reassembly, &[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        message.reserve(socket.max_message_len())?;
        let taken = socket.recv_with(|packet| take(&mut *message, packet));
        match taken {
            Ok(Some(result)) => result,
            Ok(None) => Err(Error::DISCONNECTED),
            // Longer than the receive buffer: a peer with a larger send buffer.
            Err(crate::uds::UdsError::MessageTruncated { len, capacity }) => {
                message.abandon();
                Err(Error::protocol(format!(
                    "a packet of {len} bytes, over this socket's {capacity}: its message is lost"
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Receives one packet into the message: `true` once it is whole.
    fn absorb(&mut self) -> Result<bool, Error> {
        Self::packet(&mut self.socket, &mut self.message, |message, packet| {
            message.absorb(packet)
        })
    }

    /// Receives packets until a message is whole; what arrived stays when a receive
    /// timeout ends the wait.
    fn fill(&mut self) -> Result<(), Error> {
        while !self.message.is_ready() {
            self.absorb()?;
        }
        Ok(())
    }

    pub(crate) fn recv(&mut self) -> Result<Bytes, Error> {
        self.fill()?;
        Ok(self.message.take())
    }

    /// Bounded as a whole: a message of many packets cannot stretch the wait past
    /// `timeout` (what arrived of it stays).
    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        poll::recv_by(self, timeout, |r| r.socket.as_fd(), Self::try_recv)
    }

    /// A message if its packets are all there: a readable seqpacket socket holds a whole
    /// packet, so each receive here returns at once.
    pub(crate) fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        while !self.message.is_ready() {
            if !poll::ready(self.socket.as_fd(), PollFlags::IN, Some(Duration::ZERO))? {
                return Ok(None);
            }
            self.absorb()?;
        }
        Ok(Some(self.message.take()))
    }

    /// Straight from the socket's receive buffer into `buf` when the message is one
    /// packet that fits; a message that does not fit stays for the next call.
    pub(crate) fn recv_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.message.is_idle() {
            let direct =
                Self::packet(
                    &mut self.socket,
                    &mut self.message,
                    |message, packet| match packet.split_first() {
                        Some((&LAST, bytes)) if bytes.len() <= buf.len() => {
                            buf[..bytes.len()].copy_from_slice(bytes);
                            Ok(Some(bytes.len()))
                        }
                        _ => message.absorb(packet).map(|_| None),
                    },
                )?;
            if let Some(len) = direct {
                return Ok(len);
            }
        }
        self.fill()?;
        self.message.take_into_slice(buf)
    }

    /// Into `buf`, swapped with the reassembly buffer: no allocation per message.
    pub(crate) fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        self.fill()?;
        Ok(self.message.take_into(buf))
    }
}
