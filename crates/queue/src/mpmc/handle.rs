//! What producers and consumers share: attaching, the slot protocol, and the intent words
//! that let survivors repair a slot whose owner died (see the module docs of `mpmc`).

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;

use ipclane_segment::Claim;

use super::{
    Abandoned, Control, MAX_RETRIES, MAX_SIDES, MpmcQueue, Role, SKIPPED, SLOT_HEADER,
    SLOTS_OFFSET, SlotHeader, stride,
};
use crate::QueueError;
use crate::layout::Structure;
use crate::memory::{self, Memory};
use crate::sink::Sink;
use crate::sync::{AtomicU64, Ordering};
use crate::wait::{Blocking, WaitStats, WaitStrategy, Waiter, WakeWord};

/// Validates the queue in `memory` (each field read once): its control block, capacity
/// and slot size, and that every slot lies inside the memory.
pub(super) fn validate<M: Memory + ?Sized>(
    memory: &M,
) -> Result<(NonNull<Control>, u64, usize), QueueError> {
    memory::check(memory, SLOTS_OFFSET)?;
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
    if MpmcQueue::required_len(cap, slot_size) > memory.len() {
        return Err(QueueError::layout(format!(
            "{cap} slots of {slot_size} bytes do not fit in {} bytes",
            memory.len()
        )));
    }
    Ok((control, capacity, slot_size))
}

/// Consecutive `Full` (or empty) outcomes at one position after which an operation looks
/// for a dead owner of the slot that blocks it ([`Handle::repair`]): rare enough to cost
/// nothing while the queue moves, often enough that a non-blocking caller gets unstuck.
const REPAIR_EVERY: u32 = 64;

#[derive(Debug)]
pub(super) struct Handle<M: Memory> {
    pub(super) memory: Arc<M>,
    control: NonNull<Control>,
    slots: NonNull<u8>,
    pub(super) capacity: u64,
    pub(super) slot_size: usize,
    stride: usize,
    pub(super) role: Role,
    /// This handle's intent word, when the memory can tell a dead handle from a live one
    /// (a segment); `None` on heap memory, where announcing would serve nobody.
    intent: Option<NonNull<AtomicU64>>,
    /// The position the last operation found blocked, and how many times in a row.
    stuck: Cell<(u64, u32)>,
    /// Wake system calls this handle made for the other role.
    wakes: Cell<u64>,
    waiter: Waiter,
    _claim: Option<Claim>,
}

// SAFETY: the pointers point into memory the Arc keeps alive, which is Send + Sync; all
// shared state is reached atomically or under the slot protocol's exclusive ownership.
unsafe impl<M: Memory> Send for Handle<M> {}

/// A position announced in a handle's intent word; cleared (Release) when dropped, so
/// every way out of an operation withdraws it.
struct Announcement<'a>(Option<&'a AtomicU64>);

impl Announcement<'_> {
    /// Announces that this handle is about to take `position`. Release: a survivor that
    /// reads the word with Acquire also sees what this handle did before (the previous
    /// slot it published); the CAS that follows is Release too, so a survivor that sees
    /// the position taken sees this announcement.
    #[inline(always)]
    fn set(&self, position: u64) {
        if let Some(word) = self.0 {
            word.store(position.wrapping_add(1), Ordering::Release);
        }
    }
}

impl Drop for Announcement<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(word) = self.0 {
            // Release: the slot's sequence, stored before, is visible to a survivor that
            // reads 0 here.
            word.store(0, Ordering::Release);
        }
    }
}

impl<M: Memory> Handle<M> {
    pub(super) fn attach(memory: Arc<M>, role: Role) -> Result<Self, QueueError> {
        let (control, capacity, slot_size) = validate(&*memory)?;
        // SAFETY: validated: aligned and large enough; fields are atomics.
        let ctrl = unsafe { control.as_ref() };
        let (index, claim) = Self::take_claim(&*memory, role)?;
        let intent = claim.as_ref().map(|_| {
            let word = &ctrl.intents(role)[index as usize].0;
            // The claim proves the word's previous holder dead: withdraw what it
            // announced, so survivors no longer wait for it. Release, as any clear.
            word.store(0, Ordering::Release);
            NonNull::from(word)
        });
        crate::wait::prepare();
        let counts = ctrl.counts(role);
        counts.live.fetch_add(1, Ordering::AcqRel);
        counts.seen.fetch_add(1, Ordering::AcqRel);
        // SAFETY: SLOTS_OFFSET < required_len <= memory.len() (validated).
        let slots = unsafe { memory.as_ptr().add(SLOTS_OFFSET) };
        Ok(Self {
            memory,
            control,
            slots,
            capacity,
            slot_size,
            stride: stride(slot_size).expect("checked by required_len"),
            role,
            intent,
            stuck: Cell::new((0, 0)),
            wakes: Cell::new(0),
            waiter: Waiter::new(WaitStrategy::default()),
            _claim: claim,
        })
    }

