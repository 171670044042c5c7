//! Layout and set-up of the broadcast ring.
//!
//! ```text
//! offset   size  field
//!      0    128  meta: magic, version, structure = 3, capacity (slots), slot_size
//!    128    128  head: sequence number of the next record to write (u64, never wraps)
//!    256    128  writer side state (u32)
//!    384    128  data_ready: futex word, waiter count, wake-up flag and stamp (readers
//!                sleep here)
//!    512    128  spin leases: 16 u64 deadlines, one per reader in a blocking call (up to
//!                one more than the spare CPUs), so readers leave the CPUs to each other
//!    640    ...  slots, each 16 + slot_size bytes (slot_size a multiple of 8):
//!                seq (u64): 2n+1 while record n is written, 2n+2 once written
//!                len (u64), payload as u64 words
//! ```
//!
//! Readers write nothing the writer reads but the wake word's waiter count (and the
//! advisory spin leases, which only readers read), so a reader cannot slow down or block
//! the writer; and
//! after attaching the writer reads nothing back but the wake word's waiter count, so even
//! a process that writes into the ring can only feed readers garbage, which they validate.
//! They copy a record and then re-check its slot's sequence number (a seqlock), so a
//! record overwritten while being copied is detected and never returned torn.

use std::ptr::NonNull;

use ipclane_segment::{Kind, Segment};

use crate::layout::{CachePadded, Meta, Side, SideId, Structure};
use crate::memory::{self, Memory};
use crate::sync::{AtomicU64, Ordering};
use crate::wait::{SpinLeases, WakeWord};
use crate::{BroadcastReader, BroadcastWriter, QueueError};

/// The writer's side: liveness claim 0.
pub(crate) const WRITER: SideId = SideId {
    claim: 0,
    name: "writer",
};

#[derive(Debug)]
#[repr(C)]
pub(crate) struct Control {
    pub(crate) meta: Meta,
    pub(crate) head: CachePadded<AtomicU64>,
    pub(crate) writer: CachePadded<Side>,
    pub(crate) data_ready: CachePadded<WakeWord>,
    pub(crate) leases: CachePadded<SpinLeases>,
}

#[cfg(not(ipclane_loom))]
const _: () = assert!(size_of::<Control>() == 640);

pub(crate) const SLOTS_OFFSET: usize = size_of::<Control>().next_multiple_of(memory::ALIGN);

#[derive(Debug)]
#[repr(C)]
pub(crate) struct SlotHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) len: AtomicU64,
}

pub(crate) const SLOT_HEADER: usize = size_of::<SlotHeader>();

/// A ring where one writer publishes records and any number of readers, attaching and
/// leaving freely, each read all of them (market-data fan-out).
///
/// - The writer never waits for readers: it overwrites the oldest slot.
/// - A reader that falls more than the ring behind gets [`QueueError::Lagged`] with the
///   number of records it missed, and continues from the oldest record still present, or
///   from the newest ([`Resume`](crate::Resume), set with
///   [`BroadcastReader::set_resume`]).
/// - A reader never returns a torn or overwritten record (seqlock check after the copy).
/// - [`BroadcastReader::latest`] gives the newest record, for readers that only want the
///   current value (conflation).
///
/// # Examples
///
/// ```
/// use ipclane_queue::{Broadcast, QueueError};
///
/// let (mut writer, mut reader) = Broadcast::heap(4, 64)?;
/// for price in 100..106u32 {
///     writer.write(&price.to_le_bytes())?;
/// }
/// // Six records in a ring of four slots: the oldest three were overwritten.
/// assert!(matches!(reader.try_recv(), Err(QueueError::Lagged { missed: 3 })));
/// assert_eq!(reader.try_recv()?, &103u32.to_le_bytes()[..]);
/// assert_eq!(reader.latest()?, &105u32.to_le_bytes()[..]);
/// # Ok::<(), QueueError>(())
/// ```
#[derive(Debug)]
pub struct Broadcast;

impl Broadcast {
    /// Kind of the segments [`create_named`](Self::create_named) makes.
    pub const KIND: Kind = Kind::from_names(
        "ipclane-queue/broadcast",
        "v3: seqlock slots @640, seq+len+words, spin leases @512, wake-up tree, async readers (rung)",
    );

    crate::memory::structure_calls!(
        memfd: "ipclane-broadcast",
        roles: (BroadcastWriter, BroadcastReader),
        params: (capacity, slot_size)
    );

    fn slot_bytes(slot_size: usize) -> Option<usize> {
        slot_size
            .checked_next_multiple_of(8)?
            .checked_add(SLOT_HEADER)
    }

    /// Bytes of memory a ring of `capacity` slots of `slot_size` bytes needs.
    pub fn required_len(capacity: usize, slot_size: usize) -> usize {
        crate::layout::slotted_len(SLOTS_OFFSET, Self::slot_bytes(slot_size), capacity)
    }

