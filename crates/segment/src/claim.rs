//! Liveness claims on a segment.

use std::os::fd::OwnedFd;

/// A liveness claim on a segment, from [`Segment::claim`](crate::Segment::claim).
///
/// At most one live claim per index exists on a segment across all processes. Dropping
/// it, or the death of the process holding it (even by `SIGKILL`), releases it: the
/// kernel drops the lock with the claim's own open file description.
#[derive(Debug)]
pub struct Claim {
    /// An open file description of its own, holding the claim's lock; closing it on drop
    /// releases the claim.
    _fd: OwnedFd,
    index: u32,
}

impl Claim {
    pub(crate) fn new(fd: OwnedFd, index: u32) -> Self {
        Self { _fd: fd, index }
    }

    /// The claim's index.
    pub fn index(&self) -> u32 {
        self.index
    }
}
