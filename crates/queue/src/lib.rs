//! Lock-free queues that live in shared memory: an SPSC byte ring, a bounded MPMC queue
//! and a broadcast ring, with futex wake-up.
//!
//! This is the data plane of [ipclane](https://github.com/ipclane/ipclane). It knows nothing
//! of sockets; its structures live in any [`Memory`]: an [`ipclane_segment::Segment`]
//! shared between processes, or [`HeapMemory`] for threads (and loom models).
//!
//! # Guarantees
//!
//! - **Lock-free data paths.** Pushing and popping never take a lock and never make a
//!   system call while the other side keeps up; blocking calls spin (adaptively), then
//!   sleep on a shared futex word ([`WaitStrategy`]).
//! - **Hostile peers cannot hurt you.** Every position, length and sequence number read
//!   from shared memory is read once, validated (bounds, alignment, monotonicity,
//!   capacity), then used: corruption is [`QueueError::Corrupted`], never undefined
//!   behaviour, an out-of-bounds access, a panic or an endless loop.
//! - **Crashes are normal.** Each side holds a segment claim the kernel releases when its
//!   process dies, so blocking calls return [`QueueError::Disconnected`] in bounded time
//!   when the peer closed *or died*, and a dead side's role can be taken over.
//! - **Single producer, single consumer, by type.** Handles are `Send`, not `Sync`; a second
//!   live producer or consumer is [`QueueError::AlreadyClaimed`].
//!
//! # Types
//!
//! | item | what it is |
//! |---|---|
//! | [`SpscRing`], [`Producer`], [`Consumer`] | variable-length byte records, zero-copy [`WriteGuard`]/[`ReadGuard`] |
//! | [`MpmcQueue`] | bounded queue of fixed-size slots for many producer and consumer processes |
//! | [`Broadcast`], [`BroadcastWriter`], [`BroadcastReader`] | one writer, any number of readers, lapped readers resync |
//! | [`Memory`], [`HeapMemory`] | where a structure lives |
//! | [`WaitStrategy`] | spin-then-park settings |
//! | [`QueueError`] | every outcome that is not a value |
//!
//! Layouts: `docs/queue-layout.md`.
//!
//! # Example
//!
//! Two threads here; two processes with [`SpscRing::create_named`] and
//! `Producer::attach(Arc::new(segment))` in each.
//!
//! ```
//! use ipclane_queue::{QueueError, SpscRing};
//!
//! let (mut tx, mut rx) = SpscRing::heap(1 << 16)?;
//! let producer = std::thread::spawn(move || -> Result<(), QueueError> {
//!     for i in 0..1000u32 {
//!         tx.push_blocking(&i.to_le_bytes())?;
//!     }
//!     Ok(()) // dropping tx closes the ring
//! });
//! let mut expected = 0u32;
//! loop {
//!     match rx.pop_blocking() {
//!         Ok(record) => {
//!             assert_eq!(record, expected.to_le_bytes());
//!             expected += 1;
//!         }
//!         Err(QueueError::Disconnected) => break,
//!         Err(e) => return Err(e),
//!     }
//! }
//! assert_eq!(expected, 1000);
//! producer.join().unwrap()?;
//! # Ok::<(), QueueError>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod broadcast;
mod error;
mod fences;
mod futex;
mod layout;
mod memory;
mod mpmc;
mod notifier;
mod spsc;
mod sync;

pub use broadcast::{Broadcast, BroadcastReader, BroadcastWriter};
pub use error::QueueError;
pub use memory::{ALIGN, HeapMemory, Memory};
pub use mpmc::{Abandoned, MpmcConsumer, MpmcProducer, MpmcQueue};
pub use notifier::WaitStrategy;
pub use spsc::{Consumer, Producer, ReadGuard, SpscRing, WriteGuard};
