//! Pieces shared by every layout: the metadata block, cache padding, side states.
//!
//! Every structure starts with a 128-byte [`Meta`] block naming the structure and its
//! layout version and sizes; attaching reads each field once and validates it. Layouts
//! are documented byte by byte in `docs/queue-layout.md`.

use crate::QueueError;
use crate::memory::Memory;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// `"IPCLQUE\0"` as the bytes of a native-endian u64.
pub(crate) const MAGIC: u64 = u64::from_ne_bytes(*b"IPCLQUE\0");
/// Layout version of every structure in this crate.
pub(crate) const VERSION: u32 = 2;

/// Which structure a memory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Structure {
    Spsc = 1,
    Mpmc = 2,
    Broadcast = 3,
    LastValues = 4,
}

/// Aligns its content to 128 bytes (two cache lines, against adjacent-line prefetch), so
/// that values written by different sides never share a line.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

/// The first 128 bytes of every structure.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct Meta {
    magic: AtomicU64,
    version: AtomicU32,
    structure: AtomicU32,
    /// SPSC: ring bytes; MPMC and broadcast: number of slots.
    capacity: AtomicU64,
    /// MPMC and broadcast: payload bytes per slot; SPSC: 0.
    slot_size: AtomicU64,
}

#[cfg(not(ipclane_loom))]
const _: () = assert!(size_of::<Meta>() == 128 && align_of::<Meta>() == 128);

impl Meta {
    pub(crate) fn new(structure: Structure, capacity: u64, slot_size: u64) -> Self {
        Self {
            magic: AtomicU64::new(MAGIC),
            version: AtomicU32::new(VERSION),
            structure: AtomicU32::new(structure as u32),
            capacity: AtomicU64::new(capacity),
            slot_size: AtomicU64::new(slot_size),
        }
    }

    /// Reads and checks the block once; returns `(capacity, slot_size)` for the caller
    /// to validate further.
    pub(crate) fn read(&self, structure: Structure) -> Result<(u64, u64), QueueError> {
        // Relaxed: the creator wrote these before publishing the memory (a segment's
        // Release/Acquire initialisation flag, or the thread that built a HeapMemory).
        let magic = self.magic.load(Ordering::Relaxed);
        if magic != MAGIC {
            return Err(QueueError::layout(format!(
                "magic {magic:#018x}: not an ipclane queue"
            )));
        }
        let version = self.version.load(Ordering::Relaxed);
        if version != VERSION {
            return Err(QueueError::layout(format!(
                "layout version {version}, expected {VERSION}"
            )));
        }
        let found = self.structure.load(Ordering::Relaxed);
        if found != structure as u32 {
            return Err(QueueError::layout(format!(
                "structure {found} found where {structure:?} ({}) was expected",
                structure as u32
            )));
        }
        Ok((
            self.capacity.load(Ordering::Relaxed),
            self.slot_size.load(Ordering::Relaxed),
        ))
    }
}

/// Positions and sequence numbers read from shared memory must stay below this: a correct
/// peer needs centuries to get there, and everything computed from them (`2n + 2`,
/// `position + capacity`) then fits in a u64.
pub(crate) const MAX_POSITION: u64 = 1 << 62;

/// Side state: never attached.
pub(crate) const SIDE_FREE: u32 = 0;
/// Side state: attached by a handle (which may have died since: ask its claim).
pub(crate) const SIDE_ATTACHED: u32 = 1;
/// Side state: its handle detached (dropped).
pub(crate) const SIDE_CLOSED: u32 = 2;

/// The state of a [`Side`], once read and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideState {
    /// Never attached: its holder may still come.
    Free,
    /// Attached by a handle, which may have died since (ask its claim).
    Attached,
    /// Its handle detached.
    Closed,
}

/// Which side a [`Side`] word belongs to: its liveness claim and its name in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SideId {
    /// Index of the side's liveness claim in the memory.
    pub(crate) claim: u32,
    /// `"producer"`, `"consumer"` or `"writer"`.
    pub(crate) name: &'static str,
}

/// One side of a structure (producer, consumer, writer): who holds it.
///
/// The word is shared memory that any peer may write: every read goes through
/// [`state`](Self::state), which turns a value no correct peer writes into
/// [`QueueError::Corrupted`], so no caller can mistake it for a live peer and wait forever.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Side {
    state: AtomicU32,
}

