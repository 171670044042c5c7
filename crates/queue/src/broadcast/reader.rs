//! A reader of a broadcast ring.

use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::ring::{self, Control, WRITER};
use crate::QueueError;
use crate::layout::{MAX_POSITION, SideState};
use crate::memory::Memory;
use crate::sink::Sink;
use crate::sync::{Ordering, fence};
use crate::wait::{
    self, AsyncArm, Blocking, Fence, SpinLeases, WaitStats, WaitStrategy, Waiter, WakeWord,
};

/// Attempts [`BroadcastReader::latest`] makes while the writer keeps overwriting the
/// newest record under it.
const LATEST_ATTEMPTS: u32 = 64;

/// What reading one slot gave.
enum Slot {
    /// A record of this length, copied out.
    Record(usize),
    /// Overwritten (before or during the copy).
    Overwritten,
}

/// Where a [`BroadcastReader`] goes on when it was lapped (see
/// [`BroadcastReader::set_resume`]). Either way it never returns an overwritten record,
/// and [`QueueError::Lagged`] counts exactly the records it skipped.
///
/// # Examples
///
/// ```
/// use ipclane_queue::{Broadcast, QueueError, Resume};
///
/// let (mut writer, mut reader) = Broadcast::heap(4, 64)?;
/// reader.set_resume(Resume::Newest);
/// for price in 100..110u32 {
///     writer.write(&price.to_le_bytes())?;
/// }
/// // Ten records, of which it skips all but the newest: nine missed.
/// assert!(matches!(reader.try_recv(), Err(QueueError::Lagged { missed: 9 })));
/// assert_eq!(reader.try_recv()?, &109u32.to_le_bytes()[..]);
/// # Ok::<(), QueueError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Resume {
    /// With the oldest record still in the ring (the default): it misses only what was
    /// overwritten, and reads the rest in order.
    #[default]
    Oldest,
    /// With the newest record, skipping the older ones still there too (they count as
    /// missed): for readers that want current values, not a backlog of stale ones.
    Newest,
}

/// A reader of a [`Broadcast`](crate::Broadcast) ring. Any number may exist, in any
/// processes; a reader only reads the ring (it writes nothing but its count and lease in
/// the wait machinery while it blocks). `Send`, not `Sync`; a clone is
/// another reader at the same position, which then reads on its own.
#[derive(Debug)]
#[must_use = "a BroadcastReader does nothing until it reads"]
pub struct BroadcastReader<M: Memory> {
    memory: Arc<M>,
    control: NonNull<Control>,
    slots: NonNull<u8>,
    capacity: u64,
    slot_size: usize,
    /// Sequence number of the next record to read.
    next: u64,
    /// Highest writer position seen (it never goes back).
    head: u64,
    /// Where it goes on after being lapped.
    resume: Resume,
    waiter: Waiter,
    /// Whether it saw the writer's side attached: a side free after that is a lie (a
    /// hostile or broken writer), `Corrupted`, not a writer yet to come that a blocking
    /// receive would wait for (`Side::is_gone_watching`).
    writer_seen: bool,
    /// Whether its async wait is armed.
    armed: AsyncArm,
}

// SAFETY: the pointers point into memory the Arc keeps alive; a reader only performs
// atomic loads on it.
unsafe impl<M: Memory> Send for BroadcastReader<M> {}

/// Another reader at the same position, waiting and resuming after a lap the same way (its
/// counters start at zero, and its async wait is not armed).
impl<M: Memory> Clone for BroadcastReader<M> {
    fn clone(&self) -> Self {
        Self {
            memory: self.memory.clone(),
            control: self.control,
            slots: self.slots,
            capacity: self.capacity,
            slot_size: self.slot_size,
            next: self.next,
            head: self.head,
            resume: self.resume,
            waiter: Waiter::new(self.waiter.strategy()),
            writer_seen: self.writer_seen,
            armed: AsyncArm::default(),
        }
    }
}

