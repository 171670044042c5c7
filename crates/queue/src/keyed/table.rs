//! Layout and set-up of the last-values table.
//!
//! ```text
//! offset   size  field
//!      0    128  meta: magic, version, structure = 4, capacity (keys), slot_size (value bytes)
//!    128    128  writer side state (u32)
//!    256    ...  entries, one per key, each 24 + value_size bytes (value_size a multiple of 8):
//!                seq (u64): 0 never set; odd while a value is written, even once written
//!                           (2m+1, then 2m+2, for the key's m-th value from 0)
//!                tag (u64): the writer's tag of the value (opaque here)
//!                len (u64), value as u64 words
//! ```
//!
//! Each entry is a seqlock of its own. The writer keeps the next sequence number of every
//! key in its own memory, so after attaching it reads nothing back from the table: a
//! process that writes into the table can only feed readers garbage, which they validate.
//! Readers never write the memory; they copy an entry and then re-check its sequence
//! number, so a value rewritten while being copied is retried (a bounded number of
//! times) and never returned torn.

use std::ptr::NonNull;

use ipclane_segment::{Kind, Segment};

use crate::layout::{CachePadded, Meta, Side, SideId, Structure};
use crate::memory::{self, Memory};
use crate::sync::AtomicU64;
use crate::{LastValueReader, LastValueWriter, QueueError};

/// The writer's side: liveness claim 0.
pub(crate) const WRITER: SideId = SideId {
    claim: 0,
    name: "writer",
};

#[derive(Debug)]
#[repr(C)]
pub(crate) struct Control {
    pub(crate) meta: Meta,
    pub(crate) writer: CachePadded<Side>,
}

#[cfg(not(ipclane_loom))]
const _: () = assert!(size_of::<Control>() == 256);

pub(crate) const ENTRIES_OFFSET: usize = size_of::<Control>().next_multiple_of(memory::ALIGN);

#[derive(Debug)]
#[repr(C)]
pub(crate) struct EntryHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) tag: AtomicU64,
    pub(crate) len: AtomicU64,
}

pub(crate) const ENTRY_HEADER: usize = size_of::<EntryHeader>();

#[cfg(not(ipclane_loom))]
const _: () = assert!(ENTRY_HEADER == 24 && ENTRIES_OFFSET == 256);

/// A table holding the latest value of each of `keys` keys, for late joiners to a feed
/// that need the current quote of every instrument, not the history.
///
/// - One [`LastValueWriter`] per table across all processes sets a key's value with a
///   tag of its choosing (the facade stores the stream position there); it never waits.
/// - Any number of [`LastValueReader`]s, which only read the memory, get a key's latest
///   value and tag, or `None` before the key's first value.
/// - A reader never returns a torn value: each key is a seqlock, re-checked after the
///   copy; a value rewritten during every one of a bounded number of attempts is
///   [`QueueError::Busy`].
///
/// # Examples
///
/// ```
/// use ipclane_queue::{LastValues, QueueError};
///
/// let (mut writer, reader) = LastValues::heap(3, 32)?;
/// assert_eq!(reader.get(1)?, None);
/// writer.set(1, 7, b"EURUSD 1.0842")?;
/// writer.set(1, 8, b"EURUSD 1.0843")?;
/// let (tag, value) = reader.get(1)?.expect("key 1 was set");
/// assert_eq!((tag, &value[..]), (8, &b"EURUSD 1.0843"[..]));
/// assert!(matches!(
///     reader.get(3),
///     Err(QueueError::KeyOutOfRange { key: 3, keys: 3 })
/// ));
/// # Ok::<(), QueueError>(())
/// ```
#[derive(Debug)]
pub struct LastValues;

impl LastValues {
    /// Kind of the segments [`create_named`](Self::create_named) makes.
    pub const KIND: Kind = Kind::from_names(
        "ipclane-queue/last-values",
        "v2: seqlock entries @256, seq+tag+len+words",
    );

    crate::memory::structure_calls!(
        memfd: "ipclane-last-values",
        roles: (LastValueWriter, LastValueReader),
        params: (keys, value_size)
    );

    fn entry_bytes(value_size: usize) -> Option<usize> {
        value_size
            .checked_next_multiple_of(8)?
            .checked_add(ENTRY_HEADER)
    }

    /// Bytes of memory a table of `keys` values of up to `value_size` bytes needs
    /// (`usize::MAX` when that does not fit the address space).
    pub fn required_len(keys: usize, value_size: usize) -> usize {
        crate::layout::slotted_len(ENTRIES_OFFSET, Self::entry_bytes(value_size), keys)
    }

