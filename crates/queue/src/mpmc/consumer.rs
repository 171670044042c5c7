//! The consuming side of an [`MpmcQueue`](super::MpmcQueue).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::handle::Handle;
use super::{Abandoned, Role};
use crate::QueueError;
use crate::memory::Memory;
use crate::sink::Sink;
use crate::wait::{WaitStrategy, Waiter};

/// A consumer of an [`MpmcQueue`](super::MpmcQueue); made by
/// [`MpmcQueue::consumer`](super::MpmcQueue::consumer).
#[derive(Debug)]
#[must_use = "dropping the last MpmcConsumer disconnects the producers"]
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
        let mut out = Vec::new();
        self.try_take(&mut out)?;
        Ok(out)
    }

    /// Like [`try_pop`](Self::try_pop), copying the record into `buf` and returning its
    /// length: no allocation.
    ///
    /// # Errors
    ///
    /// Those of `try_pop`, and [`QueueError::BufferTooSmall`] when `buf` is shorter than the
    /// record, which then stays queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane_queue::MpmcQueue;
    ///
    /// let queue = MpmcQueue::heap(8, 64)?;
    /// let (mut tx, mut rx) = (MpmcQueue::producer(queue.clone())?, MpmcQueue::consumer(queue)?);
    /// tx.try_push(b"quote")?;
    /// let mut buf = [0u8; 64];
    /// let len = rx.try_pop_into(&mut buf)?;
    /// assert_eq!(&buf[..len], b"quote");
    /// # Ok::<(), ipclane_queue::QueueError>(())
    /// ```
    pub fn try_pop_into(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.try_take(buf)
    }

    fn try_take<S: Sink + ?Sized>(&mut self, out: &mut S) -> Result<usize, QueueError> {
        match self.0.try_pop(out)? {
            Some(len) => Ok(len),
            // The cheap check each time; the segment is asked only now and then.
            None if self.0.others_gone(false)
                || (self.0.deep_check_due() && self.0.others_gone(true)) =>
            {
                self.0.drain(out)?.ok_or(QueueError::Disconnected)
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
        let mut out = Vec::new();
        self.pop_until(None, &mut out)?;
        Ok(out)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::Timeout`].
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>, QueueError> {
        let mut out = Vec::new();
        self.pop_until(Some(Instant::now() + timeout), &mut out)?;
        Ok(out)
    }

    /// Like [`pop_blocking`](Self::pop_blocking), copying the record into `buf` and
    /// returning its length.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::BufferTooSmall`] when `buf` is shorter
    /// than the record, which then stays queued.
    pub fn pop_into_blocking(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.pop_until(None, buf)
    }

    /// Like [`pop_into_blocking`](Self::pop_into_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_into_blocking`, and [`QueueError::Timeout`].
    pub fn pop_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, QueueError> {
        self.pop_until(Some(Instant::now() + timeout), buf)
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

    fn pop_until<S: Sink + ?Sized>(
        &mut self,
        deadline: Option<Instant>,
        out: &mut S,
    ) -> Result<usize, QueueError> {
        let mut waiter = self.0.waiter.clone();
        let handle = &self.0;
        let result = waiter.wait(
            &handle.control().not_empty.0,
            deadline,
            || handle.try_pop(out),
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
            Err(QueueError::Disconnected) => self.0.drain(out)?.ok_or(QueueError::Disconnected),
            other => other,
        }
    }
}
