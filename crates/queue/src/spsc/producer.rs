//! The writing side of the SPSC ring.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use ipclane_segment::Claim;

use super::ring::{self, CONSUMER, Control, Entry, HEADER, LINE, TAG_DATA, TAG_PAD, header_word};
use crate::QueueError;
use crate::memory::{self, Memory};
use crate::sync::Ordering;
use crate::wait::{
    self, AsyncArm, Bell, Blocking, Doorbell, Fence, WaitStats, WaitStrategy, Waiter, WakeWord,
};

/// The producer stores its position in the tail hint each time it enters a new block of
/// this many bytes.
const HINT_STRIDE: u64 = 2048;

/// The producer of an [`SpscRing`](crate::SpscRing): at most one per ring, across all
/// processes. `Send`, not `Sync`.
///
/// - [`try_reserve`](Self::try_reserve) gives a [`WriteGuard`] over the record's bytes in the
///   ring; [`WriteGuard::commit`] publishes it, [`WriteGuard::stage`] adds it to a batch
///   that [`flush`](Self::flush) publishes (one notification for many records).
/// - [`try_push`](Self::try_push) copies a slice in; [`push_blocking`](Self::push_blocking)
///   and [`push_timeout`](Self::push_timeout) wait for room.
/// - Dropping the producer publishes staged records and closes the ring: the consumer
///   drains what is left, then gets [`QueueError::Disconnected`].
#[derive(Debug)]
#[must_use = "dropping the Producer closes the ring: the consumer drains it, then gets Disconnected"]
pub struct Producer<M: Memory> {
    memory: Arc<M>,
    control: NonNull<Control>,
    data: NonNull<u8>,
    capacity: u64,
    /// Position after the last committed or staged record.
    tail: u64,
    /// Position up to which records are published (visible to the consumer).
    published: u64,
    /// The header of the record at `published` while records are staged: stored last,
    /// with Release, it publishes them all.
    pending: Option<u64>,
    /// Last position stored in the tail hint.
    hinted: u64,
    /// Last consumer position read (never ahead of the real one).
    head: u64,
    waiter: Waiter,
    /// Wake system calls made for the other side.
    wakes: u64,
    /// What this side's notifications ring for the other side's async waiter.
    bell: Bell,
    /// Whether this side's async wait is armed.
    armed: AsyncArm,
    /// Whether the consumer is known to have attached ([`note_consumer_attached`](Self::note_consumer_attached)).
    consumer_attached: bool,
    _claim: Option<Claim>,
}

// SAFETY: the pointers point into `memory`, which the producer keeps alive (Arc) and which
// is Send + Sync; the producer is the only user of its side, so moving it to another thread
// is sound. It is deliberately not Sync: one producer means one thread at a time.
unsafe impl<M: Memory> Send for Producer<M> {}

impl<M: Memory> Producer<M> {
    /// Attaches as the producer of the ring in `memory`.
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when a live producer exists (a dead one's claim is
    /// taken over, once the segment proves it dead), [`QueueError::Layout`] when the
    /// memory holds no valid ring, [`QueueError::Corrupted`].
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let ring::Attached {
            control,
            data,
            capacity,
            head,
            claim,
        } = ring::attach(&*memory, ring::Role::Producer)?;
        let mut producer = Self {
            memory,
            control,
            data,
            capacity,
            tail: head,
            published: head,
            pending: None,
            hinted: head,
            head,
            waiter: Waiter::new(WaitStrategy::default()),
            wakes: 0,
            bell: Bell::NONE,
            armed: AsyncArm::default(),
            consumer_attached: false,
            _claim: claim,
        };
        // Where a previous producer stopped: after the last record it published.
        match producer.published_end() {
            Ok(tail) => {
                producer.tail = tail;
                producer.published = tail;
                Ok(producer)
            }
            Err(err) => {
                drop(producer);
                Err(err)
            }
        }
    }

