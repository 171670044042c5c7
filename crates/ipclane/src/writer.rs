//! [`MessageWriter`]: where [`Sender::send_with`](crate::Sender::send_with) has a message
//! written, straight into the ring on shared memory.

use std::io;

use crate::queue::{Segment, WriteGuard};

/// An [`io::Write`] of exactly one message's length: on shared memory the bytes go
/// straight into the ring (no copy of the message), on sockets into the connection's
/// reused send buffer. Writing past the message's length fails.
#[derive(Debug)]
pub struct MessageWriter<'a> {
    target: Target<'a>,
    len: usize,
    written: usize,
}

#[derive(Debug)]
pub(crate) enum Target<'a> {
    /// A ring record of exactly the message's length.
    Ring(WriteGuard<'a, Segment>),
    /// The sender's buffer (cleared).
    Buffer(&'a mut Vec<u8>),
}

impl<'a> MessageWriter<'a> {
    pub(crate) fn new(target: Target<'a>, len: usize) -> Self {
        Self {
            target,
            len,
            written: 0,
        }
    }

    /// The message's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes still to write.
    pub fn remaining(&self) -> usize {
        self.len - self.written
    }

    /// Where the message went, once it was written whole; `None` if it was not.
    pub(crate) fn finish(self) -> Option<Target<'a>> {
        (self.written == self.len).then_some(self.target)
    }
}

impl io::Write for MessageWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.remaining() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "{} bytes do not fit: the message is {} bytes, {} already written",
                    buf.len(),
                    self.len,
                    self.written
                ),
            ));
        }
        match &mut self.target {
            Target::Ring(guard) => guard.write_all(buf)?,
            Target::Buffer(vec) => vec.extend_from_slice(buf),
        }
        self.written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
