//! A bounded multi-producer multi-consumer queue of fixed-size slots (Vyukov's design: a
//! sequence number per slot), which survives peers killed in the middle of an operation.
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
//!    896    128  abandoned: pushes (u64), pops (u64), repaired by survivors
//!   1024   8192  producer intents: 64 x 128 bytes, a u64 each (0 or position + 1)
//!   9216   8192  consumer intents: 64 x 128 bytes, a u64 each
//!  17408    ...  slots, each 16 + slot_size rounded up to 8 bytes:
//!                seq (u64), len (u64), payload (slot_size bytes)
//! ```
//!
//! # Protocol
//!
//! Slot `i` starts with `seq = i`. A producer at position `p` takes the slot when
//! `seq == p` (by advancing the enqueue position with a CAS), writes, then stores
//! `seq = p + 1`; a consumer at `p` takes it when `seq == p + 1`, reads, then stores
//! `seq = p + capacity`. A sequence behind the position means full (push) or empty (pop);
//! one ahead means another process took the position, which the latest position must then
//! show, or the memory is corrupted. Loops are bounded, whatever a hostile peer writes.
//!
//! # Peers that die inside an operation
//!
//! Between winning its CAS and storing the slot's sequence, a handle owns a slot nobody
//! else may touch; a process killed there would leave it owned forever (a hole consumers
//! never pass, or a slot producers never get back). So before each CAS a handle *announces*
//! the position in its intent word (Release), and clears the word once the slot is handed
//! on. A survivor that finds the queue stuck at a slot ([`repair`]) proves the owner dead
//! before touching the slot: the slot's position is announced by no handle whose segment
//! claim (an OFD lock the kernel drops only when the process is gone) is still held. A
//! stopped process still holds its locks, so it is never taken for dead; and time alone
//! never decides anything. Then:
//!
//! - a slot a dead producer took is marked skipped (`seq = (p + 1) | SKIPPED`): consumers
//!   pass it like a record, without returning it. Nothing committed is lost (the push
//!   never returned), and the count is kept in [`Abandoned::pushes`];
//! - a slot a dead consumer took is handed back to the producers; its record is gone with
//!   the consumer, and the count is kept in [`Abandoned::pops`].
//!
//! Only memory with liveness (a [`Segment`]) tracks intents: between threads of one
//! process a handle cannot die alone, and [`HeapMemory`] handles skip the announcements.

mod consumer;
mod handle;
mod producer;
mod queue;
mod repair;

pub use consumer::MpmcConsumer;
pub use producer::MpmcProducer;
pub use queue::{Abandoned, MpmcQueue};
use queue::{
    Control, MAX_RETRIES, MAX_SIDES, Role, SKIPPED, SLOT_HEADER, SLOTS_OFFSET, SlotHeader, stride,
};