    /// Tells this producer that the consumer has attached (a handshake between the
    /// peers said so). From then on a consumer side marked free, a state no attached
    /// handle goes back to, is [`QueueError::Corrupted`] where a side never attached is
    /// one whose consumer may still come: a hostile consumer that marks its side free and
    /// dies cannot leave a blocking call waiting for ever.
    pub fn note_consumer_attached(&mut self) {
        self.consumer_attached = true;
    }

    /// Whether the consumer is gone (see [`note_consumer_attached`](Self::note_consumer_attached)).
    fn consumer_gone(&self) -> Result<bool, QueueError> {
        let side = &self.control().consumer.0;
        if self.consumer_attached {
            side.is_gone_once_attached(&*self.memory, CONSUMER)
        } else {
            side.is_gone(&*self.memory, CONSUMER)
        }
    }

    /// Walks the published records from the consumer's position to the first empty header.
    /// Bounded: every step moves forward, and `decode` refuses records past one ring.
    fn published_end(&self) -> Result<u64, QueueError> {
        let mut pos = self.head;
        loop {
            // Acquire: pairs with the Release that published the record.
            let header = self.header(pos).load(Ordering::Acquire);
            match ring::decode(header, pos, self.capacity, self.head)? {
                Entry::Empty => return Ok(pos),
                Entry::Pad { next } | Entry::Data { next, .. } => pos = next,
            }
        }
    }

    /// The header word at position `pos`.
    #[inline(always)]
    fn header(&self, pos: u64) -> &crate::sync::AtomicU64 {
        header_word(&*self.memory, self.data, pos & (self.capacity - 1))
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; the memory lives as long as self.
        unsafe { self.control.as_ref() }
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.waiter = Waiter::new(strategy);
    }

    /// What this producer's waiting cost so far: the wake calls it made for the
    /// consumer, its sleeps, its spin budget.
    pub fn wait_stats(&self) -> WaitStats {
        self.waiter.stats(self.wakes)
    }

    /// Ring size in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Largest record this ring takes.
    pub fn max_record_len(&self) -> usize {
        super::ring::max_record(self.capacity) as usize
    }

    /// Whether the consumer is still there (a system call for a segment).
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the consumer's side word holds no valid state (or
    /// says free after [`note_consumer_attached`](Self::note_consumer_attached)).
    pub fn is_consumer_alive(&self) -> Result<bool, QueueError> {
        Ok(!self.consumer_gone()?)
    }

    /// Reads the consumer's position, validated against ours.
    fn refresh_head(&mut self) -> Result<(), QueueError> {
        let head = self.control().head.0.load(Ordering::Acquire);
        // Acquire pairs with the consumer's Release store: the bytes it released are no
        // longer read, so we may overwrite them.
        if head < self.head || head > self.published || !head.is_multiple_of(HEADER) {
            return Err(QueueError::corrupted(format!(
                "consumer position {head} outside [{}, {}]",
                self.head, self.published
            )));
        }
        self.head = head;
        Ok(())
    }

    /// Finds room for a record of `len` bytes: `(padding, record start, record end)`.
    #[inline(always)]
    fn room(&mut self, len: usize) -> Result<(u64, u64, u64), QueueError> {
        if len > self.max_record_len() {
            return Err(QueueError::TooLarge {
                len,
                max: self.max_record_len(),
            });
        }
        if self.control().consumer.0.is_closed(CONSUMER)? {
            return Err(QueueError::Disconnected);
        }
        let total = HEADER + (len as u64).next_multiple_of(8);
        let offset = self.tail & (self.capacity - 1);
        let contiguous = self.capacity - offset;
        let pad = if contiguous < total { contiguous } else { 0 };
        let start = self.tail + pad;
        let end = start + total;
        // Room for the record and the empty header word after it, ending at the start of
        // the cache line the consumer is reading: writing into that line would bounce it
        // between the two CPUs on every record.
        let capacity = self.capacity;
        let free_until = move |head: u64| (head & !(LINE - 1)) + capacity;
        if end + HEADER > free_until(self.head) {
            self.refresh_head()?;
            if end + HEADER > free_until(self.head) {
                return Err(QueueError::Full);
            }
        }
        Ok((pad, start, end))
    }

