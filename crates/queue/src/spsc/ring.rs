//! Layout and set-up of the SPSC byte ring.
//!
//! ```text
//! offset   size  field
//!      0    128  meta: magic, version, structure = 1, capacity (ring bytes), 0
//!    128    128  head: consumer position (u64, bytes, never wraps)
//!    256    128  tail hint: a recent producer position (u64; bounds the consumer's prefetch)
//!    384    128  producer side state (u32)
//!    512    128  consumer side state (u32)
//!    640    128  data_ready: futex word + waiter count (the consumer sleeps here)
//!    768    128  space_ready: futex word + waiter count (the producer sleeps here)
//!    896    cap  ring: records
//!
//! record at ring offset (position % cap), 8-byte aligned:
//!   u64 header = tag << 32 | len     tag 1 = data, 2 = padding to the end of the ring,
//!                                    0 = nothing published here yet
//!   len bytes of payload, then zero to 7 bytes to the next multiple of 8
//! ```
//!
//! There is no shared tail: the header is the commit flag. The producer zeroes the header
//! word after its record, then stores the record's header with Release; the consumer loads
//! the header at its position with Acquire and finds either a record or zero. A message
//! thus moves one cache line between the CPUs instead of two (a tail and a record). The
//! tail hint is stored once per 2 KiB of records and only tells the consumer how far it
//! may prefetch; nothing is read on its strength.

use std::ptr::NonNull;

use ipclane_segment::{Kind, Segment};

use crate::layout::{CachePadded, MAX_POSITION, Meta, Side, SideId, Structure};
use crate::memory::{self, Memory};
use crate::sync::{AtomicU64, Ordering};
use crate::wait::WakeWord;
use crate::{Consumer, Producer, QueueError};

/// Record tag: a record with a payload.
pub(crate) const TAG_DATA: u32 = 1;
/// Record tag: padding that fills the ring up to its end.
pub(crate) const TAG_PAD: u32 = 2;
/// Bytes of a record header.
pub(crate) const HEADER: u64 = 8;
/// Smallest ring.
pub(crate) const MIN_CAPACITY: u64 = 256;

/// Largest payload in a ring of `capacity` bytes. With the producer stopping a cache line
/// short of the consumer, a record of `HEADER + payload <= capacity / 2 - 56` bytes always
/// fits once the consumer has caught up, padding included.
pub(crate) fn max_record(capacity: u64) -> u64 {
    (capacity / 2).saturating_sub(64)
}

/// The producer's side: liveness claim 0.
pub(crate) const PRODUCER: SideId = SideId {
    claim: 0,
    name: "producer",
};
/// The consumer's side: liveness claim 1.
pub(crate) const CONSUMER: SideId = SideId {
    claim: 1,
    name: "consumer",
};

#[derive(Debug)]
#[repr(C)]
pub(crate) struct Control {
    pub(crate) meta: Meta,
    pub(crate) head: CachePadded<AtomicU64>,
    pub(crate) tail_hint: CachePadded<AtomicU64>,
    pub(crate) producer: CachePadded<Side>,
    pub(crate) consumer: CachePadded<Side>,
    pub(crate) data_ready: CachePadded<WakeWord>,
    pub(crate) space_ready: CachePadded<WakeWord>,
}

#[cfg(not(ipclane_loom))]
const _: () = {
    assert!(size_of::<Control>() == 896);
    assert!(std::mem::offset_of!(Control, head) == 128);
    assert!(std::mem::offset_of!(Control, tail_hint) == 256);
    assert!(std::mem::offset_of!(Control, producer) == 384);
    assert!(std::mem::offset_of!(Control, data_ready) == 640);
};

/// Offset of the ring bytes.
pub(crate) const DATA_OFFSET: usize = size_of::<Control>().next_multiple_of(memory::ALIGN);

