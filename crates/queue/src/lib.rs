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
//! - **Shared memory is validated.** Every position, length, sequence number and side
//!   state read from shared memory is read once, validated (bounds, alignment,
//!   monotonicity, capacity, known states), then used: a value no correct peer writes is
//!   [`QueueError::Corrupted`], never undefined behaviour, an access outside the
//!   structure, a panic or an endless loop, and blocking calls report it within the wait
//!   strategy's liveness period. What validation cannot prevent is in the
//!   [threat model](#threat-model).
//! - **Crashes are normal.** Each side holds a segment claim the kernel releases when its
//!   process dies, so blocking calls return [`QueueError::Disconnected`] in bounded time
//!   when the peer closed *or died*, and a dead side's role can be taken over.
//! - **Single producer, single consumer, by type.** Handles are `Send`, not `Sync`; a second
//!   live producer or consumer is [`QueueError::AlreadyClaimed`].
//! - **A handle belongs to the process that attached it.** A copy made by `fork` shares
//!   the original's segment claims, so the two processes would act as one side: after
//!   `fork`, share the memory (the `Segment`) and attach new handles in the child.
//!
//! # Types
//!
//! | item | what it is |
//! |---|---|
//! | [`SpscRing`], [`Producer`], [`Consumer`] | variable-length byte records, zero-copy [`WriteGuard`]/[`ReadGuard`] |
//! | [`MpmcQueue`], [`MpmcProducer`], [`MpmcConsumer`] | bounded queue of fixed-size slots for many producer and consumer processes; survives peers killed mid-operation ([`Abandoned`]) |
//! | [`Broadcast`], [`BroadcastWriter`], [`BroadcastReader`], [`Resume`] | one writer, any number of readers, lapped readers resync at the oldest record or the newest |
//! | [`LastValues`], [`LastValueWriter`], [`LastValueReader`] | the latest value of each key (a seqlock per key), one writer, any number of readers |
//! | [`Memory`], [`HeapMemory`] | where a structure lives |
//! | [`WaitStrategy`], [`WaitStats`] | spin-then-park settings, and what waiting cost |
//! | [`QueueError`] | every outcome that is not a value |
//!
//! Every structure is made and opened the same way: `heap(..)` returns one handle of each
//! role for the threads of one process; between processes, `create_named` /
//! `create_memfd` (and `open_named` / `open_fd` in the peers) give the memory, to which
//! each process attaches its roles with `Role::attach(Arc::new(memory))`. Every handle
//! has `try_*` calls that never block, `*_blocking` and `*_timeout` calls on top,
//! `wait_stats()`, and `set_wait_strategy` where it can wait.
//!
//! Layouts: `docs/queue-layout.md`.
//!
//! # Threat model
//!
//! A peer is any process that can open a structure's segment: for a named segment, any
//! process its file mode lets in (the same user, with the default `0o600`); for a memfd
//! segment, the processes its descriptor was handed to.
//!
//! - **A peer with write access can write any bytes**, at any time. The queue validates
//!   what it reads, so garbage is [`QueueError::Corrupted`], never undefined behaviour.
//!   Validation cannot make a peer honest, though: it can send well-formed records with
//!   false contents, fill the ring and never read, or mark its side closed; and a
//!   blocking call without a deadline waits as long as a live peer holds its side.
//! - **A named segment can be truncated or unlinked** ([`SpscRing::create_named`],
//!   [`MpmcQueue::create_named`], [`Broadcast::create_named`]: the file
//!   `/dev/shm/ipclane.<name>`). Truncated, the pages past its new end leave every
//!   mapping, and the next access to them by *any* process mapping it faults with
//!   `SIGBUS`, which kills that process (punching a hole into it while its tmpfs is full
//!   does the same). The structures validate every
//!   value they read, but cannot stop the kernel from removing the pages, and these
//!   accesses are inside the structure. Unlinked, it can no longer be opened by name;
//!   attached handles keep working. Use named segments between processes that trust each
//!   other not to do this, such as the processes of one application.
//! - **A sealed memfd segment cannot change size** ([`SpscRing::create_memfd`],
//!   [`MpmcQueue::create_memfd`], [`Broadcast::create_memfd`]). It is sealed against
//!   shrinking and growing before the structure is written, and the seals cannot be
//!   removed: `ftruncate` fails with `EPERM` for every process, so no peer can make you
//!   fault, and it has no name to unlink. It is the hybrid transport's path: pass its
//!   descriptor over a Unix socket with `SCM_RIGHTS` (or through `fork`); the receiver
//!   opens it with `Segment::from_fd(fd).kind(..).open()`, which refuses a descriptor that
//!   is not sealed, and attaches as usual. Its peers can still write any bytes (first
//!   point).
//!
//! # Example
//!
//! Two threads here; two processes with [`SpscRing::create_memfd`] (the segment's
//! descriptor passed to the other process) or [`SpscRing::create_named`], and
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
//!             assert_eq!(record, &expected.to_le_bytes()[..]);
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
//!
//! # Async waiting
//!
//! A side that lives in an async runtime cannot sleep on the futex. It arms its wait in
//! the async form instead ([`Consumer::arm_async`], [`Producer::arm_async`]), looks once
//! more, and awaits a [`Doorbell`] that the other side's notifications ring
//! ([`Producer::set_doorbell`], [`Consumer::set_doorbell`]): once per arming, and only
//! while it is armed, so a stream the waiter keeps up with still costs no system call per
//! record. `ipclane::tokio` rings a datagram socket registered with tokio.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use ipclane_queue::{Doorbell, QueueError, SpscRing};
//!
//! #[derive(Debug, Default)]
//! struct Flag(AtomicBool);
//!
//! impl Doorbell for Flag {
//!     fn ring(&self) {
//!         self.0.store(true, Ordering::Release); // a real one wakes a task
//!     }
//! }
//!
//! let (mut tx, mut rx) = SpscRing::heap(4096)?;
//! let bell = Arc::new(Flag::default());
//! tx.set_doorbell(bell.clone());
//! rx.arm_async();
//! // Armed, then one more look: still nothing, so the task would await the bell.
//! assert!(matches!(rx.try_pop(), Err(QueueError::Empty)));
//! tx.try_push(b"tick")?;
//! assert!(bell.0.load(Ordering::Acquire), "the push rang");
//! rx.disarm_async();
//! assert_eq!(rx.try_pop()?, &b"tick"[..]);
//! tx.try_push(b"tock")?; // disarmed: no ring, no system call
//! # Ok::<(), QueueError>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod broadcast;
mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(not(feature = "fault-injection"))]
mod fault;
mod keyed;
mod layout;
mod memory;
#[cfg(ipclane_loom)]
mod model;
mod mpmc;
mod sink;
mod spsc;
mod status;
mod sync;
mod wait;
mod words;

pub use broadcast::{Broadcast, BroadcastReader, BroadcastWriter, Resume};
pub use error::QueueError;
/// The segment the structures live in between processes, and its error, re-exported so
/// that opening one needs no direct dependency on ipclane-segment.
pub use ipclane_segment::{Segment, SegmentError};
pub use keyed::{LastValueReader, LastValueWriter, LastValues};
pub use memory::{ALIGN, HeapMemory, Memory};
pub use mpmc::{Abandoned, MpmcConsumer, MpmcProducer, MpmcQueue};
pub use spsc::{Consumer, Producer, ReadGuard, SpscRing, WriteGuard};
pub use status::{BroadcastStatus, MpmcStatus, SideStatus, SpscStatus};
pub use wait::{Doorbell, WaitStats, WaitStrategy};

/// The README's examples, compiled (and run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