    /// Reserves a record of `len` bytes and returns a guard over them. Nothing is visible
    /// to the consumer until the guard commits; dropping it abandons the record.
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`], [`QueueError::TooLarge`], [`QueueError::Disconnected`] (the
    /// consumer closed), [`QueueError::Corrupted`].
    #[inline(always)]
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGuard<'_, M>, QueueError> {
        let (_, start, end) = self.room(len)?;
        Ok(self.guard(start, end, len))
    }

    #[inline(always)]
    fn guard(&mut self, start: u64, end: u64, len: usize) -> WriteGuard<'_, M> {
        let offset = ((start & (self.capacity - 1)) + HEADER) as usize;
        // SAFETY: offset + len <= capacity: the record fits contiguously (room()).
        let payload = unsafe { self.data.add(offset) };
        memory::model_access(payload, true);
        WriteGuard {
            producer: self,
            payload,
            len,
            start,
            end,
            cursor: 0,
        }
    }

    /// Copies `record` into the ring and publishes it.
    ///
    /// # Errors
    ///
    /// Those of [`try_reserve`](Self::try_reserve).
    #[inline(always)]
    pub fn try_push(&mut self, record: &[u8]) -> Result<(), QueueError> {
        let mut guard = self.try_reserve(record.len())?;
        guard.copy_from(record);
        guard.commit();
        Ok(())
    }

    /// Like [`try_push`](Self::try_push), waiting for room as long as needed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Disconnected`] when the consumer closed or died (detected within the
    /// wait strategy's liveness period), [`QueueError::TooLarge`], [`QueueError::Corrupted`]
    /// (also when the consumer's side word holds no valid state, detected as promptly).
    pub fn push_blocking(&mut self, record: &[u8]) -> Result<(), QueueError> {
        let room = wait::block(self, None, |p| p.poll_room(record.len()))?;
        self.write_record(room, record)
    }

    /// Like [`push_blocking`](Self::push_blocking), giving up after `timeout`
    /// ([`QueueError::Timeout`]).
    ///
    /// # Errors
    ///
    /// Those of [`push_blocking`](Self::push_blocking), and [`QueueError::Timeout`].
    pub fn push_timeout(&mut self, record: &[u8], timeout: Duration) -> Result<(), QueueError> {
        let room = wait::block(self, wait::after(timeout), |p| p.poll_room(record.len()))?;
        self.write_record(room, record)
    }

    /// Like [`try_reserve`](Self::try_reserve), waiting for room as long as needed.
    ///
    /// # Errors
    ///
    /// Those of [`push_blocking`](Self::push_blocking).
    pub fn reserve_blocking(&mut self, len: usize) -> Result<WriteGuard<'_, M>, QueueError> {
        let (_, start, end) = wait::block(self, None, |p| p.poll_room(len))?;
        Ok(self.guard(start, end, len))
    }

    /// Like [`reserve_blocking`](Self::reserve_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `reserve_blocking`, and [`QueueError::Timeout`].
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<WriteGuard<'_, M>, QueueError> {
        let (_, start, end) = wait::block(self, wait::after(timeout), |p| p.poll_room(len))?;
        Ok(self.guard(start, end, len))
    }

    /// [`room`](Self::room), with `Full` as "not yet".
    #[inline(always)]
    fn poll_room(&mut self, len: usize) -> Result<Option<(u64, u64, u64)>, QueueError> {
        match self.room(len) {
            Ok(room) => Ok(Some(room)),
            Err(QueueError::Full) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_record(
        &mut self,
        (_, start, end): (u64, u64, u64),
        record: &[u8],
    ) -> Result<(), QueueError> {
        let mut guard = self.guard(start, end, record.len());
        guard.copy_from(record);
        guard.commit();
        Ok(())
    }

    /// Publishes the records staged with [`WriteGuard::stage`].
    #[inline]
    pub fn flush(&mut self) {
        if let Some(header) = self.pending.take() {
            // Release: the records' bytes, the headers after this one and the empty word
            // after the last, all written before, are visible to a consumer that reads
            // this header with Acquire.
            self.header(self.published).store(header, Ordering::Release);
            if (self.tail ^ self.hinted) >= HINT_STRIDE {
                // Relaxed: a hint for the consumer's prefetching, never trusted for data.
                self.control()
                    .tail_hint
                    .0
                    .store(self.tail, Ordering::Relaxed);
                self.hinted = self.tail;
            }
            self.published = self.tail;
            if self.control().data_ready.0.notify_ringing(&self.bell) {
                self.wakes += 1;
            }
        }
    }
}

impl<M: Memory> Blocking for Producer<M> {
    fn waiter(&mut self) -> &mut Waiter {
        &mut self.waiter
    }

    fn word(&self) -> &WakeWord {
        &self.control().space_ready.0
    }

    fn peer_closed(&mut self) -> Result<bool, QueueError> {
        self.control().consumer.0.is_closed(CONSUMER)
    }

    fn peer_gone(&mut self) -> Result<bool, QueueError> {
        self.consumer_gone()
    }
}

impl<M: Memory> Producer<M> {
    /// Closes this side now, as dropping the handle will: what was committed stays for the
    /// consumer, which then sees [`QueueError::Disconnected`], and a consumer asleep is
    /// woken. For a caller that must give the ring up while it still holds the handle
    /// (it found the consumer corrupting it, say); the handle is not to be used after.
    pub fn close(&mut self) {
        self.disarm_async();
        self.flush();
        self.control().producer.0.detach();
        // A consumer asleep waiting for data must learn that none will come.
        self.control().data_ready.0.notify_ringing(&self.bell);
    }
}

/// Async waits: the side waits in its runtime, woken by a [`Doorbell`] the other side
/// rings, instead of sleeping on the futex (see the crate docs, "Async waiting").
impl<M: Memory> Producer<M> {
    /// Sets what this producer rings when the consumer's async wait is armed
    /// ([`Consumer::arm_async`](crate::Consumer::arm_async)), once per arming; without one,
    /// an async consumer is never woken.
    pub fn set_doorbell(&mut self, bell: Arc<dyn Doorbell>) {
        self.bell = Bell::new(bell);
    }

    /// Arms this producer's async wait for room: from now on the consumer's next
    /// notification rings the doorbell set on it. Then look again ([`try_push`](Self::try_push)
    /// or the like), and only if there is still nothing await the doorbell, whose
    /// readiness must not be cleared between this call and the await; once it rang,
    /// [`disarm_async`](Self::disarm_async) and look again. Arming an armed wait does
    /// nothing, so a cancelled await can simply be begun again.
    pub fn arm_async(&mut self) {
        if self.armed.arming() {
            self.control().space_ready.0.arm_async(Fence::Asymmetric);
        }
    }

    /// Disarms the async wait (done on drop too): the consumer stops ringing.
    pub fn disarm_async(&mut self) {
        if self.armed.disarming() {
            self.control().space_ready.0.disarm_async();
        }
    }
}

impl<M: Memory> Drop for Producer<M> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The record as a writer: each write continues where the last stopped (from the
/// start), so a serializer writes straight into the ring. A write that finds the record
/// full writes nothing (`Ok(0)`: `write_all` then fails with `WriteZero`); the bytes not
/// written stay as they were.
///
/// ```
/// use std::io::Write;
/// use ipclane_queue::SpscRing;
///
/// let (mut tx, mut rx) = SpscRing::heap(4096)?;
/// let mut record = tx.try_reserve(11)?;
/// write!(record, "tick {:>6}", 42)?;
/// record.commit();
/// assert_eq!(rx.try_pop()?, &b"tick     42"[..]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<M: Memory> std::io::Write for WriteGuard<'_, M> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len - self.cursor);
        self.copy_at(self.cursor, &buf[..n]);
        self.cursor += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A record being written, from [`Producer::try_reserve`]. Its bytes belong to this guard
/// until it commits; the consumer cannot see them before.
#[derive(Debug)]
#[must_use = "dropping a WriteGuard abandons the record: commit or stage it"]
pub struct WriteGuard<'a, M: Memory> {
    producer: &'a mut Producer<M>,
    payload: NonNull<u8>,
    len: usize,
    start: u64,
    end: u64,
    /// Where the next [`io::Write`](std::io::Write) write goes.
    cursor: usize,
}

impl<'a, M: Memory> WriteGuard<'a, M> {
    /// Length of the record.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the record is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte of the record, for writing in place (`len()` bytes).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.payload.as_ptr()
    }

    /// The record as a slice.
    ///
    /// # Safety
    ///
    /// The consumer process must not write the ring (a well-behaved one never does; a
    /// hostile one sharing the memory could, which would make this slice a data race).
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the bytes are inside the ring, reserved for this guard; the caller
        // vouches that no other process writes them.
        unsafe { std::slice::from_raw_parts_mut(self.payload.as_ptr(), self.len) }
    }

    /// Copies `bytes` into the record at `offset` (the record is also an
    /// [`io::Write`](std::io::Write), which writes on from where it stopped).
    ///
    /// # Errors
    ///
    /// [`QueueError::TooLarge`] when they do not fit.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), QueueError> {
        if offset
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(QueueError::TooLarge {
                len: offset.saturating_add(bytes.len()),
                max: self.len,
            });
        }
        self.copy_at(offset, bytes);
        Ok(())
    }

    /// Copies `bytes` into the record at `offset`, which the caller checked to fit.
    fn copy_at(&mut self, offset: usize, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() <= self.len);
        // SAFETY: offset + bytes.len() <= len (the callers check it), inside the reserved
        // record; the source is the caller's slice, never the ring, so no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.payload.as_ptr().add(offset),
                bytes.len(),
            )
        };
    }

    /// Copies `bytes` (exactly `len()` of them) into the record.
    #[inline(always)]
    fn copy_from(&mut self, bytes: &[u8]) {
        debug_assert_eq!(bytes.len(), self.len);
        self.copy_at(0, bytes);
    }

    /// Writes the record's headers (and the padding's, if it wraps) and moves the
    /// producer's tail past it, unpublished: the first unpublished header is kept back
    /// for [`Producer::flush`].
    #[inline(always)]
    fn finish(self) -> &'a mut Producer<M> {
        let WriteGuard {
            producer,
            start,
            end,
            len,
            ..
        } = self;
        // The consumer will stop at `end` until the next record is published there.
        // Relaxed: ordered before the Release store in flush().
        producer.header(end).store(0, Ordering::Relaxed);
        let data = u64::from(TAG_DATA) << 32 | len as u64;
        let first = if start > producer.tail {
            let pad = u64::from(TAG_PAD) << 32 | (start - producer.tail - HEADER);
            producer.header(start).store(data, Ordering::Relaxed);
            (producer.tail, pad)
        } else {
            (start, data)
        };
        if producer.pending.is_none() {
            debug_assert_eq!(first.0, producer.published);
            producer.pending = Some(first.1);
        } else {
            producer.header(first.0).store(first.1, Ordering::Relaxed);
        }
        producer.tail = end;
        producer
    }

    /// Publishes the record (and any staged before it).
    #[inline]
    pub fn commit(self) {
        self.finish().flush();
    }

    /// Adds the record to the batch that [`Producer::flush`] publishes.
    pub fn stage(self) {
        self.finish();
    }
}