impl Side {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU32::new(SIDE_FREE),
        }
    }

    /// Validates a raw state word of side `id`.
    #[inline]
    fn decode(raw: u32, id: SideId) -> Result<SideState, QueueError> {
        match raw {
            SIDE_FREE => Ok(SideState::Free),
            SIDE_ATTACHED => Ok(SideState::Attached),
            SIDE_CLOSED => Ok(SideState::Closed),
            other => Err(Self::unknown(other, id)),
        }
    }

    /// The error for an unknown state (out of line: `state` is on the producer's push path).
    #[cold]
    #[inline(never)]
    fn unknown(raw: u32, id: SideId) -> QueueError {
        QueueError::corrupted(format!(
            "{} side state {raw} ({raw:#x}) is none of free ({SIDE_FREE}), attached \
             ({SIDE_ATTACHED}) or closed ({SIDE_CLOSED})",
            id.name
        ))
    }

    /// The side's state (one load). Acquire: pairs with the holder's Release on detach,
    /// so a peer that sees `Closed` sees everything the holder did before.
    ///
    /// # Errors
    ///
    /// [`QueueError::Corrupted`] for a value no correct peer writes, naming the side and
    /// the value.
    #[inline]
    pub(crate) fn state(&self, id: SideId) -> Result<SideState, QueueError> {
        Self::decode(self.state.load(Ordering::Acquire), id)
    }

    /// Claims the side for this process: the memory's liveness claim first (it proves
    /// any previous holder dead), then the state word.
    pub(crate) fn attach<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
    ) -> Result<Option<ipclane_segment::Claim>, QueueError> {
        let claim = memory.claim(id.claim, id.name)?;
        crate::wait::prepare();
        loop {
            let raw = self.state.load(Ordering::Acquire);
            match Self::decode(raw, id)? {
                SideState::Free | SideState::Closed => {}
                // Marked attached, yet we hold the liveness claim: the holder died.
                SideState::Attached if claim.is_some() => {}
                SideState::Attached => return Err(QueueError::AlreadyClaimed { side: id.name }),
            }
            // AcqRel: pairs with the previous holder's Release on detach.
            if self
                .state
                .compare_exchange(raw, SIDE_ATTACHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(claim);
            }
        }
    }

    /// Marks the side detached (on drop). Release: everything this side did before is
    /// visible to a peer that sees the state.
    pub(crate) fn detach(&self) {
        self.state.store(SIDE_CLOSED, Ordering::Release);
    }

    /// Whether the side's holder closed it (cheap: one load).
    ///
    /// # Errors
    ///
    /// Those of [`state`](Self::state).
    #[inline]
    pub(crate) fn is_closed(&self, id: SideId) -> Result<bool, QueueError> {
        Ok(self.state(id)? == SideState::Closed)
    }

    /// What the side's holder is: free, alive, dead or closed (a system call for a
    /// segment).
    ///
    /// # Errors
    ///
    /// Those of [`state`](Self::state).
    pub(crate) fn status<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
    ) -> Result<crate::SideStatus, QueueError> {
        use crate::SideStatus;
        Ok(match self.state(id)? {
            SideState::Free => SideStatus::Free,
            SideState::Closed => SideStatus::Closed,
            SideState::Attached => match memory.is_claimed(id.claim) {
                Some(false) => SideStatus::Dead,
                Some(true) | None => SideStatus::Alive,
            },
        })
    }

    /// Whether the side's holder is gone: closed, or attached by a process that died
    /// (a system call: only on slow paths). A side never attached is not gone: its
    /// holder may still come.
    ///
    /// # Errors
    ///
    /// Those of [`state`](Self::state).
    pub(crate) fn is_gone<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
    ) -> Result<bool, QueueError> {
        self.gone(memory, id, false)
    }

    /// [`is_gone`](Self::is_gone) for a side whose holder is known to have attached (the
    /// peers' handshake said so): free, a state no attached handle goes back to, is then
    /// [`QueueError::Corrupted`] rather than a holder yet to come.
    ///
    /// # Errors
    ///
    /// Those of [`state`](Self::state), and `Corrupted` for a free side.
    pub(crate) fn is_gone_once_attached<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
    ) -> Result<bool, QueueError> {
        self.gone(memory, id, true)
    }

    /// [`is_gone`](Self::is_gone) for a holder that remembers in `seen_attached` whether
    /// it ever saw the side attached: from then on, free is `Corrupted`, as for
    /// [`is_gone_once_attached`](Self::is_gone_once_attached). For a reader that meets
    /// its writer without a handshake (a broadcast ring's).
    ///
    /// # Errors
    ///
    /// Those of [`state`](Self::state), and `Corrupted` for a side free after it was seen
    /// attached.
    pub(crate) fn is_gone_watching<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
        seen_attached: &mut bool,
    ) -> Result<bool, QueueError> {
        let state = self.state(id)?;
        *seen_attached |= state == SideState::Attached;
        self.judge(memory, id, state, *seen_attached)
    }

    fn gone<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
        attached: bool,
    ) -> Result<bool, QueueError> {
        self.judge(memory, id, self.state(id)?, attached)
    }

    /// Whether a side in `state` is gone, its holder known to have `attached` or not.
    fn judge<M: Memory + ?Sized>(
        &self,
        memory: &M,
        id: SideId,
        state: SideState,
        attached: bool,
    ) -> Result<bool, QueueError> {
        Ok(match state {
            SideState::Closed => true,
            SideState::Attached => memory.is_claimed(id.claim) == Some(false),
            // A holder that attached and then wrote "free" lies: were it taken for one yet
            // to come, a hostile peer that marks its side free and dies would leave the
            // other side's blocking calls waiting for ever, since "free" is never "gone"
            // (issue 13, pinned by crates/ipclane/tests/hostile_rings.rs).
            SideState::Free if attached => {
                return Err(QueueError::corrupted(format!(
                    "{} side state {SIDE_FREE} (free) after its holder attached",
                    id.name
                )));
            }
            SideState::Free => false,
        })
    }
}