/// A single-producer single-consumer ring of variable-length byte records.
///
/// The ring lives in a [`Memory`]: a [`Segment`] shared by two processes, or
/// [`HeapMemory`](crate::HeapMemory) for two threads. One [`Producer`] and one [`Consumer`] attach to it;
/// see their docs for the operations.
///
/// - Records are 0 bytes to [`max_record_len`](Self::max_record_len) bytes (half the ring
///   less 64), stored contiguously, 8-byte aligned, with a padding record at the wrap.
/// - The producer never writes into the cache line the consumer is reading, so a full
///   ring does not bounce lines between the two CPUs.
/// - Positions are 64-bit byte counters that never wrap; each side caches the other's
///   position and only reads it when its cache says full or empty.
/// - A producer that dies mid-record never publishes it: the consumer cannot see a partial
///   record.
///
/// # Examples
///
/// ```
/// use ipclane_queue::SpscRing;
///
/// let (mut tx, mut rx) = SpscRing::heap(4096)?;
/// tx.try_push(b"tick")?;
/// let mut slot = tx.try_reserve(3)?;     // zero-copy
/// slot.write_at(0, b"tok")?;
/// slot.commit();
/// assert_eq!(rx.try_pop()?, &b"tick"[..]);
/// let record = rx.try_read()?;           // zero-copy
/// assert_eq!(record.to_vec(), b"tok");
/// record.release();
/// # Ok::<(), ipclane_queue::QueueError>(())
/// ```
#[derive(Debug)]
pub struct SpscRing;

impl SpscRing {
    /// Kind of the segments [`create_named`](Self::create_named) makes.
    pub const KIND: Kind = Kind::from_names(
        "ipclane-queue/spsc",
        "v3: meta,head,tail hint,sides,2 wake words (async waiters, rung) @896; header commits",
    );

    crate::memory::structure_calls!(
        memfd: "ipclane-spsc",
        roles: (Producer, Consumer),
        params: (capacity)
    );

    /// Bytes of memory a ring of `capacity` bytes needs.
    pub fn required_len(capacity: usize) -> usize {
        DATA_OFFSET.saturating_add(capacity)
    }

    /// Largest record a ring of `capacity` bytes takes: half the ring less a header and
    /// a cache line (the producer keeps one line away from the consumer).
    pub fn max_record_len(capacity: usize) -> usize {
        max_record(capacity as u64) as usize
    }

    /// Writes an empty ring of `capacity` bytes (a power of two, at least 256) into
    /// `memory`, which nobody else may use yet (a segment being initialised, say).
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] for a bad capacity or too little memory.
    pub fn init<M: Memory + ?Sized>(memory: &M, capacity: usize) -> Result<(), QueueError> {
        Self::check_params(capacity)?;
        memory::check(memory, Self::required_len(capacity))?;
        let control = Control {
            meta: Meta::new(Structure::Spsc, capacity as u64, 0),
            head: CachePadded(AtomicU64::new(0)),
            tail_hint: CachePadded(AtomicU64::new(0)),
            producer: CachePadded(Side::new()),
            consumer: CachePadded(Side::new()),
            data_ready: CachePadded(WakeWord::new()),
            space_ready: CachePadded(WakeWord::new()),
        };
        // SAFETY: check() proved the memory aligned for Control and large enough, and the
        // caller guarantees nobody else uses it yet, so writing a whole value is sound.
        unsafe { memory.as_ptr().cast::<Control>().as_ptr().write(control) };
        // SAFETY: DATA_OFFSET < memory.len() (checked), so the pointer stays inside.
        let data = unsafe { memory.as_ptr().add(DATA_OFFSET) };
        // Position 0 holds no record yet.
        header_word(memory, data, 0).store(0, Ordering::Release);
        Ok(())
    }

    /// What the ring in `memory` says about itself, read without attaching (see
    /// [`SpscStatus`](crate::SpscStatus)).
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `memory` holds no SPSC ring, [`QueueError::Corrupted`].
    pub fn status<M: Memory + ?Sized>(memory: &M) -> Result<crate::SpscStatus, QueueError> {
        let (control, _, capacity) = validate(memory)?;
        // SAFETY: validate() checked the control block's placement; its fields are atomics.
        let ctrl = unsafe { control.as_ref() };
        Ok(crate::SpscStatus {
            capacity,
            consumer_position: ctrl.head.0.load(Ordering::Acquire),
            producer_position_hint: ctrl.tail_hint.0.load(Ordering::Relaxed),
            producer: ctrl.producer.0.status(memory, PRODUCER)?,
            consumer: ctrl.consumer.0.status(memory, CONSUMER)?,
        })
    }

    /// Checks that a ring of `capacity` bytes can be built: a power of two, at least
    /// [`MIN_CAPACITY`].
    fn check_params(capacity: usize) -> Result<(), QueueError> {
        if !capacity.is_power_of_two() || (capacity as u64) < MIN_CAPACITY {
            return Err(QueueError::layout(format!(
                "capacity {capacity} is not a power of two >= {MIN_CAPACITY}"
            )));
        }
        Ok(())
    }
}

