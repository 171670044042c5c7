//! Publish/subscribe on one machine: a publisher fans messages out to any number of
//! subscriber processes through a broadcast ring in a named shared-memory segment (the
//! market-data scenario).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::Error;
use crate::liveness::Liveness;
use crate::queue::{Broadcast, BroadcastReader, BroadcastWriter, Segment, WaitStrategy};
use crate::subscribers::Record;

/// What a [`Publisher`] is created with: how many messages its ring keeps, and how long
/// one may be.
///
/// ```
/// let options = ipclane::PublishOptions::default().slots(4096).max_message_len(128);
/// assert_eq!((options.get_slots(), options.get_max_message_len()), (4096, 128));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PublishOptions {
    slots: usize,
    max_message_len: usize,
}

impl Default for PublishOptions {
    /// 1024 slots of 256 bytes.
    fn default() -> Self {
        Self {
            slots: 1024,
            max_message_len: 256,
        }
    }
}

impl PublishOptions {
    /// Messages the ring keeps, a power of two of at least 2: a subscriber that falls
    /// further behind is lapped (default 1024).
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots;
        self
    }

    /// Messages the ring keeps.
    pub fn get_slots(&self) -> usize {
        self.slots
    }

    /// The longest message (default 256 bytes): each slot holds one message whole.
    pub fn max_message_len(mut self, len: usize) -> Self {
        self.max_message_len = len;
        self
    }

    /// The longest message.
    pub fn get_max_message_len(&self) -> usize {
        self.max_message_len
    }
}

/// The one writer of a feed: it never waits for subscribers, overwriting the oldest
/// message once the ring is full. Dropping it ends the feed: subscribers get
/// [`Error::Disconnected`] after the last message, and the feed's name is removed. A
/// publisher killed instead is seen by its subscribers as `Disconnected` within their
/// wait strategy's liveness period; its name then stays until `ipclane gc` (or
/// `ipclane::segment::gc()`) removes it, since its owner is dead.
///
/// ```
/// use ipclane::{Publisher, Subscriber};
///
/// let name = format!("doc-feed-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, ipclane::PublishOptions::default())?;
/// let mut subscriber = Subscriber::open(&name)?;
/// publisher.publish(b"EURUSD 1.0842")?;
/// assert_eq!(subscriber.recv()?, &b"EURUSD 1.0842"[..]);
/// # Ok::<(), ipclane::Error>(())
/// ```
#[derive(Debug)]
pub struct Publisher {
    writer: BroadcastWriter<Segment>,
    name: String,
}

impl Publisher {
    /// Creates the feed `name` (the segment `/dev/shm/ipclane.<name>`) and becomes its
    /// publisher.
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] for bad options, [`Error::Segment`] when the name is taken
    /// ([`AlreadyExists`](crate::segment::SegmentError::AlreadyExists): a live feed, or a dead publisher's that `gc` has
    /// not removed yet) or invalid.
    pub fn create(name: &str, options: PublishOptions) -> Result<Self, Error> {
        let segment = Broadcast::create_named(name, options.slots, options.max_message_len)?;
        Ok(Self {
            writer: BroadcastWriter::attach(Arc::new(segment))?,
            name: name.to_owned(),
        })
    }

    /// Publishes `msg` to every subscriber; never waits.
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] over the feed's maximum.
    pub fn publish(&mut self, msg: &[u8]) -> Result<(), Error> {
        Ok(self.writer.write(msg)?)
    }

    /// Messages published so far.
    pub fn published(&self) -> u64 {
        self.writer.position()
    }

    /// The longest message.
    pub fn max_message_len(&self) -> usize {
        self.writer.max_record_len()
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Where a new subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// With what is published from now on (the default).
    #[default]
    Newest,
    /// With the oldest message the ring still holds.
    Oldest,
}

/// A reader of a feed, in any process; any number join and leave freely, and none slows
/// the publisher. Each keeps its position in a small record of its own, where `ipclane
/// inspect` finds it (see [`subscribers`](crate::subscribers)). Receiving blocks on a futex (no spinning core per idle subscriber) by
/// default.
#[derive(Debug)]
pub struct Subscriber {
    reader: BroadcastReader<Segment>,
    /// When `try_recv` last asked whether the publisher lives.
    liveness: Liveness,
    /// `feed NAME`, which a publisher gone or a timeout names.
    at: String,
    /// Its position, for `ipclane inspect`, where `/dev/shm` took the record.
    record: Option<Record>,
}

