//! The consuming side of an [`MpmcQueue`](super::MpmcQueue).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handle::Handle;
use super::{Abandoned, Role};
use crate::QueueError;
use crate::memory::Memory;
use crate::notifier::{WaitStrategy, Waiter};

/// A consumer of an [`MpmcQueue`](super::MpmcQueue); made by
/// [`MpmcQueue::consumer`](super::MpmcQueue::consumer).
#[derive(Debug)]
pub struct MpmcConsumer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcConsumer<M> {
    pub(super) fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        Ok(Self(Handle::attach(memory, Role::Consumer)?))
    }

    /// Takes the oldest record.
    ///
    /// A slot taken by a producer that died before publishing it is passed, once the
    /// producer is proven dead (see [`abandoned`](Self::abandoned)); records committed
    /// after it are delivered.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`], [`QueueError::Disconnected`] (every producer gone and no
    /// committed record left; producers that died are noticed after a few dozen calls
    /// that found nothing, which ask their segment claims), [`QueueError::Corrupted`].
    pub fn try_pop(&mut self) -> Result<Vec<u8>, QueueError> {
        match self.0.try_pop()? {
            Some(record) => Ok(record),
            // The cheap check each time; the segment is asked only now and then.
            None if self.0.others_gone(false)
                || (self.0.deep_check_due() && self.0.others_gone(true)) =>
            {
                self.0.drain()?.ok_or(QueueError::Disconnected)
            }
            None => Err(QueueError::Empty),
        }
    }

    /// Takes the oldest record, waiting for one as long as needed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Disconnected`] once every producer has gone (dropped or died) and
    /// no committed record is left, [`QueueError::Corrupted`].
    pub fn pop_blocking(&mut self) -> Result<Vec<u8>, QueueError> {
        self.pop_until(None)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::Timeout`].
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, QueueError> {
        self.pop_until(Some(Instant::now() + timeout))
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

    fn pop_until(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>, QueueError> {
        let mut waiter = self.0.waiter.clone();
        let handle = &self.0;
        let result = waiter.wait(
            &handle.control().not_empty.0,
            deadline,
            || handle.try_pop(),
            || Ok(handle.others_gone(false)),
            // After each sleep: pass what a dead producer left unpublished, then ask who
            // lives.
            || {
                handle.repair();
                Ok(handle.others_gone(true))
            },
        );
        self.0.waiter = waiter;
        match result {
            // Every producer gone: what they committed behind their dead slots remains.
            Err(QueueError::Disconnected) => self.0.drain()?.ok_or(QueueError::Disconnected),
            other => other,
        }
    }
}
