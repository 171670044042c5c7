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
    /// A record is longer than the buffer it was to be read into; it stays queued, whole,
    /// for a larger buffer.
    #[error("record of {len} bytes does not fit the {capacity}-byte buffer (it stays queued)")]
    BufferTooSmall {
        /// Length of the record.
        len: usize,
        /// Size of the buffer.
        capacity: usize,
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
    /// A key outside a [`LastValues`](crate::LastValues) table.
    #[error("key {key} is out of range for a table of {keys} keys")]
    KeyOutOfRange {
        /// The key asked for.
        key: usize,
        /// Keys in the table (valid keys are `0..keys`).
        keys: usize,
    },
    /// A key's value was being written during every attempt to copy it out of a
    /// [`LastValues`](crate::LastValues) table (about a millisecond): a writer preempted
    /// in the middle of setting it, or setting that one key in a tight loop (try again),
    /// or one that died, or a hostile one, leaving it half-written (until it is set
    /// again).
    #[error("the value of key {key} was being written during every attempt to read it")]
    Busy {
        /// The key.
        key: usize,
    },
    /// The side (producer, consumer, writer) is held by another live handle.
    #[error("the {side} side is already claimed by a live handle")]
    AlreadyClaimed {
        /// `"producer"`, `"consumer"` or `"writer"`.
        side: &'static str,
    },
    /// The shared memory holds values no correct peer writes: the peer is buggy or
    /// hostile, or the memory is not this structure. The handle should be dropped.
    #[error("shared memory is corrupted: {reason}")]
    Corrupted {
        /// What failed validation.
        reason: String,
    },
    /// The memory is too small, misaligned, or of another structure or layout version.
    #[error("invalid layout: {reason}")]
    Layout {
        /// What is wrong.
        reason: String,
    },
    /// An error of the segment below.
    #[error(transparent)]
    Segment(#[from] ipclane_segment::SegmentError),
}

impl QueueError {
    /// The [`io::ErrorKind`](std::io::ErrorKind) that best describes this error.
    pub fn io_kind(&self) -> std::io::ErrorKind {
        use std::io::ErrorKind;
        match self {
            Self::Full | Self::Empty => ErrorKind::WouldBlock,
            Self::TooLarge { .. } | Self::BufferTooSmall { .. } | Self::KeyOutOfRange { .. } => {
                ErrorKind::InvalidInput
            }
            Self::Busy { .. } => ErrorKind::ResourceBusy,
            Self::Disconnected => ErrorKind::BrokenPipe,
            Self::Lagged { .. } | Self::Corrupted { .. } | Self::Layout { .. } => {
                ErrorKind::InvalidData
            }
            Self::Timeout => ErrorKind::TimedOut,
            Self::AlreadyClaimed { .. } => ErrorKind::AddrInUse,
            Self::Segment(e) => e.io_kind(),
        }
    }

    pub(crate) fn corrupted(reason: impl Into<String>) -> Self {
        Self::Corrupted {
            reason: reason.into(),
        }
    }

    pub(crate) fn layout(reason: impl Into<String>) -> Self {
        Self::Layout {
            reason: reason.into(),
        }
    }
}

impl From<QueueError> for std::io::Error {
    fn from(err: QueueError) -> Self {
        std::io::Error::new(err.io_kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;

    #[test]
    fn every_error_has_an_io_kind_and_becomes_an_io_error() {
        for (err, kind) in [
            (QueueError::Full, ErrorKind::WouldBlock),
            (QueueError::Timeout, ErrorKind::TimedOut),
            (QueueError::Disconnected, ErrorKind::BrokenPipe),
            (
                QueueError::BufferTooSmall {
                    len: 9,
                    capacity: 8,
                },
                ErrorKind::InvalidInput,
            ),
            (QueueError::corrupted("a header"), ErrorKind::InvalidData),
            (
                QueueError::AlreadyClaimed { side: "producer" },
                ErrorKind::AddrInUse,
            ),
            (
                QueueError::KeyOutOfRange { key: 9, keys: 8 },
                ErrorKind::InvalidInput,
            ),
            (QueueError::Busy { key: 3 }, ErrorKind::ResourceBusy),
        ] {
            assert_eq!(err.io_kind(), kind, "{err}");
            let text = err.to_string();
            let io: std::io::Error = err.into();
            assert_eq!((io.kind(), io.to_string()), (kind, text));
        }
    }
}
