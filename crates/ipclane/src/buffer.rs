//! Growing a receive buffer without aborting the process when memory runs out: a large
//! message on a process under `RLIMIT_AS` or a cgroup limit is [`Error::OutOfMemory`]
//! for that receive, never a `handle_alloc_error` abort, and the message stays next.

use bytes::{Bytes, BytesMut};

use crate::Error;

/// Makes `buf`'s capacity at least `capacity`, keeping its bytes: at once if it has
/// room or can take its whole allocation back (nothing else refers to it any more, as
/// when the messages split off it were dropped: steady traffic allocates nothing), else
/// by moving them into one new, exactly sized allocation.
///
/// # Errors
///
/// [`Error::OutOfMemory`], `buf` untouched, when the memory cannot be had.
pub(crate) fn try_grow(buf: &mut BytesMut, capacity: usize) -> Result<(), Error> {
    if buf.capacity() >= capacity || buf.try_reclaim(capacity.saturating_sub(buf.len())) {
        return Ok(());
    }
    let mut grown = Vec::new();
    grown
        .try_reserve_exact(capacity)
        .map_err(|_| Error::OutOfMemory { bytes: capacity })?;
    grown.extend_from_slice(buf);
    // A vector owned alone becomes a `BytesMut` with its capacity, without a copy.
    *buf = BytesMut::from(Bytes::from(grown));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_whose_messages_were_dropped_is_reused() {
        let mut buf = BytesMut::new();
        try_grow(&mut buf, 4096).unwrap();
        let start = buf.as_ptr();
        buf.extend_from_slice(&[7; 4096]);
        let message = buf.split().freeze();
        assert_eq!(buf.capacity(), 0);
        drop(message);
        try_grow(&mut buf, 4096).unwrap();
        assert!(buf.capacity() >= 4096);
        assert_eq!(buf.as_ptr(), start, "the same allocation, taken back");
    }

    #[test]
    fn growing_keeps_the_bytes_and_an_impossible_size_is_an_error() {
        let mut buf = BytesMut::from(&b"kept"[..]);
        try_grow(&mut buf, 1000).unwrap();
        assert!(buf.capacity() >= 1000);
        assert_eq!(&buf[..], b"kept");
        let err = try_grow(&mut buf, usize::MAX / 2).unwrap_err();
        assert!(matches!(err, Error::OutOfMemory { .. }), "{err}");
        assert_eq!(&buf[..], b"kept", "untouched");
    }
}
