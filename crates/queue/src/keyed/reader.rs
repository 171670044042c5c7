//! A reader of a last-values table.

use std::ptr::NonNull;
use std::sync::Arc;

use bytes::Bytes;

use super::table::{self, EntryHeader};
use crate::QueueError;
use crate::layout::MAX_POSITION;
use crate::memory::Memory;
use crate::sink::Sink;
use crate::sync::{AtomicU64, Ordering, fence, spin_hint, yield_now};

/// Attempts a read makes while the key is being written, or rewritten under the copy,
/// before it reports [`QueueError::Busy`] (about a millisecond, on an idle machine).
const ATTEMPTS: u32 = 1024;

/// Attempts that only spin before the next; past these, each gives the CPU away first, so
/// that a writer preempted in the middle of a value (on this CPU) can finish it.
const SPINS: u32 = 64;

/// What one attempt to copy an entry gave.
enum Attempt {
    /// The key was never set.
    Unset,
    /// A value tagged `.0`, of this length, copied out.
    Value(u64, usize),
    /// Being written, or rewritten during the copy: try again.
    Moving,
}

/// A reader of a [`LastValues`](crate::LastValues) table. Any number may exist, in any
/// processes; a reader only reads the shared memory, so it can neither slow down the
/// writer nor disturb another reader. `Send`, not `Sync`; a clone is another reader.
///
/// # Examples
///
/// ```
/// use ipclane_queue::LastValues;
///
/// let (mut writer, reader) = LastValues::heap(16, 64)?;
/// writer.set(5, 1000, b"GBPUSD 1.2650")?;
/// let mut buf = [0u8; 64];
/// let (tag, len) = reader.get_into(5, &mut buf)?.expect("key 5 was set");
/// assert_eq!((tag, &buf[..len]), (1000, &b"GBPUSD 1.2650"[..]));
/// assert_eq!(reader.get_into(6, &mut buf)?, None);
/// assert_eq!((reader.keys(), reader.max_value_len()), (16, 64));
/// # Ok::<(), ipclane_queue::QueueError>(())
/// ```
#[derive(Debug)]
#[must_use = "a LastValueReader does nothing until it reads"]
pub struct LastValueReader<M: Memory> {
    /// Keeps the memory alive for the pointer below.
    memory: Arc<M>,
    entries: NonNull<u8>,
    keys: usize,
    value_size: usize,
}

// SAFETY: the pointer points into memory the Arc keeps alive; a reader only performs
// atomic loads on it.
unsafe impl<M: Memory> Send for LastValueReader<M> {}

/// Another reader of the same table.
impl<M: Memory> Clone for LastValueReader<M> {
    fn clone(&self) -> Self {
        Self {
            memory: self.memory.clone(),
            ..*self
        }
    }
}

