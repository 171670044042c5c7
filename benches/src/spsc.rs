//! ipclane's SPSC ring as a measured transport, over a named segment.

use std::sync::Arc;
use std::time::Duration;

use ipclane::queue::{Consumer, Producer, QueueError, SpscRing, WaitStrategy};
use ipclane::segment::Segment;

use crate::endpoint::{Recv, Send};
use crate::named;

/// How a side waits for room or for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Spins on the non-blocking calls (`try_push`, `read`): the lowest latency, a CPU
    /// busy all the time.
    Spin,
    /// The blocking calls with the default wait strategy (spin a while, then sleep on the
    /// futex).
    Block,
    /// The blocking calls, sleeping at once: every message that finds the receiver
    /// waiting pays a wake-up.
    Sleep,
}

impl Wait {
    fn strategy(self) -> WaitStrategy {
        match self {
            Wait::Sleep => WaitStrategy {
                initial_spin: Duration::ZERO,
                min_spin: Duration::ZERO,
                max_spin: Duration::ZERO,
                ..WaitStrategy::default()
            },
            Wait::Spin | Wait::Block => WaitStrategy::default(),
        }
    }

    /// Its name in a table.
    pub fn name(self) -> &'static str {
        match self {
            Wait::Spin => "spin",
            Wait::Block => "block",
            Wait::Sleep => "sleep",
        }
    }

    /// The mode a name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        [Wait::Spin, Wait::Block, Wait::Sleep]
            .into_iter()
            .find(|w| w.name() == name)
    }
}

/// Creates the ring `name` of `capacity` bytes.
///
/// # Panics
///
/// When it cannot be created: a measurement without its ring has no result.
pub fn create(name: &str, capacity: usize) -> Arc<Segment> {
    named::created("SPSC ring", name, SpscRing::create_named(name, capacity))
}

/// Opens the ring `name`.
///
/// # Panics
///
/// When it cannot be opened.
pub fn open(name: &str) -> Arc<Segment> {
    named::opened("SPSC ring", name, SpscRing::KIND)
}

/// The producer of a ring, sending as `wait` says.
#[derive(Debug)]
pub struct SpscSend {
    tx: Producer<Segment>,
    wait: Wait,
}

impl SpscSend {
    /// Attaches the producer.
    ///
    /// # Panics
    ///
    /// When the producer side is taken or the ring is not valid.
    pub fn attach(ring: Arc<Segment>, wait: Wait) -> Self {
        let mut tx = Producer::attach(ring).expect("attach the SPSC producer");
        tx.set_wait_strategy(wait.strategy());
        Self { tx, wait }
    }

    /// Wake system calls it made.
    pub fn wakes(&self) -> u64 {
        self.tx.wait_stats().wakes
    }

    /// Times it went to sleep.
    pub fn parks(&self) -> u64 {
        self.tx.wait_stats().parks
    }
}

impl Send for SpscSend {
    fn send(&mut self, message: &[u8]) {
        match self.wait {
            Wait::Spin => loop {
                match self.tx.try_push(message) {
                    Ok(()) => return,
                    Err(QueueError::Full) => std::hint::spin_loop(),
                    Err(e) => panic!("SPSC push: {e}"),
                }
            },
            Wait::Block | Wait::Sleep => self.tx.push_blocking(message).expect("SPSC push"),
        }
    }
}

/// The consumer of a ring, receiving as `wait` says: copies each record out, then
/// releases it.
#[derive(Debug)]
pub struct SpscRecv {
    rx: Consumer<Segment>,
    wait: Wait,
    waits: u64,
}

impl SpscRecv {
    /// Attaches the consumer.
    ///
    /// # Panics
    ///
    /// When the consumer side is taken or the ring is not valid.
    pub fn attach(ring: Arc<Segment>, wait: Wait) -> Self {
        let mut rx = Consumer::attach(ring).expect("attach the SPSC consumer");
        rx.set_wait_strategy(wait.strategy());
        Self { rx, wait, waits: 0 }
    }

    /// Times it went to sleep.
    pub fn parks(&self) -> u64 {
        self.rx.wait_stats().parks
    }

    /// Wake system calls it made.
    pub fn wakes(&self) -> u64 {
        self.rx.wait_stats().wakes
    }
}

impl Recv for SpscRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let guard = match self.wait {
            Wait::Spin => {
                let mut first = true;
                loop {
                    match self.rx.try_read() {
                        Ok(guard) => break guard,
                        Err(QueueError::Empty) => {
                            if std::mem::take(&mut first) {
                                self.waits += 1;
                            }
                            std::hint::spin_loop()
                        }
                        Err(e) => panic!("SPSC read: {e}"),
                    }
                }
            }
            Wait::Block | Wait::Sleep => self.rx.read_blocking().expect("SPSC read"),
        };
        let len = guard.len();
        assert!(
            len <= buf.len(),
            "a record of {len} bytes, over the {} sent",
            buf.len()
        );
        guard.copy_to(&mut buf[..len]);
        guard.release();
        len
    }

    /// Counted in [`Wait::Spin`] only: a blocking read does not say whether it waited
    /// (its sleeps are [`parks`](Self::parks)).
    fn waits(&self) -> u64 {
        self.waits
    }
}
