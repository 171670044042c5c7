//! Raw writes and reads of the payload alone on any byte stream (a Unix stream socket, a
//! pipe, a TCP connection): both sides know the message size, so there is no length
//! prefix at all. The floor a framed transport on that stream is measured against.

use std::io::{BufReader, Read, Write};

use crate::endpoint::{Recv, Send};

/// Read-ahead of a raw receiver, as a framed one reads ahead into its decode buffer.
pub const READ_AHEAD: usize = 64 << 10;

/// Raw writes of the payload alone: one `write_all` per message.
#[derive(Debug)]
pub struct RawWrite<W>(pub W);

impl<W: Write> Send for RawWrite<W> {
    fn send(&mut self, message: &[u8]) {
        self.0.write_all(message).expect("write");
    }
}

/// Raw reads of exactly the receiver's buffer (the message size, known to both sides),
/// through a [`READ_AHEAD`] buffer.
#[derive(Debug)]
pub struct RawRead<R>(BufReader<R>);

impl<R: Read> RawRead<R> {
    /// Reads from `stream`.
    pub fn new(stream: R) -> Self {
        Self(BufReader::with_capacity(READ_AHEAD, stream))
    }
}

impl<R: Read> Recv for RawRead<R> {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.0.read_exact(buf).expect("read a whole message");
        buf.len()
    }

    /// Not counted: a blocking read does not say whether it waited.
    fn waits(&self) -> u64 {
        0
    }
}