/// Which side of the ring a handle takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Producer,
    Consumer,
}

/// What a side learns when it attaches: the control block, the ring, its capacity, the
/// consumer's position (validated), and its liveness claim.
pub(crate) struct Attached {
    pub(crate) control: NonNull<Control>,
    pub(crate) data: NonNull<u8>,
    pub(crate) capacity: u64,
    pub(crate) head: u64,
    pub(crate) claim: Option<ipclane_segment::Claim>,
}

/// Validates the ring in `memory`, takes its `role` side, and reads and validates the
/// consumer's position. On an error after the side was taken, it is left closed.
pub(crate) fn attach<M: Memory + ?Sized>(memory: &M, role: Role) -> Result<Attached, QueueError> {
    let (control, data, capacity) = validate(memory)?;
    // SAFETY: validate() checked the control block's placement; its fields are atomics.
    let ctrl = unsafe { control.as_ref() };
    let (side, id) = match role {
        Role::Producer => (&ctrl.producer.0, PRODUCER),
        Role::Consumer => (&ctrl.consumer.0, CONSUMER),
    };
    let claim = side.attach(memory, id)?;
    // Acquire: pairs with the consumer's Release stores of its position.
    let head = ctrl.head.0.load(Ordering::Acquire);
    if !head.is_multiple_of(HEADER) || head >= MAX_POSITION {
        side.detach();
        return Err(QueueError::corrupted(format!(
            "consumer position {head} is not 8-byte aligned below 2^62"
        )));
    }
    Ok(Attached {
        control,
        data,
        capacity,
        head,
        claim,
    })
}

/// Validates the ring in `memory` (each field read once): its control block, its ring
/// and the ring's capacity.
fn validate<M: Memory + ?Sized>(
    memory: &M,
) -> Result<(NonNull<Control>, NonNull<u8>, u64), QueueError> {
    memory::check(memory, DATA_OFFSET + MIN_CAPACITY as usize)?;
    let control = memory.as_ptr().cast::<Control>();
    // SAFETY: check() proved the memory aligned and large enough for Control; its fields
    // are atomics, valid for any bit pattern, and only accessed atomically.
    let meta = unsafe { &control.as_ref().meta };
    let (capacity, _) = meta.read(Structure::Spsc)?;
    if !capacity.is_power_of_two() || capacity < MIN_CAPACITY {
        return Err(QueueError::layout(format!(
            "capacity {capacity} is not a power of two >= {MIN_CAPACITY}"
        )));
    }
    let fits = usize::try_from(capacity)
        .ok()
        .and_then(|c| c.checked_add(DATA_OFFSET))
        .is_some_and(|end| end <= memory.len());
    if !fits {
        return Err(QueueError::layout(format!(
            "capacity {capacity} does not fit in {} bytes of memory",
            memory.len()
        )));
    }
    // SAFETY: DATA_OFFSET < memory.len() (checked above), so the pointer stays inside.
    let data = unsafe { memory.as_ptr().add(DATA_OFFSET) };
    Ok((control, data, capacity))
}

/// The ring's 8-byte word at ring `offset`: the record headers, accessed atomically (under
/// loom, through the memory's model of that word).
///
/// `offset` must be a multiple of 8 below the ring's capacity, and `data` the ring's start
/// inside `memory` (both checked in debug builds by the callers' invariants).
#[cfg(not(ipclane_loom))]
pub(crate) fn header_word<M: Memory + ?Sized>(
    _memory: &M,
    data: NonNull<u8>,
    offset: u64,
) -> &AtomicU64 {
    debug_assert!(offset.is_multiple_of(HEADER));
    // SAFETY: offset is 8-aligned and inside the ring (callers mask positions with
    // capacity - 1), and the ring starts 128-aligned, so the word is aligned and inside
    // the memory, which outlives the borrow of `_memory`. Payload bytes are written there
    // non-atomically only in other laps, ordered against these accesses by the head and
    // header Release/Acquire pairs.
    unsafe { AtomicU64::from_ptr(data.as_ptr().add(offset as usize).cast()) }
}

/// Loom version of [`header_word`]: the loom atomic standing for that word.
#[cfg(ipclane_loom)]
pub(crate) fn header_word<M: Memory + ?Sized>(
    _memory: &M,
    data: NonNull<u8>,
    offset: u64,
) -> &AtomicU64 {
    // SAFETY: as above, the word lies inside the ring.
    crate::model::word(unsafe { data.as_ptr().add(offset as usize) })
}

