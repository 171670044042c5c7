//! Growth of receive buffers: memory follows the bytes that arrived, never a length a
//! peer announced.
//!
//! `BytesMut::reserve` may double a buffer's capacity whatever is asked for, so a buffer
//! holding most of an 8 MiB frame would grow to 16 MiB for its last bytes; and reserving
//! the whole length a header announces lets one header cost gigabytes. [`grow`] instead
//! allocates an exact capacity: doubling with what already arrived (copying stays
//! amortised O(1) per byte), never more than the frame in progress still needs beyond a
//! bounded headroom.

use bytes::BytesMut;

/// Makes room for at least `room` more bytes in `buf`, which holds the start of a frame
/// that still lacks `need` bytes: reuses the buffer's own memory when nothing else refers
/// to it, else [`grow`]s it with `room` as headroom. The capacity stays within
/// `len + max(room, need)`.
pub(crate) fn reserve(buf: &mut BytesMut, room: usize, need: usize) {
    if !buf.try_reclaim(room) {
        grow(buf, room, need);
    }
}

/// Moves the bytes of `buf` into a new buffer of exactly `len + max(headroom, min(len,
/// need))` bytes, where `len` is the number of bytes in `buf` and `need` what the frame in
/// progress still lacks.
///
/// Since `len + need` is the size of that frame, the new capacity is at most
/// `max(len + headroom, frame size)`, and at most twice what arrived plus `headroom`.
/// Frames already split off `buf` keep the old allocation alive only as long as they live.
pub(crate) fn grow(buf: &mut BytesMut, headroom: usize, need: usize) {
    let len = buf.len();
    let capacity = len.saturating_add(headroom.max(len.min(need)));
    let mut grown = BytesMut::with_capacity(capacity);
    grown.extend_from_slice(buf);
    *buf = grown;
}
