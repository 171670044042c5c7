//! The writer of a last-values table.

use std::ptr::NonNull;
use std::sync::Arc;

use ipclane_segment::Claim;

use super::table::{self, Control, WRITER};
use crate::QueueError;
use crate::layout::MAX_POSITION;
use crate::memory::Memory;
use crate::sync::{Ordering, fence};

/// The writer of a [`LastValues`](crate::LastValues) table: one per table across all
/// processes, claimed like a [`BroadcastWriter`](crate::BroadcastWriter) (a second live
/// one is [`QueueError::AlreadyClaimed`]; one taking over from a dead writer continues
/// every key's sequence). `Send`, not `Sync`. Never waits for readers.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use ipclane_queue::{LastValueReader, LastValueWriter, LastValues, QueueError};
///
/// let memory = LastValues::heap_memory(2, 16)?; // LastValues::create_named between processes
/// let mut writer = LastValueWriter::attach(memory.clone())?;
/// let reader = LastValueReader::attach(memory)?;
/// writer.set(0, 41, b"bid 99 ask 101")?;
/// assert_eq!(reader.get(0)?.map(|(tag, _)| tag), Some(41));
/// assert!(matches!(
///     writer.set(0, 42, &[0; 17]),
///     Err(QueueError::TooLarge { len: 17, max: 16 })
/// ));
/// # Ok::<(), QueueError>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the LastValueWriter releases the table's writer side"]
pub struct LastValueWriter<M: Memory> {
    /// Keeps the memory alive for the pointers below.
    _memory: Arc<M>,
    control: NonNull<Control>,
    entries: NonNull<u8>,
    value_size: usize,
    /// The (odd) sequence number the next value of each key starts with: kept here, so
    /// that the writer never reads the table back.
    next: Box<[u64]>,
    _claim: Option<Claim>,
}

// SAFETY: the pointers point into memory the Arc keeps alive; the writer is the only one
// writing, one thread at a time (not Sync).
unsafe impl<M: Memory> Send for LastValueWriter<M> {}

impl<M: Memory> LastValueWriter<M> {
    /// Attaches the writer of the table in `memory`: one per table, across all
    /// processes. A writer taking over from a dead one continues each key's sequence, so
    /// readers never see a sequence go back (a key the dead writer left half-written
    /// stays [`QueueError::Busy`] for readers until it is set again).
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when a live writer exists, [`QueueError::Layout`],
    /// [`QueueError::Corrupted`] when a key's sequence number is one no writer reaches.
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let table::Attached {
            control,
            entries,
            keys,
            value_size,
        } = table::attach(&*memory)?;
        // SAFETY: validated by attach.
        let ctrl = unsafe { control.as_ref() };
        // The side first: once it is ours, no other writer moves the sequences we read.
        let claim = ctrl.writer.0.attach(&*memory, WRITER)?;
        let mut next = Vec::with_capacity(keys);
        for key in 0..keys {
            // SAFETY: entries/value_size come from attach, memory is alive, key < keys.
            let (header, _) = unsafe { table::entry(entries, value_size, key) };
            // Acquire: pairs with the previous writer's Release stores of the key's
            // sequence (its detach on the side word orders the rest).
            let seq = header.seq.load(Ordering::Acquire);
            if seq >= MAX_POSITION {
                ctrl.writer.0.detach();
                return Err(QueueError::corrupted(format!(
                    "key {key}: sequence number {seq}"
                )));
            }
            // Even: the next value starts at seq + 1. Odd: the previous writer died while
            // writing it; starting again at the same odd number keeps readers off it.
            next.push(seq | 1);
        }
        Ok(Self {
            _memory: memory,
            control,
            entries,
            value_size,
            next: next.into_boxed_slice(),
            _claim: claim,
        })
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; lives as long as self._memory.
        unsafe { self.control.as_ref() }
    }

    /// Keys in the table: valid keys are `0..keys()`.
    pub fn keys(&self) -> usize {
        self.next.len()
    }

    /// Largest value.
    pub fn max_value_len(&self) -> usize {
        self.value_size
    }

    /// Makes `value`, tagged `tag` (any number the caller chooses, returned with the
    /// value), the latest value of `key`; never waits.
    ///
    /// # Errors
    ///
    /// [`QueueError::KeyOutOfRange`] for a key at or past [`keys`](Self::keys),
    /// [`QueueError::TooLarge`] over [`max_value_len`](Self::max_value_len); the table is
    /// unchanged.
    pub fn set(&mut self, key: usize, tag: u64, value: &[u8]) -> Result<(), QueueError> {
        let Some(&odd) = self.next.get(key) else {
            return Err(table::out_of_range(key, self.keys()));
        };
        if value.len() > self.value_size {
            return Err(QueueError::TooLarge {
                len: value.len(),
                max: self.value_size,
            });
        }
        // SAFETY: entries/value_size come from attach, memory is alive, key < keys (the
        // `next` lookup above).
        let (header, words) = unsafe { table::entry(self.entries, self.value_size, key) };
        // Seqlock write: an odd sequence marks the entry as being written...
        header.seq.store(odd, Ordering::Relaxed);
        // ...and this fence keeps the stores below from being seen before it, so a reader
        // that sees any of the new value also sees the odd (or a later) sequence when it
        // re-checks (pairs with the reader's Acquire fence after its copy).
        fence(Ordering::Release);
        header.tag.store(tag, Ordering::Relaxed);
        header.len.store(value.len() as u64, Ordering::Relaxed);
        // SAFETY: value.len() <= value_size (checked above), and the entry holds
        // value_size / 8 words (value_size a multiple of 8).
        unsafe { crate::words::store(words, value) };
        // Release: a reader that loads this even sequence (Acquire) sees the whole value.
        header.seq.store(odd + 1, Ordering::Release);
        self.next[key] = odd + 2;
        Ok(())
    }
}

impl<M: Memory> Drop for LastValueWriter<M> {
    fn drop(&mut self) {
        self.control().writer.0.detach();
    }
}