    /// Writes an empty table (no key set) into `memory`, which nobody else may use yet.
    /// `value_size` is rounded up to a multiple of 8.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `keys` or `value_size` is zero, or the memory is too
    /// small.
    pub fn init<M: Memory + ?Sized>(
        memory: &M,
        keys: usize,
        value_size: usize,
    ) -> Result<(), QueueError> {
        Self::check_params(keys, value_size)?;
        let needed = Self::required_len(keys, value_size);
        memory::check(memory, needed)?;
        let value_size = value_size.next_multiple_of(8);
        let stride = ENTRY_HEADER + value_size;
        let control = Control {
            meta: Meta::new(Structure::LastValues, keys as u64, value_size as u64),
            writer: CachePadded(Side::new()),
        };
        let base = memory.as_ptr().as_ptr();
        // SAFETY: check() proved the memory aligned and large enough for the control block
        // and every entry (8-aligned: offset and stride are multiples of 8); nobody else
        // uses it yet, so writing whole values is sound.
        unsafe {
            base.cast::<Control>().write(control);
            for i in 0..keys {
                let entry = base.add(ENTRIES_OFFSET + i * stride);
                entry.cast::<EntryHeader>().write(EntryHeader {
                    seq: AtomicU64::new(0),
                    tag: AtomicU64::new(0),
                    len: AtomicU64::new(0),
                });
                let words = entry.add(ENTRY_HEADER).cast::<AtomicU64>();
                for w in 0..value_size / 8 {
                    words.add(w).write(AtomicU64::new(0));
                }
            }
        }
        Ok(())
    }

    /// Checks the parameters of a table of `keys` values of `value_size` bytes.
    fn check_params(keys: usize, value_size: usize) -> Result<(), QueueError> {
        if keys == 0 || value_size == 0 {
            return Err(QueueError::layout(format!(
                "a table of {keys} keys of {value_size}-byte values: both must be at least 1"
            )));
        }
        Ok(())
    }
}

/// What a handle learns when it attaches.
pub(crate) struct Attached {
    pub(crate) control: NonNull<Control>,
    pub(crate) entries: NonNull<u8>,
    pub(crate) keys: usize,
    pub(crate) value_size: usize,
}

/// Validates the table in `memory` (each field read once).
pub(crate) fn attach<M: Memory + ?Sized>(memory: &M) -> Result<Attached, QueueError> {
    memory::check(memory, ENTRIES_OFFSET)?;
    let control = memory.as_ptr().cast::<Control>();
    // SAFETY: aligned and large enough (checked); fields are atomics.
    let (keys, value_size) = unsafe { control.as_ref() }
        .meta
        .read(Structure::LastValues)?;
    let (Ok(keys), Ok(value_size)) = (usize::try_from(keys), usize::try_from(value_size)) else {
        return Err(QueueError::layout(format!(
            "{keys} keys of {value_size} bytes do not fit the address space"
        )));
    };
    if keys == 0 || value_size == 0 || !value_size.is_multiple_of(8) {
        return Err(QueueError::layout(format!(
            "{keys} keys, value size {value_size}"
        )));
    }
    if LastValues::required_len(keys, value_size) > memory.len() {
        return Err(QueueError::layout(format!(
            "{keys} keys of {value_size} bytes do not fit in {} bytes",
            memory.len()
        )));
    }
    // SAFETY: ENTRIES_OFFSET < required_len <= memory.len().
    let entries = unsafe { memory.as_ptr().add(ENTRIES_OFFSET) };
    Ok(Attached {
        control,
        entries,
        keys,
        value_size,
    })
}

/// The header and value words of the entry of `key`.
///
/// # Safety
///
/// `entries` and `value_size` must come from [`attach`] on memory that is still alive,
/// and `key` must be below the `keys` it returned.
pub(crate) unsafe fn entry<'a>(
    entries: NonNull<u8>,
    value_size: usize,
    key: usize,
) -> (&'a EntryHeader, NonNull<AtomicU64>) {
    // SAFETY: per the contract, the entry lies inside live memory (attach checked that
    // every entry fits), 8-aligned; its header and words are atomics written at init.
    unsafe {
        let base = entries.add(key * (ENTRY_HEADER + value_size));
        (
            base.cast::<EntryHeader>().as_ref(),
            base.add(ENTRY_HEADER).cast::<AtomicU64>(),
        )
    }
}

/// The error for a key outside a table of `keys`.
#[cold]
pub(crate) fn out_of_range(key: usize, keys: usize) -> QueueError {
    QueueError::KeyOutOfRange { key, keys }
}
