//! What a structure's shared memory says about it, read without attaching: for tools
//! (`ipclane inspect`) and monitoring. Every value is read once and validated, as an
//! attaching handle would; the figures are a snapshot, already old when returned.

use crate::Abandoned;

/// Who holds one side of a structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SideStatus {
    /// Never attached: its holder may still come.
    Free,
    /// Attached by a live handle (or, on heap memory, by a handle not yet dropped).
    Alive,
    /// Attached by a process that died: the next handle of that side takes it over.
    Dead,
    /// Its handle detached.
    Closed,
}

/// An SPSC ring's state, from [`SpscRing::status`](crate::SpscRing::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpscStatus {
    /// Ring size in bytes.
    pub capacity: u64,
    /// Bytes the consumer has released so far (its position).
    pub consumer_position: u64,
    /// Bytes the producer has published, as its hint says: up to 2 KiB behind.
    pub producer_position_hint: u64,
    /// The producer's side.
    pub producer: SideStatus,
    /// The consumer's side.
    pub consumer: SideStatus,
}

impl SpscStatus {
    /// Bytes waiting for the consumer, as far as the producer's hint tells (at most the
    /// capacity).
    pub fn queued_bytes(&self) -> u64 {
        self.producer_position_hint
            .saturating_sub(self.consumer_position)
            .min(self.capacity)
    }
}

/// An MPMC queue's state, from [`MpmcQueue::status`](crate::MpmcQueue::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MpmcStatus {
    /// Slots.
    pub capacity: u64,
    /// Bytes per slot.
    pub slot_size: u64,
    /// Records taken by producers so far (the enqueue position).
    pub enqueued: u64,
    /// Records taken by consumers so far (the dequeue position).
    pub dequeued: u64,
    /// Producers attached and not dropped (dead ones count until a survivor notices).
    pub producers: u32,
    /// Consumers attached and not dropped.
    pub consumers: u32,
    /// What survivors repaired for peers that died mid-operation.
    pub abandoned: Abandoned,
}

impl MpmcStatus {
    /// Records in the queue (at most the capacity).
    pub fn queued(&self) -> u64 {
        self.enqueued
            .saturating_sub(self.dequeued)
            .min(self.capacity)
    }
}

/// A broadcast ring's state, from [`Broadcast::status`](crate::Broadcast::status). Readers
/// only read the shared memory, so the ring does not know them: how many there are is the
/// segment's count of attached handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastStatus {
    /// Slots: a reader further behind than this is lapped.
    pub capacity: u64,
    /// Bytes per slot.
    pub slot_size: u64,
    /// Records written so far.
    pub published: u64,
    /// The writer's side.
    pub writer: SideStatus,
}