    /// The first free side index of `role` and its claim (`None` on memory without
    /// liveness, where every handle uses index 0 and announces nothing).
    fn take_claim(memory: &M, role: Role) -> Result<(u32, Option<Claim>), QueueError> {
        for i in 0..MAX_SIDES {
            match memory.claim(role.claims() + i, role.name()) {
                Ok(claim) => return Ok((i, claim)),
                Err(QueueError::AlreadyClaimed { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(QueueError::AlreadyClaimed { side: role.name() })
    }

    pub(super) fn control(&self) -> &Control {
        // SAFETY: validated at attach; lives as long as self.memory.
        unsafe { self.control.as_ref() }
    }

    /// Whether this handle's memory tells dead handles from live ones (and handles
    /// announce their positions).
    pub(super) fn tracks_liveness(&self) -> bool {
        self.intent.is_some()
    }

    #[inline(always)]
    fn announcement(&self) -> Announcement<'_> {
        // SAFETY: the word lies in the control block, which lives as long as self.memory.
        Announcement(self.intent.map(|word| unsafe { word.as_ref() }))
    }

    /// Whether every handle of the other role that ever attached has gone. Cheap form
    /// (`deep == false`): counts only; deep form: also asks the segment which are alive.
    pub(super) fn others_gone(&self, deep: bool) -> bool {
        let other = self.role.other();
        let counts = self.control().counts(other);
        if counts.seen.load(Ordering::Acquire) == 0 {
            return false; // nobody came yet: they may still come
        }
        if counts.live.load(Ordering::Acquire) == 0 {
            return true;
        }
        deep && (0..MAX_SIDES).all(|i| self.memory.is_claimed(other.claims() + i) == Some(false))
    }

    pub(super) fn slot(&self, position: u64) -> (&SlotHeader, NonNull<u8>) {
        let index = (position & (self.capacity - 1)) as usize;
        // SAFETY: index < capacity, and every slot lies inside the memory (checked at
        // attach); slot headers are 8-aligned and hold atomics.
        unsafe {
            let base = self.slots.add(index * self.stride);
            (base.cast::<SlotHeader>().as_ref(), base.add(SLOT_HEADER))
        }
    }

    /// What survivors repaired for dead peers so far.
    pub(super) fn abandoned(&self) -> Abandoned {
        self.control().abandoned.0.snapshot()
    }

    /// After every producer has gone: the next committed record into `out`, repairing
    /// the slots of dead producers on the way; `None` once none is left.
    pub(super) fn drain<S: Sink + ?Sized>(&self, out: &mut S) -> Result<Option<usize>, QueueError> {
        // Each round either returns or repairs a slot; fewer slots than capacity block. At
        // most two repairs a round (try_pop's and this one), whatever a hostile peer does.
        for _ in 0..=self.capacity {
            if let Some(len) = self.try_pop(out)? {
                return Ok(Some(len));
            }
            if self.repair() == 0 {
                return Ok(None);
            }
        }
        Err(QueueError::corrupted(
            "slots keep needing repair after every producer has gone",
        ))
    }

    /// Whether the last operation found its position blocked long enough to ask the
    /// segment whether the other side is still alive (a system call).
    pub(super) fn deep_check_due(&self) -> bool {
        let (_, times) = self.stuck.get();
        times > 0 && times.is_multiple_of(REPAIR_EVERY)
    }

    /// Notes that an operation found `position` blocked; true every [`REPAIR_EVERY`]th
    /// time in a row, when it should look for a dead owner.
    fn blocked_at(&self, position: u64) -> bool {
        let (at, times) = self.stuck.get();
        let times = if at == position { times + 1 } else { 1 };
        self.stuck.set((position, times));
        times.is_multiple_of(REPAIR_EVERY)
    }

    pub(super) fn try_push(&self, record: &[u8]) -> Result<(), QueueError> {
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
        let announcement = self.announcement();
        let mut pos = enqueue.load(Ordering::Relaxed);
        // One repair per call: a hostile peer that keeps the queue looking stuck gets no
        // more than one scan of the announcements (64 system calls) out of each call.
        let mut may_repair = true;
        for _ in 0..MAX_RETRIES {
            let (slot, payload) = self.slot(pos);
            // Acquire pairs with the consumer's Release store of seq: its read of the
            // previous record is done before we overwrite the slot. The skipped flag only
            // matters to consumers: a skipped slot is full for producers.
            let seq = slot.seq.load(Ordering::Acquire) & !SKIPPED;
            let diff = seq.wrapping_sub(pos) as i64;
            if diff == 0 {
                announcement.set(pos);
                // Release on success: survivors that see the position taken see the
                // announcement. The data is ordered by the slot's seq (Acquire load above,
                // Release store below).
                match enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        crate::fault::reached(crate::fault::Point::MpmcAfterEnqueue);
                        memory::model_access(payload, true);
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
                        drop(announcement);
                        self.notify(&self.control().not_empty.0);
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                // The slot still holds a record of an earlier lap (or a consumer of that
                // lap is still reading it, or died doing so, or our view of it is not
                // current yet): full, unless a dead consumer's slot can be handed back.
                if self.blocked_at(pos) && may_repair {
                    may_repair = false;
                    if self.repair() > 0 {
                        pos = enqueue.load(Ordering::Relaxed);
                        continue;
                    }
                    if self.others_gone(true) {
                        return Err(QueueError::Disconnected);
                    }
                }
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

    /// Moves the oldest record into `out`, passing the slots of dead producers; `None`
    /// when there is none now, its length otherwise. A record `out` cannot hold stays
    /// queued: [`QueueError::TooLarge`].
    pub(super) fn try_pop<S: Sink + ?Sized>(
        &self,
        out: &mut S,
    ) -> Result<Option<usize>, QueueError> {
        let dequeue = &self.control().dequeue.0;
        let mut pos = dequeue.load(Ordering::Relaxed);
        let mut may_repair = true; // one repair per call, as in try_push
        for _ in 0..MAX_RETRIES {
            let (slot, payload) = self.slot(pos);
            // Acquire pairs with the producer's (or a repairer's) Release store of seq.
            let raw = slot.seq.load(Ordering::Acquire);
            let diff = (raw & !SKIPPED).wrapping_sub(pos.wrapping_add(1)) as i64;
            if diff == 0 {
                // Refused before taking the slot, so that the record stays queued. The
                // length read here is only for that: once the CAS below succeeds nobody
                // else took the slot, but the length is read again and validated then. A
                // length over the slot size is no record's: the slot is taken, and the
                // check after the CAS reports it `Corrupted` and hands the slot back.
                let ahead = slot.len.load(Ordering::Relaxed);
                if raw & SKIPPED == 0 && ahead <= self.slot_size as u64 && !out.fits(ahead) {
                    return Err(QueueError::BufferTooSmall {
                        len: usize::try_from(ahead).unwrap_or(usize::MAX),
                        capacity: out.room(),
                    });
                }
                let announcement = self.announcement();
                announcement.set(pos);
                // Release on success, as in try_push: survivors that see the position
                // taken see the announcement. The slot's seq orders the data.
                match dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        crate::fault::reached(crate::fault::Point::MpmcAfterDequeue);
                        if raw & SKIPPED != 0 {
                            // A slot a dead producer took: nothing to read, pass it.
                            self.hand_back(slot, pos, announcement);
                            pos = pos.wrapping_add(1);
                            continue;
                        }
                        memory::model_access(payload, false);
                        let len = slot.len.load(Ordering::Relaxed);
                        let result = if len > self.slot_size as u64 {
                            Err(QueueError::corrupted(format!(
                                "record length {len} in a slot of {} bytes",
                                self.slot_size
                            )))
                        } else if len != ahead {
                            // Nobody may write a taken slot's length: a hostile peer did.
                            Err(QueueError::corrupted(format!(
                                "record length changed from {ahead} to {len} in a taken slot"
                            )))
                        } else {
                            let buf = out.buffer(len as usize);
                            // SAFETY: the CAS gave us exclusive use of the slot until we
                            // publish seq; len <= slot_size bytes lie in the slot; `buf`
                            // is len bytes of the caller's memory, not the slot's.
                            unsafe {
                                std::ptr::copy_nonoverlapping(
                                    payload.as_ptr(),
                                    buf.as_mut_ptr(),
                                    buf.len(),
                                )
                            };
                            Ok(Some(buf.len()))
                        };
                        // The slot is handed back even when its length was corrupt.
                        self.hand_back(slot, pos, announcement);
                        return result;
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                // Nothing written here yet (or a consumer of the previous lap is still
                // reading, or our view of the slot is not current yet): empty, unless the
                // producer that took this position died and its slot can be skipped.
                if self.blocked_at(pos) && may_repair {
                    may_repair = false;
                    if self.repair() > 0 {
                        pos = dequeue.load(Ordering::Relaxed);
                        continue;
                    }
                }
                return Ok(None);
            } else {
                // Another consumer took this position; see try_push.
                let now = dequeue.fetch_add(0, Ordering::Relaxed);
                if now == pos {
                    return Err(QueueError::corrupted(format!(
                        "slot sequence {raw:#x} ahead of the dequeue position {pos}"
                    )));
                }
                pos = now;
            }
        }
        Err(QueueError::corrupted(
            "the dequeue position keeps moving without progress",
        ))
    }

    /// Gives the slot a consumer took at `pos` back to the producers, then withdraws the
    /// announcement and wakes a producer waiting for room.
    #[inline(always)]
    fn hand_back(&self, slot: &SlotHeader, pos: u64, announcement: Announcement<'_>) {
        // Release: our read is done before a producer reuses the slot.
        slot.seq
            .store(pos.wrapping_add(self.capacity), Ordering::Release);
        drop(announcement);
        self.notify(&self.control().not_full.0);
    }

    /// Wakes the waiters of `word`, counting the wake system calls.
    #[inline(always)]
    pub(super) fn notify(&self, word: &WakeWord) {
        if word.notify() {
            self.wakes.set(self.wakes.get() + 1);
        }
    }
}

impl<M: Memory> Drop for Handle<M> {
    fn drop(&mut self) {
        self.control()
            .counts(self.role)
            .live
            .fetch_sub(1, Ordering::AcqRel);
        // Sleepers of the other role re-check whether anybody is left.
        match self.role {
            Role::Producer => self.control().not_empty.0.notify(),
            Role::Consumer => self.control().not_full.0.notify(),
        };
    }
}

/// A producer waits for room (`not_full`), a consumer for records (`not_empty`); either
/// watches every handle of the other role.
impl<M: Memory> Blocking for Handle<M> {
    fn waiter(&mut self) -> &mut Waiter {
        &mut self.waiter
    }

    fn word(&self) -> &WakeWord {
        match self.role {
            Role::Producer => &self.control().not_full.0,
            Role::Consumer => &self.control().not_empty.0,
        }
    }

    fn peer_closed(&mut self) -> Result<bool, QueueError> {
        Ok(self.others_gone(false))
    }

    /// After each sleep: first repair what a dead peer left (a slot a dead consumer
    /// holds, a slot a dead producer never published), then ask who lives.
    fn peer_gone(&mut self) -> Result<bool, QueueError> {
        self.repair();
        Ok(self.others_gone(true))
    }
}

impl<M: Memory> Handle<M> {
    /// Another handle of the same role on the same memory, waiting the same way.
    pub(super) fn try_clone(&self) -> Result<Self, QueueError> {
        let mut other = Self::attach(self.memory.clone(), self.role)?;
        other.waiter = Waiter::new(self.waiter.strategy());
        Ok(other)
    }

    /// [`try_push`](Self::try_push), with `Full` as "not yet".
    pub(super) fn poll_push(&self, record: &[u8]) -> Result<Option<()>, QueueError> {
        match self.try_push(record) {
            Ok(()) => Ok(Some(())),
            Err(QueueError::Full) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets how blocking calls wait.
    pub(super) fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.waiter = Waiter::new(strategy);
    }

    /// This handle's wait counters.
    pub(super) fn wait_stats(&self) -> WaitStats {
        self.waiter.stats(self.wakes.get())
    }
}

/// The calls that [`MpmcProducer`](super::MpmcProducer) and
/// [`MpmcConsumer`](super::MpmcConsumer) both forward to their [`Handle`] (`.0`), written
/// once: `$peers` names the other role in the docs.
macro_rules! shared_calls {
    ($peers:literal) => {
        /// Largest record: the slot size.
        pub fn max_record_len(&self) -> usize {
            self.0.slot_size
        }

        /// Sets how blocking calls wait.
        pub fn set_wait_strategy(&mut self, strategy: $crate::WaitStrategy) {
            self.0.set_wait_strategy(strategy);
        }

        #[doc = concat!(
                            "What this handle's waiting cost so far: the wake calls it made for ",
                            $peers, ", its sleeps, its spin budget."
                        )]
        pub fn wait_stats(&self) -> $crate::WaitStats {
            self.0.wait_stats()
        }

        /// Operations that peers which died in their middle left to the survivors,
        /// counted for the whole queue.
        pub fn abandoned(&self) -> super::Abandoned {
            self.0.abandoned()
        }
    };
}
pub(super) use shared_calls;
