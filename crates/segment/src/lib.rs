//! Shared-memory segments for Linux with a real lifecycle: create, open, validate, own,
//! seal, and clean up after crashes.
//!
//! This is the lowest layer of [ipclane](https://github.com/ipclane/ipclane): it knows
//! nothing of queues or sockets, only how to make a region of memory that several
//! processes map, and how to make that safe when some of them are buggy, hostile or dead.
//!
//! # Guarantees
//!
//! - **Three backings behind one type.** Named POSIX shared memory
//!   (`/dev/shm/ipclane.<name>`, [`Segment::named`]), anonymous memfd
//!   ([`Segment::anonymous`], shared by `fork` or descriptor passing, freed by the kernel
//!   with its last descriptor, sealed against resizing), and a file at a path
//!   ([`Segment::at_path`], any tmpfs or hugetlbfs mount).
//! - **Atomic, exclusive creation.** A named segment is built, locked and sized before its
//!   name appears; an existing name is never reused, followed (symlinks) or written to.
//!   Permissions are exactly the requested mode (default `0600`), whatever the umask.
//! - **No `SIGBUS` from a full tmpfs.** The memory is reserved with `fallocate`, so a full
//!   `/dev/shm` (out of space or out of inodes) is [`SegmentError::NoSpace`] at creation,
//!   not a crash on first touch.
//! - **Untrusted contents.** Opening validates the file size, magic, layout version,
//!   checksum, sizes, kind and initialisation state of the header at offset 0
//!   (`docs/segment-layout.md`); a short, empty or garbage file is a typed error, never a
//!   panic or a fault, and only a header that a live creator is still building is waited
//!   for. Memory is only reached through [`Region`], which never hands out `&[u8]` over
//!   memory another process can write.
//! - **Untrusted names and descriptors.** Nothing but a regular file is ever opened for
//!   real: a name is looked at with `O_PATH | O_NOFOLLOW` and a received descriptor with
//!   `fstat` first, so a symbolic link, FIFO, socket, device or terminal is refused
//!   without being opened, and every open carries `O_NOCTTY`: no segment operation can
//!   give a daemon a controlling terminal.
//! - **Crashes are normal.** Every handle holds a lock the kernel releases when its process
//!   dies, so liveness ([`Segment::owner_alive`], [`Segment::attached`],
//!   [`Segment::claim`]) needs no PIDs and cannot be fooled by PID reuse; an opener waiting
//!   for a creator that died gets [`SegmentError::NotInitialized`] at once; [`list`] shows
//!   dead owners and [`gc`] removes their segments, never a live one.
//! - **Cleanup touches only what is ours.** [`gc`] and `exclusive(false)` remove a file
//!   only once it is proven to be a stale ipclane segment of the caller (a valid header,
//!   a dead owner, not persistent, owned by the effective user id); files that are not
//!   segments are never removed, and other users' segments only with
//!   [`GcOptions::all_users`].
//! - **Ownership.** The creating handle removes the name on drop unless told to persist;
//!   openers never do.
//!
//! # Threat model: what a peer can do
//!
//! A *peer* here is any process that can open the segment's file (for a named segment
//! with the default mode `0600`: any process of the same user) or that was given its
//! descriptor.
//!
//! | a peer can... | named or file-backed segment | anonymous (memfd) segment |
//! |---|---|---|
//! | write any bytes into it, header and user region | yes | yes |
//! | shrink (truncate) the file | **yes**: an access beyond the new end faults with `SIGBUS`, which kills the process | no: sealed with `F_SEAL_SHRINK`; `ftruncate` fails with `EPERM` |
//! | grow the file | yes: mapped handles are unaffected, new opens fail with `Corrupt` | no: sealed with `F_SEAL_GROW` (and `F_SEAL_SEAL`, so no seal can be removed) |
//! | remove or replace its name | yes (`unlink`): mapped handles keep working, new opens fail or find another file | no name to remove |
//! | hold its locks (owner, claims) | yes: it can look alive forever, or take a claim first | yes, with its descriptor |
//!
//! So:
//!
//! - **Nothing prevents a peer with write access from writing any bytes.** This crate
//!   validates its own header before use and never trusts it afterwards beyond the sizes
//!   it checked; the layers above (ipclane-queue) validate everything they read from the
//!   user region. Corrupt contents are errors there, never undefined behaviour.
//! - **A named segment cannot be protected against truncation.** Linux offers no seal
//!   for a file that has a name, so a same-user peer that truncates a named segment makes
//!   every handle that touches the lost pages die of `SIGBUS`; bounds checks cannot help,
//!   since the mapping itself shrank. Use a named segment only between processes that
//!   trust each other not to do that.
//! - **Where the peer is not trusted, use an anonymous segment** ([`Segment::anonymous`],
//!   passed by descriptor): its size is sealed, so no peer can make an access fault, and
//!   [`Segment::from_fd`] refuses an unsealed descriptor unless told otherwise
//!   ([`SegmentBuilder::require_seals`]).
//!
//! # Limits
//!
//! - `/proc` must be mounted: creation links the new file through `/proc/self/fd`, and
//!   opening, liveness queries and claims reopen the segment through it.
//! - A memfd lives on the kernel's internal tmpfs, which has no size limit: its memory is
//!   allocated on first touch (or at creation with [`SegmentBuilder::prefault`]), and
//!   asking for more than the machine has ends with the OOM killer, not an error.
//!
//! # Types
//!
//! | item | what it is |
//! |---|---|
//! | [`Segment`] | a mapped, validated segment handle |
//! | [`SegmentBuilder`] | consuming builder: `create`, `open`, `open_or_create` |
//! | [`Region`] | bounds- and alignment-checked view of shared memory |
//! | [`Kind`] | the caller's type tag and layout hash, checked on open |
//! | [`Claim`] | a liveness token at most one live handle holds |
//! | [`list`], [`gc`], [`GcOptions`] | find named segments; remove stale ones |
//! | [`SegmentError`] | every failure, naming the segment |
//!
//! # Example
//!
//! Two handles on one named segment (in real use, in two processes):
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use ipclane_segment::{Kind, Segment, SegmentError};
//!
//! const TICKS: Kind = Kind::from_names("example/ticks", "u64 counter at 0");
//! let name = format!("doc-crate-{}", std::process::id());
//!
//! let owner = Segment::named(&name).size(4096).kind(TICKS).create()?;
//! let peer = Segment::named(&name).kind(TICKS).open()?;
//! peer.region().atomic::<AtomicU64>(0)?.fetch_add(1, Ordering::Release);
//! assert_eq!(owner.region().atomic::<AtomicU64>(0)?.load(Ordering::Acquire), 1);
//! assert_eq!(owner.attached()?, 2);
//!
//! drop(owner); // the owner removes the name; `peer` keeps its mapping
//! assert!(matches!(Segment::named(&name).open(), Err(SegmentError::NotFound { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/exchange.rs` runs two real processes that exchange messages through a segment.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg(target_os = "linux")]

mod builder;
mod claim;
mod config;
mod create;
mod error;
mod gc;
mod header;
mod kind;
mod location;
mod locks;
mod mapping;
mod open;
mod region;
mod registry;
mod segment;
mod sys;

pub use builder::SegmentBuilder;
pub use claim::Claim;
pub use config::InitError;
pub use error::{AccessError, SegmentError};
pub use gc::{GcOptions, GcReport, gc};
pub use header::CreatorInfo;
pub use kind::Kind;
pub use location::{Backing, SHM_PREFIX};
pub use region::{Region, SharedAtomic};
pub use registry::{SegmentInfo, SegmentState, list};
pub use segment::Segment;

/// The README's examples, compiled (and run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
