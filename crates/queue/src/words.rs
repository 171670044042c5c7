//! Bytes to and from a run of atomic words in shared memory: how a seqlock slot (a
//! broadcast record, a last-value entry) holds its payload. Each word is loaded or stored
//! once, `Relaxed`: the caller's sequence number and fences order them.

use std::ptr::NonNull;

use crate::sync::{AtomicU64, Ordering};

/// Stores `bytes` into the words at `words`, the last one padded with zeros: whole words
/// first, with copies of a fixed size (no call per word).
///
/// # Safety
///
/// `words` must point to at least `bytes.len().div_ceil(8)` live, aligned atomic words.
#[inline]
pub(crate) unsafe fn store(words: NonNull<AtomicU64>, bytes: &[u8]) {
    let word = |i: usize, value: [u8; 8]| {
        // SAFETY: i < bytes.len().div_ceil(8), which the caller guarantees live.
        unsafe { words.add(i).as_ref() }.store(u64::from_ne_bytes(value), Ordering::Relaxed)
    };
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for (i, chunk) in chunks.enumerate() {
        word(i, chunk.try_into().expect("chunks of 8 bytes"));
    }
    if !tail.is_empty() {
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        word(bytes.len() / 8, last);
    }
}

/// Fills `buf` from the words at `words`: whole words first, then the head of the last.
///
/// # Safety
///
/// `words` must point to at least `buf.len().div_ceil(8)` live, aligned atomic words.
#[inline]
pub(crate) unsafe fn load(words: NonNull<AtomicU64>, buf: &mut [u8]) {
    let word = |i: usize| {
        // SAFETY: i < buf.len().div_ceil(8), which the caller guarantees live.
        unsafe { words.add(i).as_ref() }.load(Ordering::Relaxed)
    };
    let len = buf.len();
    let mut chunks = buf.chunks_exact_mut(8);
    for (i, chunk) in (&mut chunks).enumerate() {
        chunk.copy_from_slice(&word(i).to_ne_bytes());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        tail.copy_from_slice(&word(len / 8).to_ne_bytes()[..tail.len()]);
    }
}
