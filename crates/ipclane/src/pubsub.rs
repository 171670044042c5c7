//! Publish/subscribe on one machine: a publisher fans messages out to any number of
//! subscriber processes through a broadcast ring in a named shared-memory segment (the
//! market-data scenario).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::liveness::Liveness;
use crate::queue::{Broadcast, BroadcastReader, BroadcastWriter, Resume, Segment, WaitStrategy};
use crate::subscribers::Record;
use crate::{Error, MessageType, SubscriberInfo};

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
    keys: usize,
    message_type: Option<MessageType>,
}

impl Default for PublishOptions {
    /// 1024 slots of 256 bytes.
    fn default() -> Self {
        Self {
            slots: 1024,
            max_message_len: 256,
            keys: 0,
            message_type: None,
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

    /// Keys of the feed's table of latest values, for
    /// [`Publisher::publish_keyed`] and late joiners ([`Subscriber::latest_for`]); 0, the
    /// default, makes no table. The table is the segment `<name>.last`, so the feed's
    /// name must leave room for those 5 bytes.
    pub fn keys(mut self, keys: usize) -> Self {
        self.keys = keys;
        self
    }

    /// Keys of the feed's table of latest values (0: none).
    pub fn get_keys(&self) -> usize {
        self.keys
    }

    /// Declares the type of the feed's messages (none by default): recorded beside the
    /// feed (the segment `<name>.type`), so that a subscriber that declares another
    /// ([`SubscribeOptions::message_type`]) is refused at subscribe with
    /// [`Error::WrongMessageType`], and this publisher's `publish_pod` takes no other.
    ///
    /// ```
    /// use ipclane::{MessageType, PublishOptions, Publisher, SubscribeOptions, Subscriber};
    ///
    /// #[repr(C)]
    /// struct Quote { bid: i64, ask: i64 }
    /// #[repr(C)]
    /// struct Trade { price: i64, size: u32, side: u32 }
    ///
    /// let name = format!("doc-typed-feed-{}", std::process::id());
    /// let options = PublishOptions::default().message_type(MessageType::of::<Quote>());
    /// let _publisher = Publisher::create(&name, options)?;
    /// let quotes = SubscribeOptions::default().message_type(MessageType::of::<Quote>());
    /// assert!(Subscriber::open_with(&name, quotes).is_ok());
    /// let trades = SubscribeOptions::default().message_type(MessageType::of::<Trade>());
    /// let refused = Subscriber::open_with(&name, trades).unwrap_err();
    /// assert_eq!(
    ///     refused.to_string(),
    ///     format!("feed {name} carries Quote: 16 bytes, align 8, not the Trade: 16 bytes, align 8 declared here")
    /// );
    /// # Ok::<(), ipclane::Error>(())
    /// ```
    pub fn message_type(mut self, message_type: MessageType) -> Self {
        self.message_type = Some(message_type);
        self
    }

    /// The declared type of the feed's messages.
    pub fn get_message_type(&self) -> Option<MessageType> {
        self.message_type
    }
}

/// The one writer of a feed: it never waits for subscribers, overwriting the oldest
/// message once the ring is full. Dropping it ends the feed: subscribers get
/// [`Error::Disconnected`] after the last message, and the feed's name is removed. A
/// publisher killed instead is seen by its subscribers as `Disconnected` within their
/// wait strategy's liveness period; its name then stays until `ipclane gc` (or
/// `ipclane::segment::gc()`) removes it, since its owner is dead, or a new publisher
/// takes it over ([`create`](Self::create)).
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
    /// The latest message of each key (`PublishOptions::keys`), see `keyed.rs`.
    pub(crate) last: Option<crate::queue::LastValueWriter<crate::queue::Segment>>,
    /// The declared message type, and the segment that records it (boxed: a
    /// publisher stays small to move).
    message_type: Option<(MessageType, Box<Segment>)>,
}

impl Publisher {
    /// Creates the feed `name` (the segment `/dev/shm/ipclane.<name>`) and becomes its
    /// publisher.
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] for bad options, [`Error::Segment`] when the name is taken
    /// ([`AlreadyExists`](crate::segment::SegmentError::AlreadyExists): a live feed) or
    /// invalid. A dead publisher's feed under the name (one killed before it could remove
    /// it) is taken over: a publisher restarted after a crash goes on under its name.
    pub fn create(name: &str, options: PublishOptions) -> Result<Self, Error> {
        // The table first: a subscriber that finds the feed finds its table.
        let last = crate::keyed::create_table(name, &options)?;
        // And the table of async subscribers' bells, which the writer rings, and the
        // declared message type.
        let bells = crate::feed_bells::create_table(name)?;
        let message_type = match options.message_type {
            Some(declared) => {
                let record = crate::message_type::declare_feed(name, declared)?;
                Some((declared, Box::new(record)))
            }
            None => {
                crate::message_type::retract_feed(name)?;
                None
            }
        };
        // Reclaiming: a killed publisher leaves its feed, and its restart must not need a
        // `gc` first. Only a feed proven dead (its owner lock free) is replaced; its
        // subscribers keep the old ring, see the dead publisher as `Disconnected`, and
        // subscribe again by name.
        let segment =
            Broadcast::create_named_reclaiming(name, options.slots, options.max_message_len)?;
        let mut writer = BroadcastWriter::attach(Arc::new(segment))?;
        writer.set_doorbell(Arc::new(bells));
        Ok(Self {
            writer,
            name: name.to_owned(),
            last,
            message_type,
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

    /// What publishing cost in wake-ups so far: its `wakes` count the futex wakes for
    /// sleeping subscribers and the doorbell rings for parked async ones (see
    /// `ipclane::tokio::Subscriber`), once per sleep, never per message while the
    /// subscribers keep up. A publisher never waits: its other counts stay zero.
    pub fn wait_stats(&self) -> crate::queue::WaitStats {
        self.writer.wait_stats()
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared type of the feed's messages ([`PublishOptions::message_type`]).
    pub fn message_type(&self) -> Option<MessageType> {
        self.message_type.as_ref().map(|(declared, _)| *declared)
    }

    /// The feed's subscribers, from their records (see
    /// [`subscribers`](crate::subscribers())): where each is, how far behind what this
    /// publisher published, whether it is lagging or lapped, and whether it is alive. A
    /// subscriber waiting in a receive is at the head (lag 0); one that stopped reading
    /// shows a lag that grows with every message, while the publisher goes on at its own
    /// pace. A scan of `/dev/shm`: for monitoring, not for every message.
    ///
    /// # Errors
    ///
    /// [`Error::Segment`] when `/dev/shm` cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane::{PublishOptions, Publisher, Subscriber};
    ///
    /// let name = format!("doc-lag-{}", std::process::id());
    /// let mut publisher = Publisher::create(&name, PublishOptions::default().slots(4))?;
    /// let mut subscriber = Subscriber::open(&name)?;
    /// for quote in 0..5u8 {
    ///     publisher.publish(&[quote])?;
    /// }
    /// let me = |p: &Publisher| {
    ///     let subs = p.subscribers().unwrap();
    ///     subs.into_iter().find(|s| s.pid == std::process::id()).unwrap()
    /// };
    /// let behind = me(&publisher);
    /// assert_eq!((behind.position, behind.lag, behind.lapped), (0, 5, true));
    /// // Told it missed 2 (the ring keeps 3), it reads the rest and is up to date.
    /// assert!(matches!(subscriber.recv(), Err(ipclane::Error::Lagged { missed: 2 })));
    /// for _ in 0..3 {
    ///     subscriber.recv()?;
    /// }
    /// let current = me(&publisher);
    /// assert_eq!((current.position, current.lag, current.lagging), (5, 0, false));
    /// # Ok::<(), ipclane::Error>(())
    /// ```
    pub fn subscribers(&self) -> Result<Vec<SubscriberInfo>, Error> {
        crate::subscribers::of(&self.name, || {
            Ok((self.published(), self.writer.capacity()))
        })
    }
}

/// How long [`Subscriber::open`] waits for the publisher of a feed it just made to become
/// its writer (microseconds, unless the publisher is descheduled in between).
const WRITER_WAIT: Duration = Duration::from_secs(2);

/// Waits until the feed in `segment` has its writer: a publisher makes the feed, then
/// attaches as its writer, and one killed in between leaves a feed whose writer side is
/// free, which the ring takes for a writer still to come (its readers would wait for
/// ever). A facade feed is written by the publisher that made it, its owner, alone: a free
/// writer side with a dead owner is a publisher gone. Goes on after [`WRITER_WAIT`] with a
/// live owner that has not attached (a feed made by other means than [`Publisher`]).
fn wait_for_writer(segment: &Segment) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + WRITER_WAIT;
    while Broadcast::status(segment)?.writer == crate::queue::SideStatus::Free {
        if !segment.owner_alive()? {
            return Err(Error::DISCONNECTED);
        }
        if std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Where a subscriber starts ([`SubscribeOptions::start`]) and where it goes on after
/// being lapped ([`SubscribeOptions::after_lap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// At open: with what is published from now on (the default). After a lap: with the
    /// newest message still there, skipping the older ones (counted as missed), for
    /// subscribers that want current values, not a backlog of stale ones.
    #[default]
    Newest,
    /// With the oldest message the ring still holds (the default after a lap: a lapped
    /// subscriber misses only what was overwritten).
    Oldest,
}

/// How a [`Subscriber`] reads its feed: where it starts, and where it goes on after the
/// publisher lapped it (overwrote messages it had not received). Either way, a lapped
/// subscriber's receive returns [`Error::Lagged`] with exactly the number of messages it
/// skipped, then goes on; it never returns an overwritten message.
///
/// ```
/// use ipclane::{Start, SubscribeOptions};
///
/// let options = SubscribeOptions::default();
/// assert_eq!((options.get_start(), options.get_after_lap()), (Start::Newest, Start::Oldest));
/// let options = options.start(Start::Oldest).after_lap(Start::Newest);
/// assert_eq!((options.get_start(), options.get_after_lap()), (Start::Oldest, Start::Newest));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeOptions {
    start: Start,
    after_lap: Start,
    message_type: Option<MessageType>,
}

impl Default for SubscribeOptions {
    /// Starts with what is published from now on; after a lap, goes on with the oldest
    /// message still there.
    fn default() -> Self {
        Self {
            start: Start::Newest,
            after_lap: Start::Oldest,
            message_type: None,
        }
    }
}

impl SubscribeOptions {
    /// Where the subscriber starts: with what is published from now on
    /// ([`Start::Newest`], the default), or with the oldest message the ring still holds
    /// ([`Start::Oldest`]).
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Where the subscriber starts.
    pub fn get_start(&self) -> Start {
        self.start
    }

    /// Where the subscriber goes on after being lapped: with the oldest message still
    /// there ([`Start::Oldest`], the default: it misses only what was overwritten), or
    /// with the newest ([`Start::Newest`]: it also skips the stale ones still there,
    /// counted as missed).
    ///
    /// ```
    /// use ipclane::{PublishOptions, Publisher, Start, SubscribeOptions, Subscriber};
    ///
    /// let name = format!("doc-after-lap-{}", std::process::id());
    /// let mut publisher = Publisher::create(&name, PublishOptions::default().slots(4))?;
    /// let options = SubscribeOptions::default().after_lap(Start::Newest);
    /// let mut subscriber = Subscriber::open_with(&name, options)?;
    /// for price in 100..110u32 {
    ///     publisher.publish(&price.to_le_bytes())?;
    /// }
    /// // Ten quotes, all but the newest skipped.
    /// assert!(matches!(subscriber.recv(), Err(ipclane::Error::Lagged { missed: 9 })));
    /// assert_eq!(subscriber.recv()?, &109u32.to_le_bytes()[..]);
    /// # Ok::<(), ipclane::Error>(())
    /// ```
    pub fn after_lap(mut self, after_lap: Start) -> Self {
        self.after_lap = after_lap;
        self
    }

    /// Where the subscriber goes on after being lapped.
    pub fn get_after_lap(&self) -> Start {
        self.after_lap
    }

    /// Declares the type of the messages the subscriber expects (none by default): a
    /// feed whose publisher declared another ([`PublishOptions::message_type`]) is
    /// refused at subscribe with [`Error::WrongMessageType`] (a feed that declares none
    /// is taken; each message is still checked for its size), and `recv_pod` takes no
    /// other type.
    pub fn message_type(mut self, message_type: MessageType) -> Self {
        self.message_type = Some(message_type);
        self
    }

    /// The declared type of the messages.
    pub fn get_message_type(&self) -> Option<MessageType> {
        self.message_type
    }
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
    /// The feed's latest value of each key, if it has a table (see `keyed.rs`).
    pub(crate) last: Option<crate::queue::LastValueReader<crate::queue::Segment>>,
    /// The feed's name.
    name: String,
    /// The declared message type.
    message_type: Option<MessageType>,
    /// The feed's publisher: its segment's creator, which owns it.
    publisher: crate::segment::CreatorInfo,
}

impl Subscriber {
    /// Subscribes to the feed `name`, starting with what is published from now on (and
    /// after being lapped, with the oldest message still there).
    ///
    /// # Errors
    ///
    /// [`Error::Segment`] ([`NotFound`](crate::segment::SegmentError::NotFound) when no feed has that name, or the
    /// segment holds something else), [`Error::Disconnected`] when its publisher died
    /// between making the feed and becoming its writer. (A feed whose live owner has not
    /// become its writer yet is waited for, up to 2 s: microseconds for a [`Publisher`].)
    pub fn open(name: &str) -> Result<Self, Error> {
        Self::open_at(name, Start::Newest)
    }

    /// Subscribes to the feed `name`, starting at `start`.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open).
    pub fn open_at(name: &str, start: Start) -> Result<Self, Error> {
        Self::open_with(name, SubscribeOptions::default().start(start))
    }

    /// Subscribes to the feed `name` as `options` say.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open).
    pub fn open_with(name: &str, options: SubscribeOptions) -> Result<Self, Error> {
        let segment = Broadcast::open_named(name)?;
        if let Some(expected) = options.message_type {
            crate::message_type::check_feed(name, expected)?;
        }
        wait_for_writer(&segment).map_err(|e| e.at(&format!("feed {name}")))?;
        let publisher = segment.creator().clone();
        let mut reader = BroadcastReader::attach(Arc::new(segment))?;
        if options.start == Start::Oldest {
            reader.seek_oldest()?;
        }
        reader.set_resume(match options.after_lap {
            Start::Oldest => Resume::Oldest,
            Start::Newest => Resume::Newest,
        });
        // Its table, if the feed has one (made before the feed: it is there by now).
        let last = crate::keyed::open_table(name)?;
        // Best effort: the record serves tools; a subscriber works without it.
        let record = Record::create(name, reader.position()).ok();
        Ok(Self {
            reader,
            liveness: Liveness::new(crate::queue::WaitStrategy::default().liveness_period),
            at: format!("feed {name}"),
            record,
            last,
            name: name.to_owned(),
            message_type: options.message_type,
            publisher,
        })
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared type of the messages ([`SubscribeOptions::message_type`]).
    pub fn message_type(&self) -> Option<MessageType> {
        self.message_type
    }

    /// The process that made the feed and publishes on it, and when it made it: which
    /// publisher this subscriber reads. A publisher restarted under the same name makes a
    /// new feed (another pid or creation time), and subscribers of the old one see
    /// `Disconnected` before they subscribe again.
    pub fn publisher(&self) -> &crate::segment::CreatorInfo {
        &self.publisher
    }

    /// The reader, for the async subscriber's waits.
    #[cfg(feature = "tokio")]
    pub(crate) fn reader(&mut self) -> &mut BroadcastReader<Segment> {
        &mut self.reader
    }

    /// The process id of the feed's publisher (its segment's creator).
    #[cfg(feature = "tokio")]
    pub(crate) fn publisher_pid(&self) -> u32 {
        self.publisher.pid
    }

    /// How long a wait goes before it asks whether the publisher lives.
    #[cfg(feature = "tokio")]
    pub(crate) fn liveness_period(&self) -> Duration {
        self.reader.wait_strategy().liveness_period
    }

    /// Records where the subscriber is now, then hands `result` on.
    pub(crate) fn tracked<T>(
        &mut self,
        result: Result<T, crate::queue::QueueError>,
    ) -> Result<T, Error> {
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

    /// What this subscriber's waiting cost so far: its sleeps, its spin budget, and what
    /// it measured its waits and wake-ups to last (see [`WaitStrategy`]).
    pub fn wait_stats(&self) -> crate::queue::WaitStats {
        self.reader.wait_stats()
    }

    /// The next message, waiting for it as long as needed.
    ///
    /// # Errors
    ///
    /// [`Error::Lagged`] when the publisher overwrote messages before this subscriber got
    /// to them (the next call continues with the oldest still there, or the newest:
    /// [`SubscribeOptions::after_lap`]),
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