impl Subscriber {
    /// Subscribes to the feed `name`, starting with what is published from now on.
    ///
    /// # Errors
    ///
    /// [`Error::Segment`] ([`NotFound`](crate::segment::SegmentError::NotFound) when no feed has that name, or the
    /// segment holds something else).
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_at(name, Start::Newest)
    }

    /// Subscribes to the feed `name`, starting at `start`.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open).
    pub fn open_at(name: &str, start: Start) -> Result<Self, Error> {
        let segment = Broadcast::open_named(name)?;
        let mut reader = BroadcastReader::attach(Arc::new(segment))?;
        if start == Start::Oldest {
            reader.seek_oldest()?;
        }
        // Best effort: the record serves tools; a subscriber works without it.
        let record = Record::create(name, reader.position()).ok();
        Ok(Self {
            reader,
            liveness: Liveness::new(crate::queue::WaitStrategy::default().liveness_period),
            at: format!("feed {name}"),
            record,
        })
    }

    /// Records where the subscriber is now, then hands `result` on.
    fn tracked<T>(&mut self, result: Result<T, crate::queue::QueueError>) -> Result<T, Error> {
        if let Some(record) = &self.record {
            record.set(self.reader.position());
        }
        result.map_err(|e| Error::from(e).at(&self.at))
    }

    /// Sets how blocking receives wait (see [`WaitStrategy`]).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.liveness = Liveness::new(strategy.liveness_period);
        self.reader.set_wait_strategy(strategy);
    }

    /// The next message, waiting for it as long as needed.
    ///
    /// # Errors
    ///
    /// [`Error::Lagged`] when the publisher overwrote messages before this subscriber got
    /// to them (the next call continues with the oldest still there),
    /// [`Error::Disconnected`] once the publisher is gone and everything was read.
    pub fn recv(&mut self) -> Result<Bytes, Error> {
        let got = self.reader.recv_blocking();
        self.tracked(got)
    }

    /// Like [`recv`](Self::recv), giving up with [`Error::Timeout`] after `timeout`.
    ///
    /// # Errors
    ///
    /// Those of `recv`, and [`Error::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        let got = self.reader.recv_timeout(timeout);
        self.tracked(got)
    }

    /// The next message if there is one, `Ok(None)` if not.
    ///
    /// # Errors
    ///
    /// Those of `recv`.
    pub fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        let got = match self.reader.try_recv() {
            Ok(msg) => Ok(Some(msg)),
            // A killed publisher never closes its side: a receive that never waits asks,
            // then looks once more (what it published before dying is read).
            Err(crate::queue::QueueError::Empty) if self.liveness.due() => {
                match self.reader.is_writer_alive() {
                    Ok(true) => Ok(None),
                    Ok(false) => match self.reader.try_recv() {
                        Ok(msg) => Ok(Some(msg)),
                        Err(crate::queue::QueueError::Empty) => {
                            Err(crate::queue::QueueError::Disconnected)
                        }
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            Err(crate::queue::QueueError::Empty) => Ok(None),
            Err(e) => Err(e),
        };
        self.tracked(got)
    }

    /// Like [`recv`](Self::recv), copying the message into `buf` and returning its
    /// length: no allocation.
    ///
    /// # Errors
    ///
    /// Those of `recv`, and [`Error::BufferTooSmall`] when `buf` is shorter than the
    /// message (which stays next).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let got = self.reader.recv_into_blocking(buf);
        self.tracked(got)
    }

    /// The newest message, skipping everything older (for subscribers that only want the
    /// current value); `Ok(None)` before the first.
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] for a corrupted ring.
    pub fn latest(&mut self) -> Result<Option<Bytes>, Error> {
        let got = match self.reader.latest() {
            Ok(msg) => Ok(Some(msg)),
            Err(crate::queue::QueueError::Empty) => Ok(None),
            Err(e) => Err(e),
        };
        self.tracked(got)
    }

    /// Sequence number of the next message this subscriber receives.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }
}
