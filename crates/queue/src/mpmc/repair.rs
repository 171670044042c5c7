//! Repairing the slot a dead peer owned (see "Peers that die inside an operation" in the
//! module docs of `mpmc`).
//!
//! Two slots can block the survivors, one per direction:
//!
//! - at the dequeue position `d`, a slot a producer took (`d < enqueue`) but never
//!   published (`seq == d`): consumers wait there;
//! - at `r = enqueue - capacity`, a slot a consumer took (`r < dequeue`) but never handed
//!   back (`seq == r + 1`, skipped or not): producers wait there.
//!
//! Either is repaired only once no *live* handle of the owning role announces its
//! position. The argument that a live owner is always seen: the owner stored its
//! announcement (Release) before its CAS on the position (Release), and the repairer read
//! the position with Acquire and found it past the slot, which it can only do by reading
//! that CAS or a later read-modify-write of the same word; so it sees the announcement,
//! or a later store of the owner's word, all Release and made after the owner published
//! the slot, which the repairer's final compare-exchange of `seq` then finds changed.
//! One more case: the repairer reads the owner's announcement, the owner then publishes,
//! withdraws it and releases its claim (drops its handle, or exits) before the repairer
//! asks whether the claim is held. The repairer's compare-exchange of `seq` from the
//! value it read before must then fail, which needs the owner's publication to be
//! visible to it. That rests on the kernel: releasing a lock and asking about it are
//! system calls that take the lock's spinlock, a full barrier on every architecture
//! Linux runs on, so the owner's stores before its release are visible after the
//! repairer's query. This is the one ordering not expressed in the atomics above.
//! A handle that took over a dead owner's side index withdrew its announcement first,
//! which is right: the owner is dead. A live handle stopped between announcing a position
//! and losing the CAS for it keeps that announcement until it runs again; a dead owner
//! of the same position is then waited for as if alive, never repaired wrongly.
//!
//! A handle belongs to the process that attached it: one copied by `fork` shares its
//! claim and its intent word with the original, so two processes would announce through
//! one word and a survivor could repair a slot one of them still owns. After `fork`, the
//! child attaches handles of its own (the memory, a `Segment`, may be shared freely). Every step is a compare-exchange on the slot's
//! sequence from the value read, so two repairers (or a repairer and a late but live
//! owner) never both act on one slot.

use super::handle::Handle;
use super::{Role, SKIPPED};
use crate::layout::MAX_POSITION;
use crate::memory::Memory;
use crate::sync::Ordering;

impl<M: Memory> Handle<M> {
    /// Repairs what a dead producer or consumer left blocking the queue; returns how many
    /// slots it repaired (0, 1 or 2). Safe to call at any time: it never acts on a slot
    /// whose owner may be alive, or on a queue whose positions make no sense.
    pub(super) fn repair(&self) -> u32 {
        if !self.tracks_liveness() {
            return 0; // threads of one process: nobody dies alone, nothing is announced
        }
        let control = self.control();
        // Acquire: see the module docs; the announcements of every handle whose CAS
        // moved these positions are visible after these loads.
        let enqueue = control.enqueue.0.load(Ordering::Acquire);
        let dequeue = control.dequeue.0.load(Ordering::Acquire);
        if enqueue >= MAX_POSITION || dequeue > enqueue {
            return 0; // corrupted: the operations themselves report it
        }
        let mut repaired = 0;
        if dequeue < enqueue && self.repair_unpublished(dequeue) {
            repaired += 1;
        }
        if let Some(r) = enqueue.checked_sub(self.capacity)
            && r < dequeue
            && self.repair_unreturned(r)
        {
            repaired += 1;
        }
        if repaired > 0 {
            self.notify(&control.not_empty.0);
            self.notify(&control.not_full.0);
        }
        repaired
    }

    /// The slot at `position`, taken by a producer, still unpublished: marked skipped if
    /// that producer is dead.
    fn repair_unpublished(&self, position: u64) -> bool {
        let (slot, _) = self.slot(position);
        if slot.seq.load(Ordering::Acquire) != position
            || self.announced_by_live(Role::Producer, position)
        {
            return false;
        }
        // AcqRel: the Release half publishes the mark to consumers (their Acquire load of
        // seq); compare-exchange from the value read: a live owner's late publication, or
        // another repairer, makes it fail.
        let marked = slot
            .seq
            .compare_exchange(
                position,
                position.wrapping_add(1) | SKIPPED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        if marked {
            self.control()
                .abandoned
                .0
                .pushes
                .fetch_add(1, Ordering::Relaxed);
        }
        marked
    }

    /// The slot at `position`, taken by a consumer, not handed back: handed back to the
    /// producers if that consumer is dead.
    fn repair_unreturned(&self, position: u64) -> bool {
        let (slot, _) = self.slot(position);
        let seq = slot.seq.load(Ordering::Acquire);
        if seq & !SKIPPED != position.wrapping_add(1)
            || self.announced_by_live(Role::Consumer, position)
        {
            return false;
        }
        // AcqRel as above; Release orders nothing of ours before the producers' writes,
        // but keeps the hand-back like the consumers' own.
        let returned = slot
            .seq
            .compare_exchange(
                seq,
                position.wrapping_add(self.capacity),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok();
        // A skipped slot held no record: only a real record is lost.
        if returned && seq & SKIPPED == 0 {
            self.control()
                .abandoned
                .0
                .pops
                .fetch_add(1, Ordering::Relaxed);
        }
        returned
    }

    /// Whether a handle of `role` that may be alive announces `position`. Memory without
    /// liveness never proves a handle dead, so there every announcement counts as live.
    fn announced_by_live(&self, role: Role, position: u64) -> bool {
        let intents = self.control().intents(role);
        intents.iter().enumerate().any(|(i, word)| {
            // Acquire: pairs with the announcement's Release stores (see the module docs).
            word.0.load(Ordering::Acquire) == position.wrapping_add(1)
                && self.memory.is_claimed(role.claims() + i as u32) != Some(false)
        })
    }
}
