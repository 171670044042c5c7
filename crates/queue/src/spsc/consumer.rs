//! The reading side of the SPSC ring.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ipclane_segment::Claim;

use super::ring::{self, Control, Entry, PRODUCER, header_word};
use crate::QueueError;
use crate::memory::{self, Memory};
use crate::sync::{self, Ordering};
use crate::wait::{
    self, AsyncArm, Bell, Blocking, Doorbell, Fence, WaitStats, WaitStrategy, Waiter, WakeWord,
};

/// How far ahead of its position the consumer prefetches published lines.
const PREFETCH_AHEAD: u64 = 4096;

/// Where the next record lies: payload position, length, and the position after it.
#[derive(Debug, Clone, Copy)]
struct Found {
    payload: u64,
    len: usize,
    next: u64,
}

/// The consumer of an [`SpscRing`](crate::SpscRing): at most one per ring, across all
/// processes. `Send`, not `Sync`.
///
/// - [`try_read`](Self::try_read) gives a [`ReadGuard`] over the next record in the ring;
///   [`ReadGuard::release`] frees its room for the producer, [`ReadGuard::stage`] adds
///   it to a batch that [`flush`](Self::flush) frees; dropping the guard without either
///   is a peek (the record stays next).
/// - [`try_pop`](Self::try_pop) copies the next record out; [`pop_blocking`](Self::pop_blocking)
///   and [`pop_timeout`](Self::pop_timeout) (and `read_*`) wait for one.
/// - Every position and header read from the ring is validated before use: a corrupted
///   or hostile producer gives [`QueueError::Corrupted`], never a read outside the ring
///   (what validation cannot prevent: the crate docs' threat model).
#[derive(Debug)]
#[must_use = "dropping the Consumer closes the ring: the producer gets Disconnected"]
pub struct Consumer<M: Memory> {
    memory: Arc<M>,
    control: NonNull<Control>,
    data: NonNull<u8>,
    capacity: u64,
    /// Position of the next record to read (after staged releases).
    head: u64,
    /// Position last published to the producer.
    published: u64,
    /// Position up to which lines were prefetched.
    prefetched: ring::Prefetcher,
    waiter: Waiter,
    /// Wake system calls made for the other side.
    wakes: u64,
    /// What this side's notifications ring for the other side's async waiter.
    bell: Bell,
    /// Whether this side's async wait is armed.
    armed: AsyncArm,
    /// Whether the producer is known to have attached ([`note_producer_attached`](Self::note_producer_attached)).
    producer_attached: bool,
    _claim: Option<Claim>,
}

// SAFETY: as for Producer: the pointers point into memory kept alive by the Arc, and the
// consumer is the only user of its side. Not Sync: one consumer means one thread at a time.
unsafe impl<M: Memory> Send for Consumer<M> {}

impl<M: Memory> Consumer<M> {
    /// Attaches as the consumer of the ring in `memory`.
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when a live consumer exists (a dead one's claim is
    /// taken over, once the segment proves it dead), [`QueueError::Layout`],
    /// [`QueueError::Corrupted`].
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let ring::Attached {
            control,
            data,
            capacity,
            head,
            claim,
        } = ring::attach(&*memory, ring::Role::Consumer)?;
        Ok(Self {
            memory,
            control,
            data,
            capacity,
            head,
            published: head,
            prefetched: ring::Prefetcher::new(head),
            waiter: Waiter::new(WaitStrategy::default()),
            wakes: 0,
            bell: Bell::NONE,
            armed: AsyncArm::default(),
            producer_attached: false,
            _claim: claim,
        })
    }

    /// Tells this consumer that the producer has attached (a handshake between the
    /// peers said so). From then on a producer side marked free, a state no attached
    /// handle goes back to, is [`QueueError::Corrupted`] where a side never attached is
    /// one whose producer may still come: a hostile producer that marks its side free and
    /// dies cannot leave a blocking call waiting for ever.
    pub fn note_producer_attached(&mut self) {
        self.producer_attached = true;
    }

    /// Whether the producer is gone (see [`note_producer_attached`](Self::note_producer_attached)).
    fn producer_gone(&self) -> Result<bool, QueueError> {
        let side = &self.control().producer.0;
        if self.producer_attached {
            side.is_gone_once_attached(&*self.memory, PRODUCER)
        } else {
            side.is_gone(&*self.memory, PRODUCER)
        }
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; the memory lives as long as self.
        unsafe { self.control.as_ref() }
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.waiter = Waiter::new(strategy);
    }

