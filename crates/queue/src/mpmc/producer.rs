//! The producing side of an [`MpmcQueue`](super::MpmcQueue).

use std::sync::Arc;
use std::time::Duration;

use super::Role;
use super::handle::Handle;
use crate::QueueError;
use crate::memory::Memory;
use crate::wait;

/// A producer of an [`MpmcQueue`](super::MpmcQueue): any number, in any processes, up to
/// 64 live per segment. `Send`, not `Sync`; [`try_clone`](Self::try_clone) makes another.
#[derive(Debug)]
#[must_use = "dropping the last MpmcProducer disconnects the consumers once they drained the queue"]
pub struct MpmcProducer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcProducer<M> {
    /// Attaches a producer to the queue in `memory`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`], [`QueueError::Corrupted`], [`QueueError::AlreadyClaimed`]
    /// when 64 live producers already exist on a segment.
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        Ok(Self(Handle::attach(memory, Role::Producer)?))
    }

    /// Another producer on the same queue, waiting the same way (its counters start at
    /// zero).
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when 64 live producers already exist on a segment.
    pub fn try_clone(&self) -> Result<Self, QueueError> {
        Ok(Self(self.0.try_clone()?))
    }

    /// Copies `record` into a free slot.
    ///
    /// A slot held by a consumer that died before handing it back is handed back first,
    /// once the consumer is proven dead (see [`abandoned`](Self::abandoned)).
    ///
    /// # Errors
    ///
    /// [`QueueError::Full`], [`QueueError::TooLarge`] (over the slot size),
    /// [`QueueError::Disconnected`] (every consumer gone; consumers that died are noticed
    /// after a few dozen calls that found the queue full, which ask their segment
    /// claims), [`QueueError::Corrupted`].
    pub fn try_push(&mut self, record: &[u8]) -> Result<(), QueueError> {
        self.0.try_push(record)
    }

    /// Like [`try_push`](Self::try_push), waiting for a free slot as long as needed.
    ///
    /// # Errors
    ///
    /// Those of `try_push` but `Full`.
    pub fn push_blocking(&mut self, record: &[u8]) -> Result<(), QueueError> {
        wait::block(&mut self.0, None, |h| h.poll_push(record))
    }

    /// Like [`push_blocking`](Self::push_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `push_blocking`, and [`QueueError::Timeout`].
    pub fn push_timeout(&mut self, record: &[u8], timeout: Duration) -> Result<(), QueueError> {
        wait::block(&mut self.0, wait::after(timeout), |h| h.poll_push(record))
    }

    super::handle::shared_calls!("consumers");
}
