//! A bounded multi-producer multi-consumer queue of fixed-size slots (Vyukov's design: a
//! sequence number per slot).
//!
//! ```text
//! offset   size  field
//!      0    128  meta: magic, version, structure = 2, capacity (slots), slot_size
//!    128    128  enqueue position (u64, never wraps)
//!    256    128  dequeue position (u64, never wraps)
//!    384    128  producers: live count (u32), ever-attached count (u32)
//!    512    128  consumers: live count (u32), ever-attached count (u32)
//!    640    128  not_empty: futex word + waiter count (consumers sleep here)
//!    768    128  not_full: futex word + waiter count (producers sleep here)
//!    896    ...  slots, each 16 + slot_size rounded up to 8 bytes:
//!                seq (u64), len (u64), payload (slot_size bytes)
//! ```
//!
//! Slot `i` starts with `seq = i`. A producer at position `p` takes the slot when
//! `seq == p` (by advancing the enqueue position with a CAS), writes, then stores
//! `seq = p + 1`; a consumer at `p` takes it when `seq == p + 1`, reads, then stores
//! `seq = p + capacity`. A sequence behind the position means full (push) or empty (pop);
//! one ahead means another process took the position, which the latest position must then
//! show, or the memory is corrupted. Loops are bounded, whatever a hostile peer writes.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipclane_segment::{Claim, Kind, Segment};

use crate::QueueError;
use crate::layout::{CachePadded, Meta, Structure};
use crate::memory::{self, HeapMemory, Memory};
use crate::notifier::{WaitStrategy, Waiter, WakeWord};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Most producers (and, separately, consumers) whose death a segment can detect.
const MAX_SIDES: u32 = 64;
/// First liveness claim of producers; consumers follow at `+ MAX_SIDES`.
const CLAIM_BASE: u32 = 1 << 16;
/// Attempts an operation makes while other processes keep winning, before deciding the
/// positions are not moving for a legitimate reason.
const MAX_RETRIES: u32 = 1 << 20;

#[derive(Debug)]
#[repr(C)]
struct Counts {
    live: AtomicU32,
    seen: AtomicU32,
}

#[derive(Debug)]
#[repr(C)]
struct Control {
    meta: Meta,
    enqueue: CachePadded<AtomicU64>,
    dequeue: CachePadded<AtomicU64>,
    producers: CachePadded<Counts>,
    consumers: CachePadded<Counts>,
    not_empty: CachePadded<WakeWord>,
    not_full: CachePadded<WakeWord>,
}

#[cfg(not(loom))]
const _: () = assert!(size_of::<Control>() == 896);

const SLOTS_OFFSET: usize = size_of::<Control>().next_multiple_of(memory::ALIGN);

#[derive(Debug)]
#[repr(C)]
struct SlotHeader {
    seq: AtomicU64,
    len: AtomicU64,
}

const SLOT_HEADER: usize = size_of::<SlotHeader>();

fn stride(slot_size: usize) -> Option<usize> {
    SLOT_HEADER
        .checked_add(slot_size)?
        .checked_next_multiple_of(8)
}

/// A bounded queue of records of at most `slot_size` bytes, for any number of producer
/// and consumer processes (or threads).
///
/// Producers attach with [`MpmcQueue::producer`], consumers with
/// [`MpmcQueue::consumer`]; each handle is `Send`, not `Sync`. A consumer gets
/// [`QueueError::Disconnected`] once every producer that ever attached has gone (dropped,
/// or died: each holds a segment claim) and the queue is empty; a producer gets it once
/// every consumer has gone.
///
/// A producer killed between taking a slot and publishing it leaves that slot empty
/// forever: consumers reaching it wait (use the timed calls to bound that).
///
/// # Examples
///
/// ```
/// use ipclane_queue::MpmcQueue;
///
/// let memory = MpmcQueue::heap(8, 64)?;
/// let mut tx = MpmcQueue::producer(memory.clone())?;
/// let mut rx = MpmcQueue::consumer(memory)?;
/// tx.try_push(b"order 1")?;
/// assert_eq!(rx.try_pop()?, b"order 1");
/// # Ok::<(), ipclane_queue::QueueError>(())
/// ```
#[derive(Debug)]
pub struct MpmcQueue;