    /// What this consumer's waiting cost so far: the wake calls it made for the producer,
    /// its sleeps, its spin budget.
    pub fn wait_stats(&self) -> WaitStats {
        self.waiter.stats(self.wakes)
    }

    /// Ring size in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Largest record this ring takes (the producer's [`max_record_len`](crate::Producer::max_record_len)).
    pub fn max_record_len(&self) -> usize {
        super::ring::max_record(self.capacity) as usize
    }

    /// Whether the producer is still there (a system call for a segment).
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the producer's side word holds no valid state (or
    /// says free after [`note_producer_attached`](Self::note_producer_attached)).
    pub fn is_producer_alive(&self) -> Result<bool, QueueError> {
        Ok(!self.producer_gone()?)
    }

    /// Finds the next record, validating every header it reads from the ring.
    #[inline(always)]
    fn next(&mut self) -> Result<Option<Found>, QueueError> {
        let mut pos = self.head;
        // At most a padding record and then a data record (`decode` refuses padding at
        // ring offset 0, where the one after a padding record starts).
        loop {
            let word = header_word(&*self.memory, self.data, pos & (self.capacity - 1));
            // Acquire pairs with the producer's Release store of this header: the record
            // (and the empty header word after it) is fully written.
            let header = word.load(Ordering::Acquire);
            match ring::decode(header, pos, self.capacity, self.published)? {
                Entry::Empty => return Ok(None),
                Entry::Pad { next } => pos = next,
                Entry::Data { payload, len, next } => {
                    self.prefetch_from(pos);
                    return Ok(Some(Found { payload, len, next }));
                }
            }
        }
    }

    /// Starts fetching the published lines ahead of `pos`. Each header says where the next
    /// record starts, so the consumer's cache misses would otherwise form a chain, one
    /// line transfer after another, whenever it is behind; prefetching overlaps them. The
    /// producer's tail hint bounds it, so lines still being written are left alone.
    #[inline(always)]
    fn prefetch_from(&mut self, pos: u64) {
        // Relaxed: only a hint; nothing is read on its strength.
        let hint = self.control().tail_hint.0.load(Ordering::Relaxed);
        let limit = (pos + PREFETCH_AHEAD).min(hint);
        self.prefetched
            .advance(self.data, self.capacity, pos, limit, sync::prefetch);
    }

