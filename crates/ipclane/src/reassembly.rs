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

/// Least a buffer grows by when it must: small messages kept by the caller then cost
/// one allocation for many, not one each.
const MIN_GROWTH: usize = 64 << 10;

/// The message being put together.
#[derive(Debug)]
pub(crate) struct Reassembly {
    /// Its fragments so far.
    partial: BytesMut,
    /// Whether `partial` holds a whole message (its last fragment came).
    ready: bool,
    /// Whether the fragments until the next last one are dropped: the rest of a message
    /// already reported broken, which must not be taken for the start of the next.
    skipping: bool,
    /// The longest message accepted.
    max: usize,
}

impl Reassembly {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            ready: false,
            skipping: false,
            max,
        }
    }

    /// Whether no message is in progress or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        !self.ready && !self.skipping && self.partial.is_empty()
    }

    /// Gives up the message in progress, which was reported broken (a fragment lost or
    /// refused): what came of it is dropped, and so are its fragments still to come, up
    /// to and with its last, so the next message starts clean.
    pub(crate) fn abandon(&mut self) {
        if !self.ready {
            self.skipping = !self.partial.is_empty() || self.skipping;
            self.partial.clear();
        }
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
            self.abandon();
            return Err(Error::protocol(format!("fragment flag {flag:#x}")));
        }
        if self.skipping {
            self.skipping = flag == MORE;
            return Ok(false);
        }
        if self.partial.len() + bytes.len() > self.max {
            let len = self.partial.len() + bytes.len();
            self.partial.clear();
            self.skipping = flag == MORE;
            return Err(Error::protocol(format!(
                "a message of more than {len} bytes, over the maximum of {}",
                self.max
            )));
        }
        // Room was made before the packet was received (`reserve`); a caller that did not
        // may abort the process here when memory runs out.
        self.partial.extend_from_slice(bytes);
        self.ready = flag == LAST;
        Ok(self.ready)
    }

    /// Makes room for `more` bytes of the message in progress (at most what its maximum
    /// leaves), before they are received, so that the message is never left half taken
    /// when memory runs out: the capacity doubles, within the maximum, so appending
    /// stays amortised O(1) per byte.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`], nothing changed.
    pub(crate) fn reserve(&mut self, more: usize) -> Result<(), Error> {
        let len = self.partial.len();
        let want = len + more.min(self.max.saturating_sub(len));
        // Room, or the buffer's own allocation back once the messages handed out of it
        // were dropped: steady traffic allocates nothing.
        if self.partial.capacity() >= want || self.partial.try_reclaim(want - len) {
            return Ok(());
        }
        // Doubling what it had, and at least a block of messages at once: a caller that
        // keeps the messages leaves only the tail of the buffer each time.
        let doubled = self.partial.capacity().saturating_mul(2);
        let grown = want.max(doubled.max(MIN_GROWTH).min(self.max));
        crate::buffer::try_grow(&mut self.partial, grown)
    }

    /// Appends a fragment's bytes received elsewhere (after its flag was read): see
    /// [`absorb`](Self::absorb).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a message over the maximum, [`Error::OutOfMemory`] when
    /// there is no memory for the fragment (nothing changed: offer it again later).
    pub(crate) fn spare(&mut self, len: usize) -> Result<&mut [u8], Error> {
        if self.partial.len() + len > self.max {
            return Err(Error::protocol(format!(
                "a message of more than the maximum of {} bytes",
                self.max
            )));
        }
        self.reserve(len)?;
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

    /// After a message reported broken, its remaining fragments are dropped and the next
    /// message arrives whole, never glued to what was left of the broken one.
    #[test]
    fn the_message_after_a_broken_one_starts_clean() {
        let mut r = Reassembly::new(4);
        assert!(!r.absorb(&[MORE, 1, 2, 3]).unwrap());
        assert!(
            matches!(r.absorb(&[MORE, 4, 5]), Err(Error::Protocol { .. })),
            "over 4 bytes"
        );
        assert!(
            !r.absorb(&[MORE, 6]).unwrap(),
            "the rest of the broken one is dropped"
        );
        assert!(
            !r.absorb(&[LAST, 7]).unwrap(),
            "up to and with its last fragment"
        );
        assert!(r.absorb(&[LAST, 8, 9]).unwrap());
        assert_eq!(&r.take()[..], &[8, 9]);
        // A fragment lost below (the transport reported it): the same.
        assert!(!r.absorb(&[MORE, 1]).unwrap());
        r.abandon();
        assert!(!r.is_idle());
        assert!(!r.absorb(&[LAST, 2]).unwrap());
        assert!(r.is_idle());
        assert!(r.absorb(&[LAST, 3]).unwrap());
        assert_eq!(&r.take()[..], &[3]);
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
