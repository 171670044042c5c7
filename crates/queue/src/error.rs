//! Errors of queue operations.

/// An error from a queue operation. `Full` and `Empty` are ordinary outcomes of the
/// non-blocking calls, not failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No room for the record now (non-blocking push).
    #[error("the queue is full")]
    Full,
    /// No record now (non-blocking pop).
    #[error("the queue is empty")]
    Empty,
    /// The record can never fit.
    #[error("record of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length of the record.
        len: usize,
        /// Largest record this queue takes.
        max: usize,
    },
    /// The other side closed its end or died, and nothing is left to receive.
    #[error("the peer disconnected")]
    Disconnected,
    /// A broadcast reader fell so far behind that the writer overwrote records it had not
    /// read; it continues from the oldest record still present.
    #[error("lagged behind the writer: {missed} records were overwritten before being read")]
    Lagged {
        /// Records lost to this reader.
        missed: u64,
    },
    /// A blocking call's deadline passed.
    #[error("timed out")]
    Timeout,
    /// The side (producer, consumer, writer) is held by another live handle.
    #[error("the {side} side is already claimed by a live handle")]
    AlreadyClaimed {
        /// `"producer"`, `"consumer"` or `"writer"`.
        side: &'static str,
    },
    /// The shared memory holds values no correct peer writes: the peer is buggy or
    /// hostile, or the memory is not this structure. The handle should be dropped.
    #[error("shared memory is corrupted: {what}")]
    Corrupted {
        /// What failed validation.
        what: String,
    },
    /// The memory is too small, misaligned, or of another structure or layout version.
    #[error("invalid layout: {what}")]
    Layout {
        /// What is wrong.
        what: String,
    },
    /// An error of the segment below.
    #[error(transparent)]
    Segment(#[from] ipclane_segment::SegmentError),
}

impl QueueError {
    pub(crate) fn corrupted(what: impl Into<String>) -> Self {
        Self::Corrupted { what: what.into() }
    }

    pub(crate) fn layout(what: impl Into<String>) -> Self {
        Self::Layout { what: what.into() }
    }
}
