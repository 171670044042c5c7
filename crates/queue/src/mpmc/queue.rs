//! The MPMC queue's layout and set-up: the control block, the slots, and the
//! constructors of [`MpmcQueue`].

use ipclane_segment::{Kind, Segment};

use super::{MpmcConsumer, MpmcProducer};

use crate::QueueError;
use crate::layout::{CachePadded, Meta, Structure};
use crate::memory::{self, Memory};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::wait::WakeWord;

/// Most producers (and, separately, consumers) whose death a segment can detect.
pub(super) const MAX_SIDES: u32 = 64;
/// First liveness claim of producers; consumers follow at `+ MAX_SIDES`.
pub(super) const CLAIM_BASE: u32 = 1 << 16;
/// Attempts an operation makes while other processes keep winning, before deciding the
/// positions are not moving for a legitimate reason.
pub(super) const MAX_RETRIES: u32 = 1 << 20;
/// Flag of a slot's sequence: the slot was taken by a producer that died before writing
/// it, and survivors marked it passed. Positions stay below 2^62, so it is never a
/// position bit.
pub(super) const SKIPPED: u64 = 1 << 63;

#[derive(Debug)]
#[repr(C)]
pub(super) struct Counts {
    pub(super) live: AtomicU32,
    pub(super) seen: AtomicU32,
}

/// Operations survivors finished for peers that died inside them.
#[derive(Debug)]
#[repr(C)]
pub(super) struct AbandonedCounts {
    pub(super) pushes: AtomicU64,
    pub(super) pops: AtomicU64,
}

impl AbandonedCounts {
    /// The counts now (Relaxed: statistics, nothing is read on their strength).
    pub(super) fn snapshot(&self) -> Abandoned {
        Abandoned {
            pushes: self.pushes.load(Ordering::Relaxed),
            pops: self.pops.load(Ordering::Relaxed),
        }
    }
}

/// One intent word per side index: 0, or the position its handle is taking plus one.
pub(super) type Intents = [CachePadded<AtomicU64>; INTENT_WORDS];

/// Intent words per role. Loom models run on heap memory, which announces nothing (see
/// the module docs), so there one unused word stands for all: 128 modelled atomics per
/// queue would only slow every execution of the models down.
pub(super) const INTENT_WORDS: usize = if cfg!(ipclane_loom) {
    1
} else {
    MAX_SIDES as usize
};

#[derive(Debug)]
#[repr(C)]
pub(super) struct Control {
    pub(super) meta: Meta,
    pub(super) enqueue: CachePadded<AtomicU64>,
    pub(super) dequeue: CachePadded<AtomicU64>,
    pub(super) producers: CachePadded<Counts>,
    pub(super) consumers: CachePadded<Counts>,
    pub(super) not_empty: CachePadded<WakeWord>,
    pub(super) not_full: CachePadded<WakeWord>,
    pub(super) abandoned: CachePadded<AbandonedCounts>,
    pub(super) producer_intents: Intents,
    pub(super) consumer_intents: Intents,
}

#[cfg(not(ipclane_loom))]
const _: () = assert!(size_of::<Control>() == 17408);

pub(super) const SLOTS_OFFSET: usize = size_of::<Control>().next_multiple_of(memory::ALIGN);

#[derive(Debug)]
#[repr(C)]
pub(super) struct SlotHeader {
    pub(super) seq: AtomicU64,
    pub(super) len: AtomicU64,
}

pub(super) const SLOT_HEADER: usize = size_of::<SlotHeader>();

pub(super) fn stride(slot_size: usize) -> Option<usize> {
    SLOT_HEADER
        .checked_add(slot_size)?
        .checked_next_multiple_of(8)
}

/// Operations that peers which died in their middle left to the survivors (see
/// [`MpmcProducer::abandoned`]). Counted in the queue, for all handles together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Abandoned {
    /// Slots taken by a producer that died before publishing its record: skipped. No
    /// record is lost (that push never returned).
    pub pushes: u64,
    /// Records taken by a consumer that died before handing the slot back: lost to the
    /// survivors (the dead consumer may or may not have processed them).
    pub pops: u64,
}

/// A bounded queue of records of at most `slot_size` bytes, for any number of producer
/// and consumer processes (or threads).
///
/// Made like every structure of this crate: [`heap`](Self::heap) for a producer and a
/// consumer in one process, or memory first ([`create_named`](Self::create_named),
/// [`create_memfd`](Self::create_memfd), [`open_named`](Self::open_named),
/// [`open_fd`](Self::open_fd), [`heap_memory`](Self::heap_memory)) and then
/// [`MpmcProducer::attach`] and [`MpmcConsumer::attach`] on it, in each process. Each
/// handle is `Send`, not `Sync`. A consumer gets
/// [`QueueError::Disconnected`] once every producer that ever attached has gone (dropped,
/// or died: each holds a segment claim) and no committed record is left; a producer gets
/// it once every consumer has gone.
///
/// A peer killed in the middle of a push or pop does not wedge the others: survivors
/// prove it dead through its segment claim and repair its slot (see [`Abandoned`]).
///
/// # Examples
///
/// ```
/// use ipclane_queue::MpmcQueue;
///
/// let (mut tx, mut rx) = MpmcQueue::heap(8, 64)?;
/// tx.try_push(b"order 1")?;
/// assert_eq!(rx.try_pop()?, &b"order 1"[..]);
/// # Ok::<(), ipclane_queue::QueueError>(())
/// ```
#[derive(Debug)]
pub struct MpmcQueue;

