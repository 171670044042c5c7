//! Growth of receive buffers: memory follows the bytes that arrived, never a length a
//! peer announced.
//!
//! `BytesMut::reserve` may double a buffer's capacity whatever is asked for, so a buffer
//! holding most of an 8 MiB frame would grow to 16 MiB for its last bytes; and reserving
//! the whole length a header announces lets one header cost gigabytes. [`grow`] instead
//! allocates an exact capacity: doubling with what already arrived (copying stays
//! amortised O(1) per byte), never more than the frame in progress still needs beyond a
//! bounded headroom.

use bytes::{Bytes, BytesMut};

use crate::UdsError;

/// Makes room for at least `room` more bytes in `buf`, which holds the start of a frame
/// that still lacks `need` bytes: reuses the buffer's own memory when nothing else refers
/// to it, else [`grow`]s it with `room` as headroom. The capacity stays within
/// `len + max(room, need)`.
///
/// # Errors
///
/// [`UdsError::OutOfMemory`], `buf` untouched, when the memory cannot be had.
pub(crate) fn reserve(buf: &mut BytesMut, room: usize, need: usize) -> Result<(), UdsError> {
    if buf.try_reclaim(room) {
        Ok(())
    } else {
        grow(buf, room, need)
    }
}

/// Moves the bytes of `buf` into a new buffer of exactly `len + max(headroom, min(len,
/// need))` bytes, where `len` is the number of bytes in `buf` and `need` what the frame in
/// progress still lacks.
///
/// Since `len + need` is the size of that frame, the new capacity is at most
/// `max(len + headroom, frame size)`, and at most twice what arrived plus `headroom`.
/// Frames already split off `buf` keep the old allocation alive only as long as they live.
///
/// The allocation is fallible: a peer's large frame on a process short of memory (an
/// `RLIMIT_AS`, a cgroup limit) is an error for the receive, not an abort of the process.
///
/// # Errors
///
/// [`UdsError::OutOfMemory`], `buf` untouched, when the memory cannot be had.
pub(crate) fn grow(buf: &mut BytesMut, headroom: usize, need: usize) -> Result<(), UdsError> {
    let len = buf.len();
    let capacity = len.saturating_add(headroom.max(len.min(need)));
    let mut grown = Vec::new();
    grown
        .try_reserve_exact(capacity)
        .map_err(|_| UdsError::OutOfMemory { bytes: capacity })?;
    grown.extend_from_slice(buf);
    // A vector owned alone becomes a `BytesMut` with its capacity, without a copy.
    *buf = BytesMut::from(Bytes::from(grown));
    Ok(())
}