impl<M: Memory> BroadcastReader<M> {
    /// Attaches a reader to the ring in `memory`, positioned after the newest record: it
    /// receives what is written from now on (see [`seek_oldest`](Self::seek_oldest)).
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`], [`QueueError::Corrupted`].
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let ring::Attached {
            control,
            slots,
            capacity,
            slot_size,
        } = ring::attach(&*memory)?;
        // SAFETY: `ring::attach` checked that the control block lies inside `memory`, is
        // aligned for `Control` and holds only atomics; the `memory` Arc, moved into the
        // reader below, keeps it mapped while the reference is used here.
        let block = unsafe { control.as_ref() };
        let head = block.head.0.load(Ordering::Acquire);
        if head >= MAX_POSITION {
            return Err(QueueError::corrupted(format!("writer position {head}")));
        }
        let writer = block.writer.0.state(WRITER)?;
        Ok(Self {
            memory,
            control,
            slots,
            capacity,
            slot_size,
            next: head,
            head,
            resume: Resume::default(),
            waiter: Waiter::new(WaitStrategy::default()),
            // Attached or closed: a writer was there.
            writer_seen: writer != SideState::Free,
            armed: AsyncArm::default(),
        })
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; lives as long as self.memory.
        unsafe { self.control.as_ref() }
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.waiter = Waiter::new(strategy);
    }

    /// How blocking calls wait.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.waiter.strategy()
    }

    /// What this reader's waiting cost so far: its sleeps and its spin budget (a reader
    /// wakes nobody: its `wakes` stay zero).
    pub fn wait_stats(&self) -> WaitStats {
        self.waiter.stats(0)
    }

    /// Sequence number of the next record this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Moves to the oldest record still in the ring.
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the writer position went backwards.
    pub fn seek_oldest(&mut self) -> Result<(), QueueError> {
        let head = self.load_head()?;
        self.next = self.oldest(head);
        Ok(())
    }

    /// Moves to the newest record in the ring, which the next receive returns (on a ring
    /// still empty: to the first record). Like [`seek_oldest`](Self::seek_oldest), this
    /// may move back, and what it skips is not counted as missed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the writer position went backwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane_queue::Broadcast;
    ///
    /// let (mut writer, mut reader) = Broadcast::heap(8, 64)?;
    /// for price in 100..105u32 {
    ///     writer.write(&price.to_le_bytes())?;
    /// }
    /// reader.seek_newest()?;
    /// assert_eq!(reader.position(), 4);
    /// assert_eq!(reader.try_recv()?, &104u32.to_le_bytes()[..]);
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn seek_newest(&mut self) -> Result<(), QueueError> {
        let head = self.load_head()?;
        self.next = head.saturating_sub(1);
        Ok(())
    }

    /// Sets where this reader goes on after being lapped: at the oldest record still in
    /// the ring (the default) or at the newest. Either way the receive that finds it
    /// lapped returns [`QueueError::Lagged`] with the number of records skipped, and the
    /// next one the record it moved to.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane_queue::{Broadcast, QueueError, Resume};
    ///
    /// let (mut writer, mut reader) = Broadcast::heap(4, 64)?;
    /// assert_eq!(reader.resume(), Resume::Oldest);
    /// for price in 100..110u32 {
    ///     writer.write(&price.to_le_bytes())?;
    /// }
    /// // Of 4 slots the writer is about to overwrite one: 3 records kept, 7 missed.
    /// assert!(matches!(reader.try_recv(), Err(QueueError::Lagged { missed: 7 })));
    /// assert_eq!(reader.try_recv()?, &107u32.to_le_bytes()[..]);
    /// # Ok::<(), QueueError>(())
    /// ```
    pub fn set_resume(&mut self, resume: Resume) {
        self.resume = resume;
    }

    /// Where this reader goes on after being lapped.
    pub fn resume(&self) -> Resume {
        self.resume
    }