    /// Writes an empty ring into `memory`, which nobody else may use yet. `slot_size` is
    /// rounded up to a multiple of 8.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `capacity` is not a power of two >= 2, `slot_size` is
    /// zero, or the memory is too small.
    pub fn init<M: Memory + ?Sized>(
        memory: &M,
        capacity: usize,
        slot_size: usize,
    ) -> Result<(), QueueError> {
        Self::check_params(capacity, slot_size)?;
        let needed = Self::required_len(capacity, slot_size);
        memory::check(memory, needed)?;
        let slot_size = slot_size.next_multiple_of(8);
        let stride = SLOT_HEADER + slot_size;
        let control = Control {
            meta: Meta::new(Structure::Broadcast, capacity as u64, slot_size as u64),
            head: CachePadded(AtomicU64::new(0)),
            writer: CachePadded(Side::new()),
            data_ready: CachePadded(WakeWord::new()),
            leases: CachePadded(SpinLeases::new()),
        };
        let base = memory.as_ptr().as_ptr();
        // SAFETY: check() proved the memory aligned and large enough for the control block
        // and every slot (8-aligned: offset and stride are multiples of 8); nobody else
        // uses it yet, so writing whole values is sound.
        unsafe {
            base.cast::<Control>().write(control);
            for i in 0..capacity {
                let slot = base.add(SLOTS_OFFSET + i * stride);
                slot.cast::<SlotHeader>().write(SlotHeader {
                    seq: AtomicU64::new(0),
                    len: AtomicU64::new(0),
                });
                let words = slot.add(SLOT_HEADER).cast::<AtomicU64>();
                for w in 0..slot_size / 8 {
                    words.add(w).write(AtomicU64::new(0));
                }
            }
        }
        Ok(())
    }

    /// What the ring in `memory` says about itself, read without attaching (see
    /// [`BroadcastStatus`](crate::BroadcastStatus)).
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `memory` holds no broadcast ring,
    /// [`QueueError::Corrupted`].
    pub fn status<M: Memory + ?Sized>(memory: &M) -> Result<crate::BroadcastStatus, QueueError> {
        let Attached {
            control,
            capacity,
            slot_size,
            ..
        } = attach(memory)?;
        // SAFETY: validated by attach; fields are atomics.
        let ctrl = unsafe { control.as_ref() };
        Ok(crate::BroadcastStatus {
            capacity,
            slot_size: slot_size as u64,
            published: ctrl.head.0.load(Ordering::Acquire),
            writer: ctrl.writer.0.status(memory, WRITER)?,
        })
    }

    /// Checks the parameters of a structure of `capacity` slots of `slot_size` bytes.
    fn check_params(capacity: usize, slot_size: usize) -> Result<(), QueueError> {
        crate::layout::check_slots(capacity, slot_size)
    }
}

/// What a handle learns when it attaches.
pub(crate) struct Attached {
    pub(crate) control: NonNull<Control>,
    pub(crate) slots: NonNull<u8>,
    pub(crate) capacity: u64,
    pub(crate) slot_size: usize,
}

/// Validates the ring in `memory` (each field read once).
pub(crate) fn attach<M: Memory + ?Sized>(memory: &M) -> Result<Attached, QueueError> {
    memory::check(memory, SLOTS_OFFSET)?;
    let control = memory.as_ptr().cast::<Control>();
    // SAFETY: aligned and large enough (checked); fields are atomics.
    let (capacity, slot_size) = unsafe { control.as_ref() }
        .meta
        .read(Structure::Broadcast)?;
    let slot_size = usize::try_from(slot_size).map_err(|_| QueueError::layout("slot size"))?;
    let cap = usize::try_from(capacity).map_err(|_| QueueError::layout("capacity"))?;
    if !capacity.is_power_of_two() || capacity < 2 || slot_size == 0 || !slot_size.is_multiple_of(8)
    {
        return Err(QueueError::layout(format!(
            "capacity {capacity}, slot size {slot_size}"
        )));
    }
    if Broadcast::required_len(cap, slot_size) > memory.len() {
        return Err(QueueError::layout(format!(
            "{cap} slots of {slot_size} bytes do not fit in {} bytes",
            memory.len()
        )));
    }
    // SAFETY: SLOTS_OFFSET < required_len <= memory.len().
    let slots = unsafe { memory.as_ptr().add(SLOTS_OFFSET) };
    Ok(Attached {
        control,
        slots,
        capacity,
        slot_size,
    })
}

/// The header and payload words of slot `index`.
///
/// # Safety
///
/// `slots`, `capacity` and `slot_size` must come from [`attach`] on memory that is still
/// alive, and `index < capacity`.
pub(crate) unsafe fn slot<'a>(
    slots: NonNull<u8>,
    slot_size: usize,
    index: usize,
) -> (&'a SlotHeader, NonNull<AtomicU64>) {
    // SAFETY: per the contract, the slot lies inside live memory, 8-aligned; its header
    // and words are atomics written at init.
    unsafe {
        let base = slots.add(index * (SLOT_HEADER + slot_size));
        (
            base.cast::<SlotHeader>().as_ref(),
            base.add(SLOT_HEADER).cast::<AtomicU64>(),
        )
    }
}
