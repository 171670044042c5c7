//! ipclane's MPMC queue as a measured transport, over a named segment; both ends spin on
//! the non-blocking calls.

use std::sync::Arc;

use ipclane::queue::{MpmcConsumer, MpmcProducer, MpmcQueue, QueueError};
use ipclane::segment::Segment;

use crate::endpoint::{Recv, Send};
use crate::named;

/// Creates the queue `name` of `capacity` slots of `slot_size` bytes.
///
/// # Panics
///
/// When it cannot be created.
pub fn create(name: &str, capacity: usize, slot_size: usize) -> Arc<Segment> {
    named::created(
        "MPMC queue",
        name,
        MpmcQueue::create_named(name, capacity, slot_size),
    )
}

/// Opens the queue `name`.
///
/// # Panics
///
/// When it cannot be opened.
pub fn open(name: &str) -> Arc<Segment> {
    named::opened("MPMC queue", name, MpmcQueue::KIND)
}

/// A producer of the queue.
#[derive(Debug)]
pub struct MpmcSend(MpmcProducer<Segment>);

impl MpmcSend {
    /// Attaches a producer.
    ///
    /// # Panics
    ///
    /// When no producer place is free or the queue is not valid.
    pub fn attach(queue: Arc<Segment>) -> Self {
        Self(MpmcProducer::attach(queue).expect("attach an MPMC producer"))
    }
}

impl Send for MpmcSend {
    fn send(&mut self, message: &[u8]) {
        loop {
            match self.0.try_push(message) {
                Ok(()) => return,
                Err(QueueError::Full) => std::hint::spin_loop(),
                Err(e) => panic!("MPMC push: {e}"),
            }
        }
    }
}

/// A consumer of the queue: `try_pop_into` copies each record into the receiver's
/// buffer, as every other transport's record is (no allocation).
#[derive(Debug)]
pub struct MpmcRecv {
    rx: MpmcConsumer<Segment>,
    waits: u64,
}

impl MpmcRecv {
    /// Attaches a consumer.
    ///
    /// # Panics
    ///
    /// When no consumer place is free or the queue is not valid.
    pub fn attach(queue: Arc<Segment>) -> Self {
        Self {
            rx: MpmcConsumer::attach(queue).expect("attach an MPMC consumer"),
            waits: 0,
        }
    }
}

impl Recv for MpmcRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let rx = &mut self.rx;
        named::spin_recv("MPMC pop", &mut self.waits, buf, |buf| rx.try_pop_into(buf))
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}
