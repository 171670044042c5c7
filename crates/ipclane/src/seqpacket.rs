//! The `seqpacket:` transport: a Unix `SOCK_SEQPACKET` socket, which keeps message
//! boundaries itself.
//!
//! Each packet is one flag byte ([`MORE`] or [`LAST`], as on shared memory) and a
//! fragment. A message longer than the socket carries in one packet (its send buffer
//! less 32 bytes, Linux's limit) is therefore sent in fragments and reassembled, rather
//! than refused, so the connection's maximum is the same as on every transport; and an
//! empty message is a packet of one byte, which a receiver cannot take for the end of the
//! stream.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rustix::event::PollFlags;

use crate::shm::{LAST, MORE};
use crate::uds::SeqpacketStream;
use crate::{Error, Options, poll};

/// The sending half.
#[derive(Debug)]
pub(crate) struct SeqSender {
    socket: SeqpacketStream,
    /// Where each packet is put together (reused: no allocation per message).
    packet: Vec<u8>,
    max_message_len: usize,
    /// The longest fragment one packet carries.
    fragment: usize,
}

/// The receiving half.
#[derive(Debug)]
pub(crate) struct SeqReceiver {
    socket: SeqpacketStream,
    max_message_len: usize,
    partial: BytesMut,
    timeout: Option<Duration>,
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
            max_message_len: options.max_message_len,
            fragment,
        },
        SeqReceiver {
            socket: reading,
            max_message_len: options.max_message_len,
            partial: BytesMut::new(),
            timeout: None,
        },
    ))
}

impl SeqSender {
    pub(crate) fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        if msg.len() > self.max_message_len {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: self.max_message_len,
            });
        }
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
        if msg.len() > self.max_message_len {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max: self.max_message_len,
            });
        }
        if !poll::ready(self.socket.as_fd(), PollFlags::OUT, Some(timeout))? {
            return Ok(false);
        }
        self.send(msg)?;
        Ok(true)
    }
}

impl SeqReceiver {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        if self.timeout != timeout {
            self.socket.set_read_timeout(timeout)?;
            self.timeout = timeout;
        }
        Ok(())
    }

    /// Receives packets into `partial` until a message is complete; what arrived stays
    /// there when a receive timeout ends the wait.
    fn take(&mut self) -> Result<Bytes, Error> {
        while !absorb(&mut self.socket, self.max_message_len, &mut self.partial)? {}
        Ok(self.partial.split().freeze())
    }

    pub(crate) fn recv(&mut self) -> Result<Bytes, Error> {
        self.set_timeout(None)?;
        self.take()
    }

    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        if timeout.is_zero() {
            return self.try_recv()?.ok_or(Error::Timeout);
        }
        self.set_timeout(Some(timeout))?;
        self.take()
    }

    /// A message if its packets are all there: a readable seqpacket socket holds a whole
    /// packet, so each receive here returns at once.
    pub(crate) fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            if !poll::ready(self.socket.as_fd(), PollFlags::IN, Some(Duration::ZERO))? {
                return Ok(None);
            }
            self.set_timeout(None)?;
            if absorb(&mut self.socket, self.max_message_len, &mut self.partial)? {
                return Ok(Some(self.partial.split().freeze()));
            }
        }
    }

    /// Straight from the socket's receive buffer into `buf`: no allocation per message.
    pub(crate) fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        self.set_timeout(None)?;
        buf.clear();
        buf.extend_from_slice(&self.partial);
        self.partial.clear();
        while !absorb(&mut self.socket, self.max_message_len, buf)? {}
        Ok(buf.len())
    }
}

/// Receives one packet and appends its fragment to `out`: `true` once it was a message's
/// last.
fn absorb(socket: &mut SeqpacketStream, max: usize, out: &mut BytesMut) -> Result<bool, Error> {
    let packet = socket.recv_with(|packet| -> Result<bool, Error> {
        let Some((&flag, fragment)) = packet.split_first() else {
            return Err(Error::protocol("an empty packet (no fragment flag)"));
        };
        if out.len() + fragment.len() > max {
            return Err(Error::protocol(format!(
                "a message of more than the maximum of {max} bytes"
            )));
        }
        out.extend_from_slice(fragment);
        match flag {
            LAST => Ok(true),
            MORE => Ok(false),
            other => Err(Error::protocol(format!("fragment flag {other:#x}"))),
        }
    })?;
    packet.ok_or(Error::Disconnected)?
}