    /// Whether the writer is still there (a system call for a segment).
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] when the writer's side word holds no valid state.
    pub fn is_writer_alive(&self) -> Result<bool, QueueError> {
        Ok(!self.writer_gone(&mut self.writer_seen.clone())?)
    }

    /// Whether the writer is gone, noting in `seen` whether it was ever seen attached
    /// (`Side::is_gone_watching`).
    fn writer_gone(&self, seen: &mut bool) -> Result<bool, QueueError> {
        self.control()
            .writer
            .0
            .is_gone_watching(&*self.memory, WRITER, seen)
    }

    /// The oldest record that the writer is not about to overwrite.
    fn oldest(&self, head: u64) -> u64 {
        head.saturating_sub(self.capacity - 1)
    }

    fn load_head(&mut self) -> Result<u64, QueueError> {
        // Acquire pairs with the writer's Release store: records before it are written.
        let head = self.control().head.0.load(Ordering::Acquire);
        if head < self.head || head >= MAX_POSITION {
            return Err(QueueError::corrupted(format!(
                "writer position went back from {} to {head}",
                self.head
            )));
        }
        self.head = head;
        Ok(head)
    }

    /// Copies record `n` out of its slot into `out`, or reports it overwritten; a record
    /// `out` cannot hold is [`QueueError::BufferTooSmall`] (and stays next). On `Overwritten`,
    /// what `out` holds is unspecified.
    fn read_slot<S: Sink + ?Sized>(&self, n: u64, out: &mut S) -> Result<Slot, QueueError> {
        let index = (n & (self.capacity - 1)) as usize;
        // SAFETY: slots/capacity/slot_size come from attach, memory is alive, index < capacity.
        let (header, words) = unsafe { ring::slot(self.slots, self.slot_size, index) };
        let expected = 2 * n + 2;
        // Acquire pairs with the writer's Release store of the even sequence.
        let before = header.seq.load(Ordering::Acquire);
        if before < expected {
            // The writer published a head past n, which it does after completing n.
            return Err(QueueError::corrupted(format!(
                "slot sequence {before} behind record {n} that the writer published"
            )));
        }
        if before != expected {
            return Ok(Slot::Overwritten);
        }
        let len = header.len.load(Ordering::Relaxed);
        if len > self.slot_size as u64 || !out.fits(len) {
            // A torn length during an overwrite looks the same as corruption or a record
            // too long for `out`: tell them apart by re-checking the sequence.
            fence(Ordering::Acquire);
            if header.seq.load(Ordering::Relaxed) != before {
                return Ok(Slot::Overwritten);
            }
            return Err(if len > self.slot_size as u64 {
                QueueError::corrupted(format!(
                    "record length {len} in a {}-byte slot",
                    self.slot_size
                ))
            } else {
                QueueError::BufferTooSmall {
                    len: len as usize,
                    capacity: out.room(),
                }
            });
        }
        // SAFETY: len <= slot_size (checked above), and the slot holds slot_size / 8
        // words (slot_size a multiple of 8).
        unsafe { crate::words::load(words, out.buffer(len as usize)) };
        // Seqlock read: the loads above happen before the re-check below.
        fence(Ordering::Acquire);
        let after = header.seq.load(Ordering::Relaxed);
        Ok(if after == before {
            Slot::Record(len as usize)
        } else {
            Slot::Overwritten
        })
    }

    /// Moves a lapped reader on (at least one record: the one it could not read) and
    /// says how many records it skipped.
    fn lagged(&mut self, head: u64) -> QueueError {
        let to = match self.resume {
            Resume::Oldest => self.oldest(head),
            // The newest record is never the one being overwritten (capacity >= 2).
            Resume::Newest => head.saturating_sub(1),
        }
        .max(self.next + 1);
        let missed = to - self.next;
        self.next = to;
        QueueError::Lagged { missed }
    }

    fn poll<S: Sink + ?Sized>(&mut self, out: &mut S) -> Result<Option<usize>, QueueError> {
        let head = self.load_head()?;
        if self.next > head {
            return Err(QueueError::corrupted(format!(
                "writer position {head} behind this reader's {}",
                self.next
            )));
        }
        if self.next == head {
            return Ok(None);
        }
        if self.next < self.oldest(head) {
            return Err(self.lagged(head));
        }
        match self.read_slot(self.next, out)? {
            Slot::Record(len) => {
                self.next += 1;
                Ok(Some(len))
            }
            Slot::Overwritten => {
                let head = self.load_head()?;
                Err(self.lagged(head))
            }
        }
    }

    /// The next record.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`], [`QueueError::Lagged`] (records were overwritten before this
    /// reader got to them; the next call continues with the oldest record still present,
    /// or the newest: see [`set_resume`](Self::set_resume)),
    /// [`QueueError::Disconnected`] (the writer closed and everything was read),
    /// [`QueueError::Corrupted`].
    pub fn try_recv(&mut self) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        self.try_take(&mut out)?;
        Ok(out.into())
    }

    /// Like [`try_recv`](Self::try_recv), copying the record into `buf` and returning its
    /// length: no allocation. On an error, what `buf` holds is unspecified.
    ///
    /// # Errors
    ///
    /// Those of `try_recv`, and [`QueueError::BufferTooSmall`] when `buf` is shorter than the
    /// record, which then stays next.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane_queue::Broadcast;
    ///
    /// let (mut writer, mut reader) = Broadcast::heap(8, 64)?;
    /// writer.write(b"quote")?;
    /// let mut buf = [0u8; 64];
    /// let len = reader.try_recv_into(&mut buf)?;
    /// assert_eq!(&buf[..len], b"quote");
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.try_take(buf)
    }

    fn try_take<S: Sink + ?Sized>(&mut self, out: &mut S) -> Result<usize, QueueError> {
        match self.poll(out)? {
            Some(len) => Ok(len),
            None if self.control().writer.0.is_closed(WRITER)? => {
                self.poll(out)?.ok_or(QueueError::Disconnected)
            }
            None => Err(QueueError::Empty),
        }
    }

    /// The next record, waiting for one as long as needed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Lagged`], [`QueueError::Disconnected`] once the writer closed or died
    /// and everything was read, [`QueueError::Corrupted`] (also when the writer's side
    /// word holds no valid state: reported within the wait strategy's liveness period).
    pub fn recv_blocking(&mut self) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        wait::block(self, None, |r| r.poll(&mut out))?;
        Ok(out.into())
    }

    /// Like [`recv_blocking`](Self::recv_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `recv_blocking`, and [`QueueError::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        wait::block(self, wait::after(timeout), |r| r.poll(&mut out))?;
        Ok(out.into())
    }

    /// Like [`recv_blocking`](Self::recv_blocking), copying the record into `buf` and
    /// returning its length.
    ///
    /// # Errors
    ///
    /// Those of `recv_blocking`, and [`QueueError::BufferTooSmall`] when `buf` is shorter
    /// than the record, which then stays next.
    pub fn recv_into_blocking(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        wait::block(self, None, |r| r.poll(buf))
    }

    /// Like [`recv_into_blocking`](Self::recv_into_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `recv_into_blocking`, and [`QueueError::Timeout`].
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, QueueError> {
        wait::block(self, wait::after(timeout), |r| r.poll(buf))
    }

    /// Like [`recv_blocking`](Self::recv_blocking) without its sleep: spins as long as
    /// the wait strategy deems worth it, then gives up with [`QueueError::Empty`] where
    /// `recv_blocking` would sleep. For a caller that then waits its own way (an async
    /// task: [`arm_async`](Self::arm_async)).
    ///
    /// # Errors
    ///
    /// Those of [`try_recv`](Self::try_recv).
    pub fn recv_spin(&mut self) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        match wait::spin_only(self, |r| r.poll(&mut out))? {
            Some(_) => Ok(out.into()),
            None => Err(QueueError::Empty),
        }
    }

    /// Like [`recv_spin`](Self::recv_spin), copying the record into `buf` and returning
    /// its length.
    ///
    /// # Errors
    ///
    /// Those of [`try_recv_into`](Self::try_recv_into).
    pub fn recv_into_spin(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        wait::spin_only(self, |r| r.poll(buf))?.ok_or(QueueError::Empty)
    }

    /// Arms this reader's async wait for records: from now on the writer's next write
    /// (or its close) rings the doorbell set on the writer
    /// ([`BroadcastWriter::set_doorbell`](crate::BroadcastWriter::set_doorbell)). Then
    /// look again ([`try_recv`](Self::try_recv) or the like), and only if there is still
    /// nothing await this reader's bell, whose readiness must not be cleared between this
    /// call and the await; once it rang, [`disarm_async`](Self::disarm_async) and look
    /// again. Arming an armed wait does nothing, so a cancelled await can simply be begun
    /// again.
    ///
    /// All the ring's async readers share one flag: the writer rings once per arming of
    /// any of them, and its bell must then wake every parked one. So a reader must make
    /// itself known to the bell's owner as parked *before* it arms, and may only say it
    /// is no longer parked after it [disarmed](Self::disarm_async).
    pub fn arm_async(&mut self) {
        if self.armed.arming() {
            self.control().data_ready.0.arm_async(Fence::Symmetric);
        }
    }

    /// Disarms the async wait (done on drop too).
    pub fn disarm_async(&mut self) {
        if self.armed.disarming() {
            self.control().data_ready.0.disarm_async();
        }
    }

    /// The newest record, skipping everything older (for readers that only want the
    /// current value); the next `try_recv` returns what is written after it.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] before the first record, [`QueueError::Corrupted`].
    pub fn latest(&mut self) -> Result<Bytes, QueueError> {
        for _ in 0..LATEST_ATTEMPTS {
            let head = self.load_head()?;
            if head == 0 {
                return Err(QueueError::Empty);
            }
            let mut record = Vec::new();
            if let Slot::Record(_) = self.read_slot(head - 1, &mut record)? {
                self.next = self.next.max(head);
                return Ok(record.into());
            }
        }
        Err(QueueError::corrupted(format!(
            "the newest record was overwritten {LATEST_ATTEMPTS} times while being copied"
        )))
    }
}

impl<M: Memory> Blocking for BroadcastReader<M> {
    fn waiter(&mut self) -> &mut Waiter {
        &mut self.waiter
    }

    fn word(&self) -> &WakeWord {
        &self.control().data_ready.0
    }

    fn leases(&self) -> Option<&SpinLeases> {
        Some(&self.control().leases.0)
    }

    fn fence(&self) -> Fence {
        // Many readers per writer: see `wait::fences`.
        Fence::Symmetric
    }

    fn peer_closed(&mut self) -> Result<bool, QueueError> {
        self.control().writer.0.is_closed(WRITER)
    }

    fn peer_gone(&mut self) -> Result<bool, QueueError> {
        let mut seen = self.writer_seen;
        let gone = self.writer_gone(&mut seen);
        self.writer_seen = seen;
        gone
    }
}

impl<M: Memory> Drop for BroadcastReader<M> {
    fn drop(&mut self) {
        self.disarm_async();
    }
}