impl MpmcQueue {
    /// Kind of the segments [`create_named`](Self::create_named) makes.
    pub const KIND: Kind = Kind::from_names(
        "ipclane-queue/mpmc",
        "v2: vyukov slots @17408, seq+len headers, intents per side, skipped flag, wake-up tree",
    );

    crate::memory::structure_calls!(
        memfd: "ipclane-mpmc",
        roles: (MpmcProducer, MpmcConsumer),
        params: (capacity, slot_size)
    );

    /// Bytes of memory a queue of `capacity` slots of `slot_size` bytes needs.
    pub fn required_len(capacity: usize, slot_size: usize) -> usize {
        crate::layout::slotted_len(SLOTS_OFFSET, stride(slot_size), capacity)
    }

    /// Writes an empty queue into `memory`, which nobody else may use yet.
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
        memory::check(memory, Self::required_len(capacity, slot_size))?;
        let stride = stride(slot_size).expect("checked by required_len");
        let counts = || {
            CachePadded(Counts {
                live: AtomicU32::new(0),
                seen: AtomicU32::new(0),
            })
        };
        let intents = || std::array::from_fn(|_| CachePadded(AtomicU64::new(0)));
        let control = Control {
            meta: Meta::new(Structure::Mpmc, capacity as u64, slot_size as u64),
            enqueue: CachePadded(AtomicU64::new(0)),
            dequeue: CachePadded(AtomicU64::new(0)),
            producers: counts(),
            consumers: counts(),
            not_empty: CachePadded(WakeWord::new()),
            not_full: CachePadded(WakeWord::new()),
            abandoned: CachePadded(AbandonedCounts {
                pushes: AtomicU64::new(0),
                pops: AtomicU64::new(0),
            }),
            producer_intents: intents(),
            consumer_intents: intents(),
        };
        let base = memory.as_ptr().as_ptr();
        // SAFETY: check() proved the memory aligned and large enough for the control block
        // and every slot; nobody else uses it yet, so writing whole values is sound. Slot
        // headers are 8-aligned (stride and offset are multiples of 8).
        unsafe {
            base.cast::<Control>().write(control);
            for i in 0..capacity {
                let slot = base.add(SLOTS_OFFSET + i * stride).cast::<SlotHeader>();
                slot.write(SlotHeader {
                    seq: AtomicU64::new(i as u64),
                    len: AtomicU64::new(0),
                });
            }
        }
        Ok(())
    }

    /// What the queue in `memory` says about itself, read without attaching (see
    /// [`MpmcStatus`](crate::MpmcStatus)).
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`] when `memory` holds no MPMC queue.
    pub fn status<M: Memory + ?Sized>(memory: &M) -> Result<crate::MpmcStatus, QueueError> {
        let (control, capacity, slot_size) = super::handle::validate(memory)?;
        // SAFETY: validated: aligned and large enough; fields are atomics.
        let ctrl = unsafe { control.as_ref() };
        Ok(crate::MpmcStatus {
            capacity,
            slot_size: slot_size as u64,
            enqueued: ctrl.enqueue.0.load(Ordering::Acquire),
            dequeued: ctrl.dequeue.0.load(Ordering::Acquire),
            producers: ctrl.producers.0.live.load(Ordering::Acquire),
            consumers: ctrl.consumers.0.live.load(Ordering::Acquire),
            abandoned: ctrl.abandoned.0.snapshot(),
        })
    }

    /// Checks the parameters of a structure of `capacity` slots of `slot_size` bytes.
    fn check_params(capacity: usize, slot_size: usize) -> Result<(), QueueError> {
        crate::layout::check_slots(capacity, slot_size)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Producer,
    Consumer,
}

impl Role {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }

    pub(super) fn claims(self) -> u32 {
        match self {
            Self::Producer => CLAIM_BASE,
            Self::Consumer => CLAIM_BASE + MAX_SIDES,
        }
    }

    pub(super) fn other(self) -> Self {
        match self {
            Self::Producer => Self::Consumer,
            Self::Consumer => Self::Producer,
        }
    }
}

impl Control {
    pub(super) fn counts(&self, role: Role) -> &Counts {
        match role {
            Role::Producer => &self.producers.0,
            Role::Consumer => &self.consumers.0,
        }
    }

    pub(super) fn intents(&self, role: Role) -> &Intents {
        match role {
            Role::Producer => &self.producer_intents,
            Role::Consumer => &self.consumer_intents,
        }
    }
}