#[cfg(all(test, not(ipclane_loom)))]
mod tests {
    use super::*;
    use crate::HeapMemory;

    const SIDE: SideId = SideId {
        claim: 0,
        name: "producer",
    };

    #[test]
    fn every_state_but_the_three_defined_is_corrupted() {
        let memory = HeapMemory::new(128);
        let side = Side::new();
        for (raw, state) in [
            (SIDE_FREE, SideState::Free),
            (SIDE_ATTACHED, SideState::Attached),
            (SIDE_CLOSED, SideState::Closed),
        ] {
            side.state.store(raw, Ordering::Relaxed);
            assert_eq!(side.state(SIDE).unwrap(), state);
        }
        for raw in [3, 7, 0x8000_0000, u32::MAX] {
            side.state.store(raw, Ordering::Relaxed);
            for result in [
                side.state(SIDE).map(drop),
                side.is_closed(SIDE).map(drop),
                side.is_gone(&memory, SIDE).map(drop),
                side.attach(&memory, SIDE).map(drop),
            ] {
                match result {
                    Err(QueueError::Corrupted { reason }) => {
                        assert!(reason.contains("producer") && reason.contains(&raw.to_string()))
                    }
                    other => panic!("state {raw}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_free_side_is_corrupted_once_its_holder_attached() {
        let memory = HeapMemory::new(128);
        let side = Side::new();
        assert!(
            !side.is_gone(&memory, SIDE).unwrap(),
            "free: its holder may come"
        );
        match side.is_gone_once_attached(&memory, SIDE) {
            Err(QueueError::Corrupted { reason }) => assert!(reason.contains("free"), "{reason}"),
            other => panic!("{other:?}"),
        }
        side.detach();
        assert!(side.is_gone_once_attached(&memory, SIDE).unwrap(), "closed");
    }
}

/// Bytes a slotted structure needs: `capacity` slots of `stride` bytes (`None`: too large)
/// after a control block of `offset` bytes; `usize::MAX` when that overflows, which no
/// memory holds.
pub(crate) fn slotted_len(offset: usize, stride: Option<usize>, capacity: usize) -> usize {
    stride
        .and_then(|s| s.checked_mul(capacity))
        .and_then(|s| s.checked_add(offset))
        .unwrap_or(usize::MAX)
}

/// Checks the parameters of a slotted structure (MPMC, broadcast): `capacity` a power of
/// two of at least 2 slots, of at least one byte each.
pub(crate) fn check_slots(capacity: usize, slot_size: usize) -> Result<(), QueueError> {
    if !capacity.is_power_of_two() || capacity < 2 || slot_size == 0 {
        return Err(QueueError::layout(format!(
            "capacity {capacity} must be a power of two >= 2 and slot size {slot_size} at least 1"
        )));
    }
    Ok(())
}
