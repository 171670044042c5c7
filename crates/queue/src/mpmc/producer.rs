//! The producing side of an [`MpmcQueue`](super::MpmcQueue).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handle::Handle;
use super::{Abandoned, Role};
use crate::QueueError;
use crate::memory::Memory;
use crate::wait::{WaitStrategy, Waiter};

/// A producer of an [`MpmcQueue`](super::MpmcQueue); made by
/// [`MpmcQueue::producer`](super::MpmcQueue::producer).
#[derive(Debug)]
#[must_use = "dropping the last MpmcProducer disconnects the consumers once they drained the queue"]
pub struct MpmcProducer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcProducer<M> {
    pub(super) fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        Ok(Self(Handle::attach(memory, Role::Producer)?))
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
        self.push_until(record, None)
    }

    /// Like [`push_blocking`](Self::push_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `push_blocking`, and [`QueueError::Timeout`].
    pub fn push_timeout(&mut self, record: &[u8], timeout: Duration) -> Result<(), QueueError> {
        self.push_until(record, Some(Instant::now() + timeout))
    }

    /// Sets how blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.0.waiter = Waiter::new(strategy);
    }

    /// Current spin budget of blocking calls (it adapts; see [`WaitStrategy`]).
    pub fn spin_budget(&self) -> Duration {
        self.0.waiter.budget()
    }

    /// Wake system calls this handle made for the other role (zero while the other side
    /// keeps up: a notification with nobody asleep costs no system call).
    pub fn wakes(&self) -> u64 {
        self.0.wakes()
    }

    /// Times a blocking call went to sleep.
    pub fn parks(&self) -> u64 {
        self.0.waiter.parks()
    }

    /// Operations that peers which died in their middle left to the survivors, counted
    /// for the whole queue.
    pub fn abandoned(&self) -> Abandoned {
        self.0.abandoned()
    }

    fn push_until(&mut self, record: &[u8], deadline: Option<Instant>) -> Result<(), QueueError> {
        let mut waiter = self.0.waiter.clone();
        let handle = &self.0;
        let result = waiter.wait(
            &handle.control().not_full.0,
            deadline,
            || match handle.try_push(record) {
                Ok(()) => Ok(Some(())),
                Err(QueueError::Full) => Ok(None),
                Err(e) => Err(e),
            },
            || Ok(handle.others_gone(false)),
            // After each sleep: hand back what a dead consumer holds, then ask who lives.
            || {
                handle.repair();
                Ok(handle.others_gone(true))
            },
        );
        self.0.waiter = waiter;
        result
    }
}