    #[inline(always)]
    fn guard(&mut self, found: Found) -> ReadGuard<'_, M> {
        let offset = (found.payload & (self.capacity - 1)) as usize;
        // SAFETY: next() validated that the record lies inside the ring.
        let payload = unsafe { self.data.add(offset) };
        memory::model_access(payload, false);
        ReadGuard {
            consumer: self,
            payload,
            len: found.len,
            next: found.next,
            cursor: 0,
        }
    }

    /// The next record, in place.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`], [`QueueError::Disconnected`] (empty and the producer closed),
    /// [`QueueError::Corrupted`].
    #[inline(always)]
    pub fn try_read(&mut self) -> Result<ReadGuard<'_, M>, QueueError> {
        if let Some(found) = self.next()? {
            return Ok(self.guard(found));
        }
        if !self.control().producer.0.is_closed(PRODUCER)? {
            return Err(QueueError::Empty);
        }
        // Closed: the Acquire load of the state synchronised with the producer's last
        // publication, so one more look sees everything it sent.
        match self.next()? {
            Some(found) => Ok(self.guard(found)),
            None => Err(QueueError::Disconnected),
        }
    }

    /// The next record, waiting for one as long as needed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Disconnected`] once the producer closed or died and every record it
    /// published was read, [`QueueError::Corrupted`] (also when the producer's side word
    /// holds no valid state: reported within the wait strategy's liveness period).
    pub fn read_blocking(&mut self) -> Result<ReadGuard<'_, M>, QueueError> {
        let found = wait::block(self, None, Self::next)?;
        Ok(self.guard(found))
    }

    /// Like [`read_blocking`](Self::read_blocking) without its sleep: spins as long as
    /// the wait strategy deems worth it, then gives up with [`QueueError::Empty`] where
    /// `read_blocking` would sleep. For a caller that then waits its own way (an async
    /// task: [`arm_async`](Self::arm_async)).
    ///
    /// # Errors
    ///
    /// Those of [`try_read`](Self::try_read).
    pub fn read_spin(&mut self) -> Result<ReadGuard<'_, M>, QueueError> {
        match wait::spin_only(self, Self::next)? {
            Some(found) => Ok(self.guard(found)),
            None => Err(QueueError::Empty),
        }
    }

    /// Like [`read_blocking`](Self::read_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `read_blocking`, and [`QueueError::Timeout`].
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<ReadGuard<'_, M>, QueueError> {
        let found = wait::block(self, wait::after(timeout), Self::next)?;
        Ok(self.guard(found))
    }

    /// Copies the next record out and releases it.
    ///
    /// # Errors
    ///
    /// Those of [`try_read`](Self::try_read).
    pub fn try_pop(&mut self) -> Result<Bytes, QueueError> {
        self.try_read().map(ReadGuard::take)
    }

    /// Copies the next record out, waiting for one as long as needed.
    ///
    /// # Errors
    ///
    /// Those of [`read_blocking`](Self::read_blocking).
    pub fn pop_blocking(&mut self) -> Result<Bytes, QueueError> {
        self.read_blocking().map(ReadGuard::take)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::Timeout`].
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<Bytes, QueueError> {
        self.read_timeout(timeout).map(ReadGuard::take)
    }

    /// Like [`try_pop`](Self::try_pop), copying the record into `buf` and returning its
    /// length: no allocation.
    ///
    /// # Errors
    ///
    /// Those of `try_pop`, and [`QueueError::BufferTooSmall`] when `buf` is shorter than the
    /// record, which then stays next.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane_queue::SpscRing;
    ///
    /// let (mut tx, mut rx) = SpscRing::heap(4096)?;
    /// tx.try_push(b"quote")?;
    /// let mut buf = [0u8; 64];
    /// let len = rx.try_pop_into(&mut buf)?;
    /// assert_eq!(&buf[..len], b"quote");
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn try_pop_into(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.try_read()?.take_into(buf)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), copying the record into `buf` and
    /// returning its length.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::BufferTooSmall`] when `buf` is shorter
    /// than the record, which then stays next.
    pub fn pop_into_blocking(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.read_blocking()?.take_into(buf)
    }

    /// Like [`pop_into_blocking`](Self::pop_into_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_into_blocking`, and [`QueueError::Timeout`].
    pub fn pop_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, QueueError> {
        self.read_timeout(timeout)?.take_into(buf)
    }

    /// Frees the room of the records staged with [`ReadGuard::stage`].
    #[inline]
    pub fn flush(&mut self) {
        if self.published != self.head {
            // Release: our reads of the released records happen before the producer,
            // reading this position with Acquire, overwrites them.
            self.control().head.0.store(self.head, Ordering::Release);
            self.published = self.head;
            if self.control().space_ready.0.notify_ringing(&self.bell) {
                self.wakes += 1;
            }
        }
    }
}

impl<M: Memory> Blocking for Consumer<M> {
    fn waiter(&mut self) -> &mut Waiter {
        &mut self.waiter
    }

    fn word(&self) -> &WakeWord {
        &self.control().data_ready.0
    }

    fn peer_closed(&mut self) -> Result<bool, QueueError> {
        self.control().producer.0.is_closed(PRODUCER)
    }

    fn peer_gone(&mut self) -> Result<bool, QueueError> {
        self.producer_gone()
    }
}

impl<M: Memory> Consumer<M> {
    /// Closes this side now, as dropping the handle will: what was committed stays for the
    /// producer, which then sees [`QueueError::Disconnected`], and a producer asleep is
    /// woken. For a caller that must give the ring up while it still holds the handle
    /// (it found the producer corrupting it, say); the handle is not to be used after.
    pub fn close(&mut self) {
        self.disarm_async();
        self.flush();
        self.control().consumer.0.detach();
        // A producer asleep waiting for room must learn that none will come.
        self.control().space_ready.0.notify_ringing(&self.bell);
    }
}

/// Async waits: the side waits in its runtime, woken by a [`Doorbell`] the other side
/// rings, instead of sleeping on the futex (see the crate docs, "Async waiting").
impl<M: Memory> Consumer<M> {
    /// Sets what this consumer rings when the producer's async wait is armed
    /// ([`Producer::arm_async`](crate::Producer::arm_async)), once per arming; without one,
    /// an async producer is never woken.
    pub fn set_doorbell(&mut self, bell: Arc<dyn Doorbell>) {
        self.bell = Bell::new(bell);
    }

    /// Arms this consumer's async wait for records: from now on the producer's next
    /// notification rings the doorbell set on it. Then look again ([`try_pop`](Self::try_pop)
    /// or the like), and only if there is still nothing await the doorbell, whose
    /// readiness must not be cleared between this call and the await; once it rang,
    /// [`disarm_async`](Self::disarm_async) and look again. Arming an armed wait does
    /// nothing, so a cancelled await can simply be begun again.
    pub fn arm_async(&mut self) {
        if self.armed.arming() {
            self.control().data_ready.0.arm_async(Fence::Asymmetric);
        }
    }

