//! The raw baselines: the least a shared-memory transport can do, written plainly on a
//! segment's region, to put each ipclane row beside the machine's own limit. They do the
//! same work per message as ipclane (the drivers of [`endpoint`](crate::endpoint) stamp
//! and check every byte) and nothing else: no validation, no liveness, no wake-up unless
//! the row is about wake-ups.
//!
//! Each lives in a named segment of its own, which the measuring process creates and its
//! peer opens.

mod futex_mailbox;
mod header_ring;
mod mailbox;
mod mpmc;
mod ring;
mod seqlock;

pub use futex_mailbox::FutexMailbox;
pub use header_ring::HeaderRing;
pub use mailbox::Mailbox;
pub use mpmc::RawMpmc;
pub use ring::RawRing;
pub use seqlock::RawSeqlock;

use ipclane::segment::Segment;

/// Creates the baseline's segment `name` of `len` bytes.
pub(crate) fn create(name: &str, len: usize) -> Segment {
    Segment::named(name)
        .size(len)
        .create()
        .unwrap_or_else(|e| panic!("create raw baseline segment {name}: {e}"))
}

/// Opens the baseline's segment `name`.
pub(crate) fn open(name: &str) -> Segment {
    Segment::named(name)
        .open()
        .unwrap_or_else(|e| panic!("open raw baseline segment {name}: {e}"))
}

/// The atomic word at `offset` of a baseline's segment.
pub(crate) fn word<A: ipclane::segment::SharedAtomic>(segment: &Segment, offset: usize) -> &A {
    segment
        .region()
        .atomic::<A>(offset)
        .expect("a word inside the baseline's segment")
}
