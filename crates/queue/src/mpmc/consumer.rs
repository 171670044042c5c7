//! The consuming side of an [`MpmcQueue`](super::MpmcQueue).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Role;
use super::handle::Handle;
use crate::QueueError;
use crate::memory::Memory;
use crate::sink::Sink;
use crate::wait;

/// A consumer of an [`MpmcQueue`](super::MpmcQueue): any number, in any processes, up to
/// 64 live per segment. `Send`, not `Sync`; [`try_clone`](Self::try_clone) makes another.
#[derive(Debug)]
#[must_use = "dropping the last MpmcConsumer disconnects the producers"]
pub struct MpmcConsumer<M: Memory>(Handle<M>);

impl<M: Memory> MpmcConsumer<M> {
    /// Attaches a consumer to the queue in `memory`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Layout`], [`QueueError::Corrupted`], [`QueueError::AlreadyClaimed`]
    /// when 64 live consumers already exist on a segment.
    pub fn attach(memory: Arc<M>) -> Result<Self, QueueError> {
        Ok(Self(Handle::attach(memory, Role::Consumer)?))
    }

    /// Another consumer on the same queue, waiting the same way (its counters start at
    /// zero). Consumers share the records: each is taken by one of them.
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when 64 live consumers already exist on a segment.
    pub fn try_clone(&self) -> Result<Self, QueueError> {
        Ok(Self(self.0.try_clone()?))
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
    pub fn try_pop(&mut self) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        self.try_take(&mut out)?;
        Ok(out.into())
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
    /// let (mut tx, mut rx) = MpmcQueue::heap(8, 64)?;
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
    pub fn pop_blocking(&mut self) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        self.take(None, &mut out)?;
        Ok(out.into())
    }

    /// Like [`pop_blocking`](Self::pop_blocking), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::Timeout`].
    pub fn pop_timeout(&mut self, timeout: Duration) -> Result<Bytes, QueueError> {
        let mut out = Vec::new();
        self.take(wait::after(timeout), &mut out)?;
        Ok(out.into())
    }

    /// Like [`pop_blocking`](Self::pop_blocking), copying the record into `buf` and
    /// returning its length.
    ///
    /// # Errors
    ///
    /// Those of `pop_blocking`, and [`QueueError::BufferTooSmall`] when `buf` is shorter
    /// than the record, which then stays queued.
    pub fn pop_into_blocking(&mut self, buf: &mut [u8]) -> Result<usize, QueueError> {
        self.take(None, buf)
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
        self.take(wait::after(timeout), buf)
    }

    super::handle::shared_calls!("producers");

    fn take<S: Sink + ?Sized>(
        &mut self,
        deadline: Option<Instant>,
        out: &mut S,
    ) -> Result<usize, QueueError> {
        match wait::block(&mut self.0, deadline, |h| h.try_pop(out)) {
            // Every producer gone: what they committed behind their dead slots remains.
            Err(QueueError::Disconnected) => self.0.drain(out)?.ok_or(QueueError::Disconnected),
            other => other,
        }
    }
}