impl<M: Memory> LastValueReader<M> {
    /// Attaches a reader to the table in `memory`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `memory` holds no last-values table.
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let table::Attached {
            entries,
            keys,
            value_size,
            ..
        } = table::attach(&*memory)?;
        Ok(Self {
            memory,
            entries,
            keys,
            value_size,
        })
    }

    /// Keys in the table: valid keys are `0..keys()`.
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// Largest value.
    pub fn max_value_len(&self) -> usize {
        self.value_size
    }

    /// The latest value of `key` and its tag, `None` before the key's first value.
    ///
    /// # Errors
    ///
    /// [`QueueError::KeyOutOfRange`] for a key at or past [`keys`](Self::keys);
    /// [`QueueError::Busy`] when the value was being written during each of the attempts
    /// made to copy it, for about a millisecond: the writer was preempted in the middle
    /// of setting it, or sets that one key in a tight loop (try again); a writer that died
    /// mid-write leaves the key so until it is set again;
    /// [`QueueError::Corrupted`] for an entry no correct writer leaves (a length over
    /// the largest value, an impossible sequence number), naming the key.
    pub fn get(&self, key: usize) -> Result<Option<(u64, Bytes)>, QueueError> {
        let mut out = Vec::new();
        Ok(self
            .read(key, &mut out)?
            .map(|(tag, _)| (tag, Bytes::from(out))))
    }

    /// Like [`get`](Self::get), copying the value into `buf` and returning its tag and
    /// length: no allocation. On an error or `None`, what `buf` holds is unspecified.
    ///
    /// # Errors
    ///
    /// Those of `get`, and [`QueueError::BufferTooSmall`] when `buf` is shorter than the
    /// value.
    pub fn get_into(&self, key: usize, buf: &mut [u8]) -> Result<Option<(u64, usize)>, QueueError> {
        self.read(key, buf)
    }

    fn read<S: Sink + ?Sized>(
        &self,
        key: usize,
        out: &mut S,
    ) -> Result<Option<(u64, usize)>, QueueError> {
        if key >= self.keys {
            return Err(table::out_of_range(key, self.keys));
        }
        // SAFETY: entries/value_size come from attach, memory is alive, key < keys.
        let (header, words) = unsafe { table::entry(self.entries, self.value_size, key) };
        for attempt in 0..ATTEMPTS {
            match self.attempt(key, header, words, out)? {
                Attempt::Unset => return Ok(None),
                Attempt::Value(tag, len) => return Ok(Some((tag, len))),
                Attempt::Moving if attempt < SPINS => spin_hint(),
                Attempt::Moving => yield_now(),
            }
        }
        Err(QueueError::Busy { key })
    }

    /// One seqlock read of the entry of `key`: each word of the header read once and
    /// validated, the value copied, the sequence re-checked.
    fn attempt<S: Sink + ?Sized>(
        &self,
        key: usize,
        header: &EntryHeader,
        words: NonNull<AtomicU64>,
        out: &mut S,
    ) -> Result<Attempt, QueueError> {
        // Acquire pairs with the writer's Release store of the even sequence: the value
        // it ended is visible.
        let before = header.seq.load(Ordering::Acquire);
        if before == 0 {
            return Ok(Attempt::Unset);
        }
        if before >= MAX_POSITION {
            return Err(QueueError::corrupted(format!(
                "key {key}: sequence number {before}"
            )));
        }
        if before & 1 == 1 {
            return Ok(Attempt::Moving);
        }
        let tag = header.tag.load(Ordering::Relaxed);
        let len = header.len.load(Ordering::Relaxed);
        if len > self.value_size as u64 || !out.fits(len) {
            // A length read while the value is rewritten is not yet an error: tell a
            // rewrite from corruption or a short buffer by re-checking the sequence.
            fence(Ordering::Acquire);
            if header.seq.load(Ordering::Relaxed) != before {
                return Ok(Attempt::Moving);
            }
            return Err(if len > self.value_size as u64 {
                QueueError::corrupted(format!(
                    "key {key}: value length {len} over the largest, {}",
                    self.value_size
                ))
            } else {
                QueueError::BufferTooSmall {
                    len: len as usize,
                    capacity: out.room(),
                }
            });
        }
        // SAFETY: len <= value_size (checked above), and the entry holds value_size / 8
        // words (value_size a multiple of 8).
        unsafe { crate::words::load(words, out.buffer(len as usize)) };
        // Seqlock read: the loads above happen before the re-check below (pairs with the
        // writer's Release fence after its odd store: a copy that saw any new word sees
        // the sequence changed).
        fence(Ordering::Acquire);
        let after = header.seq.load(Ordering::Relaxed);
        Ok(if after == before {
            Attempt::Value(tag, len as usize)
        } else {
            Attempt::Moving
        })
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::{HeapMemory, LastValueWriter, LastValues};

    const KEYS: usize = 4;
    const VALUE: usize = 32;
    const STRIDE: usize = table::ENTRY_HEADER + VALUE;

    fn table() -> (
        LastValueWriter<HeapMemory>,
        LastValueReader<HeapMemory>,
        Arc<HeapMemory>,
    ) {
        let memory = LastValues::heap_memory(KEYS, VALUE).unwrap();
        let writer = LastValueWriter::attach(memory.clone()).unwrap();
        let reader = LastValueReader::attach(memory.clone()).unwrap();
        (writer, reader, memory)
    }

    /// Word `field` (0 seq, 1 tag, 2 len) of the entry of `key`.
    fn word(memory: &HeapMemory, key: usize, field: usize) -> &AtomicU64 {
        let offset = table::ENTRIES_OFFSET + key * STRIDE + field * 8;
        assert!(offset + 8 <= memory.len());
        // SAFETY: in bounds and 8-aligned (the allocation is 128-aligned); the table
        // accesses these words atomically; the borrow keeps the memory alive.
        unsafe { AtomicU64::from_ptr(memory.as_ptr().as_ptr().add(offset).cast()) }
    }

    fn corrupted_naming_key<T: std::fmt::Debug>(result: Result<T, QueueError>, key: usize) {
        match result {
            Err(QueueError::Corrupted { reason }) => {
                assert!(reason.contains(&format!("key {key}")), "{reason}")
            }
            other => panic!("not Corrupted: {other:?}"),
        }
    }

    #[test]
    fn a_length_over_the_largest_value_is_corrupted_naming_the_key() {
        let (mut writer, reader, memory) = table();
        writer.set(2, 1, b"quote").unwrap();
        for len in [VALUE as u64 + 1, 1 << 40, u64::MAX] {
            word(&memory, 2, 2).store(len, Ordering::Relaxed);
            corrupted_naming_key(reader.get(2), 2);
            corrupted_naming_key(reader.get_into(2, &mut [0; 64]), 2);
        }
        // The writer never read it back: its next value is whole.
        writer.set(2, 2, b"again").unwrap();
        assert_eq!(
            reader.get(2).unwrap().unwrap(),
            (2, Bytes::from_static(b"again"))
        );
    }

    #[test]
    fn an_impossible_sequence_number_is_corrupted_for_readers_and_a_new_writer() {
        let (writer, reader, memory) = table();
        drop(writer);
        for seq in [MAX_POSITION, MAX_POSITION + 2, u64::MAX - 1] {
            word(&memory, 1, 0).store(seq, Ordering::Relaxed);
            corrupted_naming_key(reader.get(1), 1);
            corrupted_naming_key(LastValueWriter::attach(memory.clone()), 1);
        }
        // The refused writer released its side: a writer attaches once the key is sane.
        word(&memory, 1, 0).store(6, Ordering::Relaxed);
        let mut writer = LastValueWriter::attach(memory.clone()).unwrap();
        writer.set(1, 9, b"x").unwrap();
        assert_eq!(word(&memory, 1, 0).load(Ordering::Relaxed), 8);
    }

    #[test]
    fn a_key_left_odd_is_busy_after_bounded_attempts_and_a_new_writer_ends_it() {
        let (mut writer, reader, memory) = table();
        writer.set(3, 1, b"one").unwrap();
        drop(writer);
        // A writer that died mid-write.
        word(&memory, 3, 0).store(3, Ordering::Relaxed);
        assert!(matches!(reader.get(3), Err(QueueError::Busy { key: 3 })));
        let mut writer = LastValueWriter::attach(memory.clone()).unwrap();
        writer.set(3, 2, b"two").unwrap();
        assert_eq!(word(&memory, 3, 0).load(Ordering::Relaxed), 4);
        assert_eq!(
            reader.get(3).unwrap().unwrap(),
            (2, Bytes::from_static(b"two"))
        );
    }

    #[test]
    fn a_taking_over_writer_continues_each_sequence() {
        let (mut writer, reader, memory) = table();
        writer.set(0, 1, b"a").unwrap();
        writer.set(0, 2, b"b").unwrap();
        drop(writer);
        let mut writer = LastValueWriter::attach(memory.clone()).unwrap();
        writer.set(0, 3, b"c").unwrap();
        writer.set(1, 4, b"d").unwrap();
        assert_eq!(word(&memory, 0, 0).load(Ordering::Relaxed), 6);
        assert_eq!(word(&memory, 1, 0).load(Ordering::Relaxed), 2);
        assert_eq!(
            reader.get(0).unwrap().unwrap(),
            (3, Bytes::from_static(b"c"))
        );
    }

    #[test]
    fn a_short_buffer_is_buffer_too_small_and_the_value_stays() {
        let (mut writer, reader, _memory) = table();
        writer.set(0, 5, &[7; 20]).unwrap();
        assert!(matches!(
            reader.get_into(0, &mut [0; 19]),
            Err(QueueError::BufferTooSmall {
                len: 20,
                capacity: 19
            })
        ));
        let mut buf = [0; 20];
        assert_eq!(reader.get_into(0, &mut buf).unwrap(), Some((5, 20)));
        assert_eq!(buf, [7; 20]);
    }

    #[test]
    fn keys_out_of_range_are_refused_naming_the_key_and_the_size() {
        let (mut writer, reader, _memory) = table();
        for key in [KEYS, KEYS + 1, usize::MAX] {
            for err in [
                writer.set(key, 0, b"x").unwrap_err(),
                reader.get(key).unwrap_err(),
                reader.get_into(key, &mut [0; 8]).unwrap_err(),
            ] {
                assert!(
                    matches!(err, QueueError::KeyOutOfRange { key: k, keys: KEYS } if k == key),
                    "{err:?}"
                );
                assert!(err.to_string().contains(&key.to_string()), "{err}");
            }
        }
    }

    #[test]
    fn a_second_live_writer_is_refused_and_shapes_are_checked() {
        let (_writer, _reader, memory) = table();
        assert!(matches!(
            LastValueWriter::attach(memory),
            Err(QueueError::AlreadyClaimed { side: "writer" })
        ));
        for (keys, value) in [(0, 8), (1, 0), (0, 0)] {
            assert!(matches!(
                LastValues::heap(keys, value),
                Err(QueueError::Layout { .. })
            ));
        }
        assert!(matches!(
            LastValues::heap(usize::MAX, 8),
            Err(QueueError::Layout { .. })
        ));
        let (w, r) = LastValues::heap(1, 1).unwrap();
        assert_eq!((w.max_value_len(), r.max_value_len(), r.keys()), (8, 8, 1));
    }

    #[test]
    fn other_structures_are_refused() {
        let broadcast = crate::Broadcast::heap_memory(4, 32).unwrap();
        assert!(matches!(
            LastValueReader::attach(broadcast.clone()),
            Err(QueueError::Layout { .. })
        ));
        assert!(matches!(
            LastValueWriter::attach(broadcast),
            Err(QueueError::Layout { .. })
        ));
        // Meta that claims more entries than the memory holds.
        let memory = LastValues::heap_memory(2, 8).unwrap();
        // SAFETY: the capacity word of the meta block (offset 16), 8-aligned and in
        // bounds; nothing else uses the memory.
        let capacity = unsafe { AtomicU64::from_ptr(memory.as_ptr().as_ptr().add(16).cast()) };
        capacity.store(3, Ordering::Relaxed);
        assert!(matches!(
            LastValueReader::attach(memory),
            Err(QueueError::Layout { .. })
        ));
    }
}