/// Cache-line size.
pub(crate) const LINE: u64 = 64;

/// How far one side has prefetched the ring's lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefetcher(u64);

impl Prefetcher {
    /// Nothing prefetched before `pos`.
    pub(crate) fn new(pos: u64) -> Self {
        Self(pos)
    }

    /// Prefetches, with `hint`, the lines of the ring at `data` (`capacity` bytes) from
    /// `pos` (its line) up to `limit`, skipping those already fetched.
    #[inline(always)]
    pub(crate) fn advance(
        &mut self,
        data: NonNull<u8>,
        capacity: u64,
        pos: u64,
        limit: u64,
        hint: fn(*const u8),
    ) {
        let mut line = self.0.max(pos & !(LINE - 1));
        while line < limit {
            let offset = (line & (capacity - 1)) as usize;
            // SAFETY: offset < capacity: the pointer stays inside the ring.
            hint(unsafe { data.as_ptr().add(offset) });
            line += LINE;
        }
        self.0 = line;
    }
}

/// What a header read from the ring says, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Nothing published at this position yet.
    Empty,
    /// Padding: the next record is at `next` (ring offset 0).
    Pad { next: u64 },
    /// A record whose payload starts at `payload`; the next one is at `next`.
    Data { payload: u64, len: usize, next: u64 },
}

/// Validates `header`, read at position `pos` of a ring of `capacity` bytes whose consumer
/// has released everything before `released`: a record must have a known tag, lie inside
/// the ring without wrapping, and end no further than the producer may write.
#[inline(always)]
pub(crate) fn decode(
    header: u64,
    pos: u64,
    capacity: u64,
    released: u64,
) -> Result<Entry, QueueError> {
    if header == 0 {
        return Ok(Entry::Empty);
    }
    let offset = pos & (capacity - 1);
    let (tag, len) = ((header >> 32) as u32, header & 0xffff_ffff);
    let total = HEADER + len.next_multiple_of(8);
    // The producer never writes past `released + capacity` (it stops short of the line
    // the consumer reads), and keeps a header word free after its last record.
    let within = |end: u64| end + HEADER <= released + capacity;
    match tag {
        TAG_PAD if offset != 0 && total == capacity - offset && within(pos + total) => {
            Ok(Entry::Pad { next: pos + total })
        }
        TAG_DATA
            if total <= HEADER + max_record(capacity)
                && offset + total <= capacity
                && within(pos + total) =>
        {
            Ok(Entry::Data {
                payload: pos + HEADER,
                len: len as usize,
                next: pos + total,
            })
        }
        _ => Err(bad_header(header, pos, capacity, released)),
    }
}

/// The error for a header [`decode`] refuses (out of line: `decode` is on every read).
#[cold]
#[inline(never)]
fn bad_header(header: u64, pos: u64, capacity: u64, released: u64) -> QueueError {
    let offset = pos & (capacity - 1);
    QueueError::corrupted(format!(
        "record header {header:#018x} at ring offset {offset} (position {pos}, released {released})"
    ))
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;

    /// The promise behind `max_record_len`: once the consumer has caught up, a record of
    /// that size fits wherever the positions stand, padding and the empty header word
    /// after it included.
    #[test]
    fn a_largest_record_fits_an_empty_ring_at_every_offset() {
        for capacity in [256, 512, 4096] {
            let largest = vec![0xa5; SpscRing::max_record_len(capacity)];
            for offset in (0..capacity).step_by(8) {
                let (mut tx, mut rx) = SpscRing::heap(capacity).unwrap();
                // Move both positions to `offset` with empty (8-byte) records.
                for _ in 0..offset / 8 {
                    tx.try_push(&[]).unwrap();
                    assert_eq!(rx.try_pop().unwrap(), &b""[..]);
                }
                for _ in 0..2 {
                    tx.try_push(&largest)
                        .unwrap_or_else(|e| panic!("capacity {capacity}, offset {offset}: {e}"));
                    assert_eq!(rx.try_pop().unwrap(), largest);
                }
            }
            let (mut tx, _rx) = SpscRing::heap(capacity).unwrap();
            assert!(matches!(
                tx.try_push(&vec![0; largest.len() + 1]),
                Err(QueueError::TooLarge { .. })
            ));
        }
    }
}