impl MpmcQueue {
    /// Kind of the segments [`create_named`](Self::create_named) makes.
    pub const KIND: Kind = Kind::from_names(
        "ipclane-queue/mpmc",
        "v1: vyukov slots @896, seq+len headers",
    );

    /// Bytes of memory a queue of `capacity` slots of `slot_size` bytes needs.
    pub fn required_len(capacity: usize, slot_size: usize) -> usize {
        stride(slot_size)
            .and_then(|s| s.checked_mul(capacity))
            .and_then(|s| s.checked_add(SLOTS_OFFSET))
            .unwrap_or(usize::MAX)
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
        if !capacity.is_power_of_two() || capacity < 2 || slot_size == 0 {
            return Err(QueueError::layout(format!(
                "capacity {capacity} must be a power of two >= 2 and slot size {slot_size} at least 1"
            )));
        }
        memory::check(memory, Self::required_len(capacity, slot_size))?;
        let stride = stride(slot_size).expect("checked by required_len");
        let control = Control {
            meta: Meta::new(Structure::Mpmc, capacity as u64, slot_size as u64),
            enqueue: CachePadded(AtomicU64::new(0)),
            dequeue: CachePadded(AtomicU64::new(0)),
            producers: CachePadded(Counts {
                live: AtomicU32::new(0),
                seen: AtomicU32::new(0),
            }),
            consumers: CachePadded(Counts {
                live: AtomicU32::new(0),
                seen: AtomicU32::new(0),
            }),
            not_empty: CachePadded(WakeWord::new()),
            not_full: CachePadded(WakeWord::new()),
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

    /// A queue on the heap, for threads of one process; attach handles to it.
    ///
    /// # Errors
    ///
    /// Those of [`init`](Self::init).
    pub fn heap(capacity: usize, slot_size: usize) -> Result<Arc<HeapMemory>, QueueError> {
        memory::heap_with(Self::required_len(capacity, slot_size), |m| {
            Self::init(m, capacity, slot_size)
        })
    }

    /// Creates the named segment `name` holding an empty queue.
    ///
    /// # Errors
    ///
    /// Those of [`init`](Self::init), or the segment's.
    pub fn create_named(
        name: &str,
        capacity: usize,
        slot_size: usize,
    ) -> Result<Segment, QueueError> {
        memory::named_with(
            name,
            Self::required_len(capacity, slot_size),
            Self::KIND,
            move |m| Self::init(m, capacity, slot_size),
        )
    }

    /// Creates an anonymous segment holding an empty queue: a memfd sealed against
    /// shrinking and growing before the queue is written, so no process can ever change
    /// its size (no `SIGBUS`), and with no name to unlink. Hand its descriptor to the
    /// other processes over a Unix socket (`SCM_RIGHTS`) or through `fork`; each opens it
    /// with `Segment::from_fd(fd).kind(MpmcQueue::KIND).open()` and attaches producers
    /// and consumers. See [`SpscRing::create_memfd`](crate::SpscRing::create_memfd).
    ///
    /// # Errors
    ///
    /// Those of [`init`](Self::init), or the segment's.
    #[doc(alias = "memfd_create")]
    pub fn create_memfd(capacity: usize, slot_size: usize) -> Result<Segment, QueueError> {
        memory::memfd_with(
            "ipclane-mpmc",
            Self::required_len(capacity, slot_size),
            Self::KIND,
            move |m| Self::init(m, capacity, slot_size),
        )
    }

    /// Attaches a producer.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`], [`QueueError::AlreadyClaimed`] when 64 live producers
    /// already exist on a segment.
    pub fn producer<M: Memory>(memory: Arc<M>) -> Result<MpmcProducer<M>, QueueError> {
        Ok(MpmcProducer(Handle::attach(memory, Role::Producer)?))
    }

    /// Attaches a consumer.
    ///
    /// # Errors
    ///
    /// Those of [`producer`](Self::producer).
    pub fn consumer<M: Memory>(memory: Arc<M>) -> Result<MpmcConsumer<M>, QueueError> {
        Ok(MpmcConsumer(Handle::attach(memory, Role::Consumer)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Producer,
    Consumer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }

    fn claims(self) -> u32 {
        match self {
            Self::Producer => CLAIM_BASE,
            Self::Consumer => CLAIM_BASE + MAX_SIDES,
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Producer => Self::Consumer,
            Self::Consumer => Self::Producer,
        }
    }
}

#[derive(Debug)]
struct Handle<M: Memory> {
    memory: Arc<M>,
    control: NonNull<Control>,
    slots: NonNull<u8>,
    capacity: u64,
    slot_size: usize,
    stride: usize,
    role: Role,
    waiter: Waiter,
    _claim: Option<Claim>,
}

// SAFETY: the pointers point into memory the Arc keeps alive, which is Send + Sync; all
// shared state is reached atomically or under the slot protocol's exclusive ownership.
unsafe impl<M: Memory> Send for Handle<M> {}

impl<M: Memory> Handle<M> {
    fn attach(memory: Arc<M>, role: Role) -> Result<Self, QueueError> {
        memory::check(&*memory, SLOTS_OFFSET)?;
        let control = memory.as_ptr().cast::<Control>();
        // SAFETY: aligned and large enough (checked); fields are atomics.
        let ctrl = unsafe { control.as_ref() };
        let (capacity, slot_size) = ctrl.meta.read(Structure::Mpmc)?;
        let slot_size = usize::try_from(slot_size).map_err(|_| QueueError::layout("slot size"))?;
        let cap = usize::try_from(capacity).map_err(|_| QueueError::layout("capacity"))?;
        if !capacity.is_power_of_two() || capacity < 2 || slot_size == 0 {
            return Err(QueueError::layout(format!(
                "capacity {capacity}, slot size {slot_size}"
            )));
        }
        let needed = MpmcQueue::required_len(cap, slot_size);
        if needed > memory.len() {
            return Err(QueueError::layout(format!(
                "{cap} slots of {slot_size} bytes do not fit in {} bytes",
                memory.len()
            )));
        }
        let claim = Self::take_claim(&*memory, role)?;
        crate::fences::prepare();
        let counts = Self::counts_of(ctrl, role);
        counts.live.fetch_add(1, Ordering::AcqRel);
        counts.seen.fetch_add(1, Ordering::AcqRel);
        // SAFETY: SLOTS_OFFSET < needed <= memory.len().
        let slots = unsafe { memory.as_ptr().add(SLOTS_OFFSET) };
        Ok(Self {
            memory,
            control,
            slots,
            capacity,
            slot_size,
            stride: stride(slot_size).expect("checked by required_len"),
            role,
            waiter: Waiter::new(WaitStrategy::default()),
            _claim: claim,
        })
    }

    fn take_claim(memory: &M, role: Role) -> Result<Option<Claim>, QueueError> {
        for i in 0..MAX_SIDES {
            match memory.claim(role.claims() + i, role.name()) {
                Ok(claim) => return Ok(claim),
                Err(QueueError::AlreadyClaimed { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(QueueError::AlreadyClaimed { side: role.name() })
    }

    fn counts_of(ctrl: &Control, role: Role) -> &Counts {
        match role {
            Role::Producer => &ctrl.producers.0,
            Role::Consumer => &ctrl.consumers.0,
        }
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; lives as long as self.memory.
        unsafe { self.control.as_ref() }
    }

    /// Whether every handle of the other role that ever attached has gone. Cheap form
    /// (`deep == false`): counts only; deep form: also asks the segment which are alive.
    fn others_gone(&self, deep: bool) -> bool {
        let other = self.role.other();
        let counts = Self::counts_of(self.control(), other);
        if counts.seen.load(Ordering::Acquire) == 0 {
            return false; // nobody came yet: they may still come
        }
        if counts.live.load(Ordering::Acquire) == 0 {
            return true;
        }
        deep && (0..MAX_SIDES).all(|i| self.memory.is_claimed(other.claims() + i) == Some(false))
    }

    fn slot(&self, position: u64) -> (&SlotHeader, NonNull<u8>) {
        let index = (position & (self.capacity - 1)) as usize;
        // SAFETY: index < capacity, and every slot lies inside the memory (checked at
        // attach); slot headers are 8-aligned and hold atomics.
        unsafe {
            let base = self.slots.add(index * self.stride);
            (base.cast::<SlotHeader>().as_ref(), base.add(SLOT_HEADER))
        }
    }

    fn try_push(&self, record: &[u8]) -> Result<(), QueueError> {
        if record.len() > self.slot_size {
            return Err(QueueError::TooLarge {
                len: record.len(),
                max: self.slot_size,
            });
        }
        if self.others_gone(false) {
            return Err(QueueError::Disconnected);
        }
        let enqueue = &self.control().enqueue.0;
        let mut pos = enqueue.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            let (slot, payload) = self.slot(pos);
            // Acquire pairs with the consumer's Release store of seq: its read of the
            // previous record is done before we overwrite the slot.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos) as i64;
            if diff == 0 {
                // Relaxed: the position only hands out slots; the data is ordered by the
                // slot's seq (Acquire load above, Release store below).
                match enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.len.store(record.len() as u64, Ordering::Relaxed);
                        // SAFETY: the CAS gave us exclusive use of the slot until we publish
                        // seq; payload has slot_size >= record.len() bytes.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                record.as_ptr(),
                                payload.as_ptr(),
                                record.len(),
                            )
                        };
                        // Release: the length and payload are visible to the consumer that
                        // reads seq == pos + 1 with Acquire.
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        self.control().not_empty.0.notify();
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                // The slot still holds a record of an earlier lap (or a consumer of that
                // lap is still reading it, or our view of it is not current yet): full.
                return Err(QueueError::Full);
            } else {
                // Another producer took this position. The read-modify-write returns the
                // latest position, never a stale one: if even that has not moved past
                // `pos`, no producer took it and the slot's sequence is a lie.
                let now = enqueue.fetch_add(0, Ordering::Relaxed);
                if now == pos {
                    return Err(QueueError::corrupted(format!(
                        "slot sequence {seq} ahead of the enqueue position {pos}"
                    )));
                }
                pos = now;
            }
        }
        Err(QueueError::corrupted(
            "the enqueue position keeps moving without progress",
        ))
    }

    fn try_pop(&self) -> Result<Option<Vec<u8>>, QueueError> {
        let cap = self.capacity;
        let dequeue = &self.control().dequeue.0;
        let mut pos = dequeue.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            let (slot, payload) = self.slot(pos);
            // Acquire pairs with the producer's Release store of seq.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if diff == 0 {
                // Relaxed, as in try_push: the slot's seq orders the data.
                match dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        let len = slot.len.load(Ordering::Relaxed);
                        let result = if len > self.slot_size as u64 {
                            Err(QueueError::corrupted(format!(
                                "record length {len} in a slot of {} bytes",
                                self.slot_size
                            )))
                        } else {
                            let mut out = vec![0u8; len as usize];
                            // SAFETY: the CAS gave us exclusive use of the slot until we
                            // publish seq; len <= slot_size bytes lie in the slot.
                            unsafe {
                                std::ptr::copy_nonoverlapping(
                                    payload.as_ptr(),
                                    out.as_mut_ptr(),
                                    out.len(),
                                )
                            };
                            Ok(Some(out))
                        };
                        // Release: our read is done before a producer reuses the slot.
                        // The slot is handed back even when its length was corrupt.
                        slot.seq.store(pos.wrapping_add(cap), Ordering::Release);
                        self.control().not_full.0.notify();
                        return result;
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                // Nothing written here yet (or a consumer of the previous lap is still
                // reading, or our view of the slot is not current yet): empty.
                return Ok(None);
            } else {
                // Another consumer took this position; see try_push.
                let now = dequeue.fetch_add(0, Ordering::Relaxed);
                if now == pos {
                    return Err(QueueError::corrupted(format!(
                        "slot sequence {seq} ahead of the dequeue position {pos}"
                    )));
                }
                pos = now;
            }
        }
        Err(QueueError::corrupted(
            "the dequeue position keeps moving without progress",
        ))
    }
}

impl<M: Memory> Drop for Handle<M> {
    fn drop(&mut self) {
        Self::counts_of(self.control(), self.role)
            .live
            .fetch_sub(1, Ordering::AcqRel);
        // Sleepers of the other role re-check whether anybody is left.
        match self.role {
            Role::Producer => self.control().not_empty.0.notify(),
            Role::Consumer => self.control().not_full.0.notify(),
        };
    }
}

/// A producer of an [`MpmcQueue`]; made by [`MpmcQueue::producer`].
#[derive(Debug)]
pub struct MpmcProducer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcProducer<M> {
    /// Copies `record` into a free slot.
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`], [`QueueError::TooLarge`] (over the slot size),
    /// [`QueueError::Disconnected`] (every consumer gone), [`QueueError::Corrupted`].
    pub fn try_push(&mut self, record: &[u8]) -> Result<(), QueueError> {
        self.0.try_push(record)
    }

    /// Like [`try_push`](Self::try_push), waiting for a free slot as long as needed.
    ///
    /// # Errors
    ///
    /// Those of `try_push` but `Full`.
    pub fn push_blocking(&mut self, record: &[u8]) -> Result<(), QueueError> {
        self.push_until(record, None)
    }

    /// Like [`push_blocking`](Self::push_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `push_blocking`, and [`QueueError::Timeout`].
    pub fn push_timeout(&mut self, record: &[u8], timeout: Duration) -> Result<(), QueueError> {
        self.push_until(record, Some(Instant::now() + timeout))
    }

    fn push_until(&mut self, record: &[u8], deadline: Option<Instant>) -> Result<(), QueueError> {
        let mut waiter = self.0.waiter.clone();
        let handle = &self.0;
        let result = waiter.wait(
            &handle.control().not_full.0,
            deadline,
            || match handle.try_push(record) {
                Ok(()) => Ok(Some(())),
                Err(QueueError::Full) => Ok(None),
                Err(e) => Err(e),
            },
            || Ok(handle.others_gone(false)),
            || Ok(handle.others_gone(true)),
        );
        self.0.waiter = waiter;
        result
    }
}

/// A consumer of an [`MpmcQueue`]; made by [`MpmcQueue::consumer`].
#[derive(Debug)]
pub struct MpmcConsumer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcConsumer<M> {
    /// Takes the oldest record.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`], [`QueueError::Disconnected`] (empty and every producer gone),
    /// [`QueueError::Corrupted`].
    pub fn try_pop(&mut self) -> Result<Vec<u8>, QueueError> {
        match self.0.try_pop()? {
            Some(record) => Ok(record),
            None if self.0.others_gone(false) => self.0.try_pop()?.ok_or(QueueError::Disconnected),
            None => Err(QueueError::Empty),
        }
    }

    /// Takes the oldest record, waiting for one as long as needed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Disconnected`] once every producer has gone (dropped or died) and
    /// the queue is empty, [`QueueError::Corrupted`].
    pub fn pop_blocking(&mut self) -> Result<Vec<u8>, QueueError> {
        self.pop_until(None)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::Timeout`].
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, QueueError> {
        self.pop_until(Some(Instant::now() + timeout))
    }

    fn pop_until(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>, QueueError> {
        let mut waiter = self.0.waiter.clone();
        let handle = &self.0;
        let result = waiter.wait(
            &handle.control().not_empty.0,
            deadline,
            || handle.try_pop(),
            || Ok(handle.others_gone(false)),
            || Ok(handle.others_gone(true)),
        );
        self.0.waiter = waiter;
        result
    }
}
