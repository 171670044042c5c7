//! Messages carried in fragments, and put together again. On a seqpacket socket each
//! packet is one flag byte, [`MORE`] or [`LAST`], and a fragment ([`Reassembly::absorb`]);
//! on shared memory a record's length says whether more follow, and the receiver appends
//! each record itself ([`Reassembly::spare`], [`Reassembly::finish`]). Either way a
//! [`Reassembly`] keeps the message in progress, and a whole message that did not fit the
//! caller's buffer, across calls, so a timeout or a short buffer loses nothing.

use bytes::{Bytes, BytesMut};

use crate::Error;

/// Flag byte of a fragment that another follows.
pub(crate) const MORE: u8 = 1;

/// Flag byte of a message's last (or only) fragment.
pub(crate) const LAST: u8 = 0;

/// The message being put together.
#[derive(Debug)]
pub(crate) struct Reassembly {
    /// Its fragments so far.
    partial: BytesMut,
    /// Whether `partial` holds a whole message (its last fragment came).
    ready: bool,
    /// The longest message accepted.
    max: usize,
}

impl Reassembly {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            ready: false,
            max,
        }
    }

    /// Whether no message is in progress or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        !self.ready && self.partial.is_empty()
    }

    /// Whether a whole message waits to be taken.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    /// Adds one fragment (its flag byte first): `true` once the message is whole.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a fragment without a valid flag, or a message over the
    /// maximum.
    pub(crate) fn absorb(&mut self, fragment: &[u8]) -> Result<bool, Error> {
        debug_assert!(!self.ready, "absorb after a whole message");
        let Some((&flag, bytes)) = fragment.split_first() else {
            return Err(Error::protocol("an empty fragment (no flag)"));
        };
        if flag != LAST && flag != MORE {
            return Err(Error::protocol(format!("fragment flag {flag:#x}")));
        }
        if self.partial.len() + bytes.len() > self.max {
            return Err(Error::protocol(format!(
                "a message of more than the maximum of {} bytes",
                self.max
            )));
        }
        self.partial.extend_from_slice(bytes);
        self.ready = flag == LAST;
        Ok(self.ready)
    }

    /// Appends a fragment's bytes received elsewhere (after its flag was read): see
    /// [`absorb`](Self::absorb).
    pub(crate) fn spare(&mut self, len: usize) -> Result<&mut [u8], Error> {
        if self.partial.len() + len > self.max {
            return Err(Error::protocol(format!(
                "a message of more than the maximum of {} bytes",
                self.max
            )));
        }
        let start = self.partial.len();
        self.partial.resize(start + len, 0);
        Ok(&mut self.partial[start..])
    }

    /// Marks the message whole (after [`spare`](Self::spare) took its last fragment).
    pub(crate) fn finish(&mut self) {
        self.ready = true;
    }

    /// The whole message.
    pub(crate) fn take(&mut self) -> Bytes {
        debug_assert!(self.ready);
        self.ready = false;
        self.partial.split().freeze()
    }

    /// The whole message, as `buf` (replacing what it held): the two buffers swap, so
    /// nothing is copied, and both keep their capacity for the messages after.
    pub(crate) fn take_into(&mut self, buf: &mut BytesMut) -> usize {
        debug_assert!(self.ready);
        std::mem::swap(buf, &mut self.partial);
        self.partial.clear();
        self.ready = false;
        buf.len()
    }

    /// The whole message, into `buf` if it fits; it stays otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`], the message kept.
    pub(crate) fn take_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        debug_assert!(self.ready);
        let len = self.partial.len();
        let Some(out) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall {
                len,
                capacity: buf.len(),
            });
        };
        out.copy_from_slice(&self.partial);
        self.partial.clear();
        self.ready = false;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_make_a_message_that_a_short_buffer_leaves_whole() {
        let mut r = Reassembly::new(10);
        assert!(r.is_idle());
        assert!(!r.absorb(&[MORE, 1, 2]).unwrap());
        assert!(!r.is_idle() && !r.is_ready());
        assert!(r.absorb(&[LAST, 3]).unwrap());
        let mut short = [0u8; 2];
        assert!(matches!(
            r.take_into_slice(&mut short),
            Err(Error::BufferTooSmall {
                len: 3,
                capacity: 2
            })
        ));
        assert!(r.is_ready(), "kept");
        assert_eq!(&r.take()[..], &[1, 2, 3]);
        assert!(r.is_idle());
    }

    #[test]
    fn broken_fragments_are_protocol_errors() {
        let mut r = Reassembly::new(4);
        assert!(matches!(r.absorb(&[]), Err(Error::Protocol { .. })));
        assert!(matches!(r.absorb(&[7, 1]), Err(Error::Protocol { .. })));
        assert!(matches!(
            r.absorb(&[LAST, 1, 2, 3, 4, 5]),
            Err(Error::Protocol { .. })
        ));
    }
}
