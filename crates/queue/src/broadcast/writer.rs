//! The writer of a broadcast ring.

use std::ptr::NonNull;
use std::sync::Arc;

use ipclane_segment::Claim;

use super::ring::{self, Control, WRITER};
use crate::QueueError;
use crate::layout::MAX_POSITION;
use crate::memory::Memory;
use crate::sync::{Ordering, fence};
use crate::wait::{Bell, Doorbell, WaitStats};

/// The writer of a [`Broadcast`](crate::Broadcast) ring: one per ring across all
/// processes. `Send`, not `Sync`. Never waits for readers.
#[derive(Debug)]
#[must_use = "dropping the BroadcastWriter closes the ring: readers get Disconnected once they read everything"]
pub struct BroadcastWriter<M: Memory> {
    /// Keeps the memory alive for the pointers below.
    _memory: Arc<M>,
    control: NonNull<Control>,
    slots: NonNull<u8>,
    capacity: u64,
    slot_size: usize,
    /// Sequence number of the next record.
    head: u64,
    /// Wake system calls made for sleeping readers (and rings for parked async ones).
    wakes: u64,
    /// What a notification rings for the async readers parked on the ring.
    bell: Bell,
    _claim: Option<Claim>,
}

// SAFETY: the pointers point into memory the Arc keeps alive; the writer is the only one
// writing, one thread at a time (not Sync).
unsafe impl<M: Memory> Send for BroadcastWriter<M> {}

impl<M: Memory> BroadcastWriter<M> {
    /// Attaches the writer of the ring in `memory`: one per ring, across all processes. A
    /// writer taking over from a dead one continues its sequence.
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when a live writer exists, [`QueueError::Layout`],
    /// [`QueueError::Corrupted`].
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        let ring::Attached {
            control,
            slots,
            capacity,
            slot_size,
        } = ring::attach(&*memory)?;
        // SAFETY: validated by attach.
        let ctrl = unsafe { control.as_ref() };
        // A writer taking over continues the sequence, so readers see no jump back.
        let head = ctrl.head.0.load(Ordering::Acquire);
        if head >= MAX_POSITION {
            return Err(QueueError::corrupted(format!("writer position {head}")));
        }
        let claim = ctrl.writer.0.attach(&*memory, WRITER)?;
        Ok(Self {
            _memory: memory,
            control,
            slots,
            capacity,
            slot_size,
            head,
            wakes: 0,
            bell: Bell::NONE,
            _claim: claim,
        })
    }

    fn control(&self) -> &Control {
        // SAFETY: validated at attach; lives as long as self._memory.
        unsafe { self.control.as_ref() }
    }

    /// Largest record.
    pub fn max_record_len(&self) -> usize {
        self.slot_size
    }

    /// Slots of the ring: a reader this many records behind or more is lapped (readers
    /// are kept this many less one).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Sequence number the next record gets (records written so far).
    pub fn position(&self) -> u64 {
        self.head
    }

    /// What this writer's writes cost in wake-ups: the wake calls it made for sleeping
    /// readers and the rings for parked async ones (zero while every reader keeps up: a
    /// write with nobody waiting costs no system call). The writer never waits, so its
    /// `parks` and `spin_budget` are zero.
    pub fn wait_stats(&self) -> WaitStats {
        WaitStats {
            wakes: self.wakes,
            ..WaitStats::default()
        }
    }

    /// Sets what this writer rings when readers wait in the async form
    /// ([`BroadcastReader::arm_async`](crate::BroadcastReader::arm_async)): once per
    /// arming of any of them, on a write (or the close) that finds one armed. The ring has
    /// one flag for all its async readers, so the bell must wake every one that is parked
    /// (the owner of the readers' bells keeps the list: `ipclane` keeps a table of them
    /// beside the feed). Without one, async readers are never woken.
    pub fn set_doorbell(&mut self, bell: std::sync::Arc<dyn Doorbell>) {
        self.bell = Bell::new(bell);
    }

    /// Publishes `record`, overwriting the oldest slot; never waits.
    ///
    /// # Errors
    ///
    /// [`QueueError::TooLarge`] over the slot size.
    pub fn write(&mut self, record: &[u8]) -> Result<(), QueueError> {
        if record.len() > self.slot_size {
            return Err(QueueError::TooLarge {
                len: record.len(),
                max: self.slot_size,
            });
        }
        let n = self.head;
        let index = (n & (self.capacity - 1)) as usize;
        // SAFETY: slots/capacity/slot_size come from attach, memory is alive, index < capacity.
        let (header, words) = unsafe { ring::slot(self.slots, self.slot_size, index) };
        // Seqlock write: an odd sequence marks the slot as being written...
        header.seq.store(2 * n + 1, Ordering::Relaxed);
        // ...and this fence keeps the data stores below from being seen before it, so a
        // reader that sees new data also sees the odd (or a later) sequence on re-check.
        fence(Ordering::Release);
        header.len.store(record.len() as u64, Ordering::Relaxed);
        // SAFETY: record.len() <= slot_size (checked above), and the slot holds
        // slot_size / 8 words (slot_size a multiple of 8).
        unsafe { crate::words::store(words, record) };
        // Release: a reader that reads this even sequence (Acquire) sees the record.
        header.seq.store(2 * n + 2, Ordering::Release);
        self.head = n + 1;
        // Release: a reader that sees the new head finds the slot written.
        self.control().head.0.store(self.head, Ordering::Release);
        if self
            .control()
            .data_ready
            .0
            .notify_symmetric_ringing(&self.bell)
        {
            self.wakes += 1;
        }
        Ok(())
    }
}

impl<M: Memory> Drop for BroadcastWriter<M> {
    fn drop(&mut self) {
        self.control().writer.0.detach();
        self.control()
            .data_ready
            .0
            .notify_symmetric_ringing(&self.bell);
    }
}