    /// Disarms the async wait (done on drop too): the producer stops ringing.
    pub fn disarm_async(&mut self) {
        if self.armed.disarming() {
            self.control().data_ready.0.disarm_async();
        }
    }
}

impl<M: Memory> Drop for Consumer<M> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The record as a reader: each read continues where the last stopped, so a parser
/// reads straight from the ring; `Ok(0)` at its end. The bytes are copied out, as
/// `copy_to` does. (A `bytes::Buf` would have to lend a slice of the shared memory, which
/// a hostile peer could write while it is borrowed: that is what the `unsafe`
/// [`as_slice`](ReadGuard::as_slice) is for.)
///
/// ```
/// use std::io::Read;
/// use ipclane_queue::SpscRing;
///
/// let (mut tx, mut rx) = SpscRing::heap(4096)?;
/// tx.try_push(b"tick 42")?;
/// let mut record = rx.try_read()?;
/// let mut text = String::new();
/// record.read_to_string(&mut text)?;
/// record.release();
/// assert_eq!(text, "tick 42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<M: Memory> std::io::Read for ReadGuard<'_, M> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.len - self.cursor);
        self.copy_out(self.cursor, &mut buf[..n]);
        self.cursor += n;
        Ok(n)
    }
}

/// A record being read, from [`Consumer::try_read`]. Dropping it without
/// [`release`](Self::release) or [`stage`](Self::stage) leaves the record in the ring (a
/// peek).
#[derive(Debug)]
#[must_use = "dropping a ReadGuard leaves the record next (a peek): release or stage it"]
pub struct ReadGuard<'a, M: Memory> {
    consumer: &'a mut Consumer<M>,
    payload: NonNull<u8>,
    len: usize,
    next: u64,
    /// Where the next [`io::Read`](std::io::Read) read starts.
    cursor: usize,
}

impl<'a, M: Memory> ReadGuard<'a, M> {
    /// Length of the record.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the record is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte of the record (`len()` bytes), for reading in place.
    pub fn as_ptr(&self) -> *const u8 {
        self.payload.as_ptr()
    }

    /// The record as a slice.
    ///
    /// # Safety
    ///
    /// The producer process must not write the ring's unreleased bytes (a well-behaved
    /// one never does; a hostile one sharing the memory could, which would make this slice
    /// a data race).
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the bytes are inside the ring and published; the caller vouches that
        // nobody writes them while the slice lives.
        unsafe { std::slice::from_raw_parts(self.payload.as_ptr(), self.len) }
    }

    /// Copies the record into `out`, which must be exactly `len()` bytes long.
    ///
    /// # Panics
    ///
    /// When `out.len() != self.len()`.
    #[inline]
    pub fn copy_to(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.len,
            "copy_to needs a buffer of the record's length"
        );
        self.copy_out(0, out);
    }

    /// Copies `out.len()` bytes of the record from `offset`, which the caller checked to
    /// lie inside it.
    fn copy_out(&self, offset: usize, out: &mut [u8]) {
        debug_assert!(offset + out.len() <= self.len);
        // SAFETY: the record's len bytes lie inside the ring (validated), offset + out.len()
        // <= len (the callers check it); `out` is the caller's buffer, never the ring.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.payload.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
    }

    /// Copies the record into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len];
        self.copy_to(&mut out);
        out
    }

    /// Copies the record out and releases it.
    fn take(self) -> Bytes {
        let out = self.to_vec();
        self.release();
        out.into()
    }

    /// Copies the record into `buf` and releases it; leaves it next when `buf` is too
    /// short.
    fn take_into(self, buf: &mut [u8]) -> Result<usize, QueueError> {
        let len = self.len;
        let Some(out) = buf.get_mut(..len) else {
            return Err(QueueError::BufferTooSmall {
                len,
                capacity: buf.len(),
            });
        };
        self.copy_to(out);
        self.release();
        Ok(len)
    }

    /// Frees the record's room for the producer (and that of any staged before it).
    #[inline]
    pub fn release(self) {
        let consumer = self.finish();
        consumer.flush();
    }

    /// Adds the record to the batch that [`Consumer::flush`] frees; the next read moves
    /// past it.
    pub fn stage(self) {
        self.finish();
    }

    #[inline(always)]
    fn finish(self) -> &'a mut Consumer<M> {
        let ReadGuard { consumer, next, .. } = self;
        consumer.head = next;
        consumer
    }
}
