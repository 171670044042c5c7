//! Keyed feeds: beside its stream, a feed created with
//! [`PublishOptions::keys`](crate::PublishOptions::keys) keeps the latest message of each
//! key (an instrument's current quote) in a [`LastValues`] table, so that a subscriber
//! joining late gets the current book, not the history.
//!
//! The table is the named segment `<feed name>.last` (`/dev/shm/ipclane.<feed>.last`),
//! created with the feed (before it, so a subscriber that finds the feed finds its table)
//! and removed with it. Each value is tagged with the stream sequence number of the
//! message that set it.

use std::sync::Arc;

use bytes::Bytes;

use crate::queue::{LastValueReader, LastValueWriter, LastValues, QueueError, Segment};
use crate::segment::SegmentError;
use crate::{Error, PublishOptions, Publisher, Subscriber};

/// The name of the table of the feed `feed`.
fn table_name(feed: &str) -> String {
    format!("{feed}.last")
}

/// Creates the table of the feed `feed` when `options` asks for keys (`None` otherwise).
pub(crate) fn create_table(
    feed: &str,
    options: &PublishOptions,
) -> Result<Option<LastValueWriter<Segment>>, Error> {
    if options.get_keys() == 0 {
        return Ok(None);
    }
    // A dead publisher's table is taken over, as its feed is (`Publisher::create`).
    let segment = LastValues::create_named_reclaiming(
        &table_name(feed),
        options.get_keys(),
        options.get_max_message_len(),
    )?;
    Ok(Some(LastValueWriter::attach(Arc::new(segment))?))
}

/// Opens the table of the feed `feed`, if it has one.
pub(crate) fn open_table(feed: &str) -> Result<Option<LastValueReader<Segment>>, Error> {
    match LastValues::open_named(&table_name(feed)) {
        Ok(segment) => Ok(Some(LastValueReader::attach(Arc::new(segment))?)),
        Err(QueueError::Segment(SegmentError::NotFound { .. })) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Publisher {
    /// Publishes `msg` to every subscriber, as [`publish`](Self::publish) does, and makes
    /// it the latest message of `key`, tagged with its sequence number in the stream
    /// (the [`published`](Self::published) count before it); never waits.
    ///
    /// The table is set first, then the message published, so a subscriber that started
    /// reading the stream after a message finds that message (or a later one of its
    /// key) in the table (see [`Subscriber::latest_for`]).
    ///
    /// # Errors
    ///
    /// [`Error::MessageTooLarge`] over the feed's maximum; [`Error::Queue`] with
    /// [`QueueError::KeyOutOfRange`] for a key at or past [`keys`](Self::keys) (every key,
    /// on a feed created without [`PublishOptions::keys`]). On an error nothing was
    /// published or stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane::{PublishOptions, Publisher, Subscriber};
    ///
    /// let name = format!("doc-keyed-{}", std::process::id());
    /// let mut publisher = Publisher::create(&name, PublishOptions::default().keys(2))?;
    /// publisher.publish_keyed(1, b"GBPUSD 1.2650")?;
    /// publisher.publish_keyed(1, b"GBPUSD 1.2651")?;
    /// let mut late = Subscriber::open(&name)?;
    /// let (seq, quote) = late.latest_for(1)?.expect("key 1 was published");
    /// assert_eq!((seq, &quote[..]), (1, &b"GBPUSD 1.2651"[..]));
    /// assert_eq!(late.latest_for(0)?, None);
    /// # Ok::<(), ipclane::Error>(())
    /// ```
    pub fn publish_keyed(&mut self, key: usize, msg: &[u8]) -> Result<(), Error> {
        let max = self.max_message_len();
        if msg.len() > max {
            return Err(Error::MessageTooLarge {
                len: msg.len(),
                max,
            });
        }
        let seq = self.published();
        let keys = self.keys();
        let Some(last) = self.last.as_mut() else {
            return Err(QueueError::KeyOutOfRange { key, keys }.into());
        };
        last.set(key, seq, msg)?;
        self.publish(msg)
    }

    /// Keys of the feed's table: valid keys for
    /// [`publish_keyed`](Self::publish_keyed) are `0..keys()` (0 without a table).
    pub fn keys(&self) -> usize {
        self.last.as_ref().map_or(0, LastValueWriter::keys)
    }
}

impl Subscriber {
    /// The latest message published for `key` with
    /// [`Publisher::publish_keyed`], and its sequence number in the stream; `None`
    /// before the key's first message.
    ///
    /// # Late joiners
    ///
    /// To end with exactly the publisher's book, whenever you join:
    ///
    /// 1. Subscribe first ([`Subscriber::open`]: the stream from now on).
    /// 2. Then read the table: `latest_for(key)` for each key in `0..keys()`, keeping each
    ///    value with its sequence number.
    /// 3. Then apply the stream: take each message's sequence number from
    ///    [`position`](Self::position) just before receiving it, and apply the message
    ///    only if that number is above the one kept for its key (the message names its
    ///    key: the feed's own format says where). Anything at or below is already in the
    ///    value you have.
    ///
    /// The publisher sets the table before it publishes, so every message published
    /// before this subscriber's position is in the table or superseded there. After
    /// [`Error::Lagged`], messages were lost: read the table again (step 2, keeping for
    /// each key whichever of the two has the higher number), then go on with step 3.
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] with [`QueueError::KeyOutOfRange`] for a key at or past
    /// [`keys`](Self::keys) (every key, on a feed without a table), with
    /// [`QueueError::Busy`] when the value was rewritten during every attempt to copy it
    /// (try again), or with [`QueueError::Corrupted`] for a table no correct publisher
    /// writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipclane::{PublishOptions, Publisher, Subscriber};
    ///
    /// let name = format!("doc-late-{}", std::process::id());
    /// let mut publisher = Publisher::create(&name, PublishOptions::default().keys(2))?;
    /// // Quotes name their key in their first byte.
    /// publisher.publish_keyed(0, b"0 EURUSD 1.0842")?;
    /// publisher.publish_keyed(1, b"1 GBPUSD 1.2650")?;
    ///
    /// // 1. Subscribe, 2. read the table...
    /// let mut late = Subscriber::open(&name)?;
    /// let mut book = Vec::new();
    /// for key in 0..late.keys() {
    ///     book.push(late.latest_for(key)?);
    /// }
    /// publisher.publish_keyed(0, b"0 EURUSD 1.0843")?;
    /// // 3. ...then apply the stream above each key's sequence number.
    /// loop {
    ///     let seq = late.position();
    ///     let Some(msg) = late.try_recv()? else { break };
    ///     let key = usize::from(msg[0] - b'0');
    ///     if book[key].as_ref().is_none_or(|(kept, _)| seq > *kept) {
    ///         book[key] = Some((seq, msg));
    ///     }
    /// }
    /// let quotes: Vec<&[u8]> = book.iter().map(|v| &v.as_ref().unwrap().1[..]).collect();
    /// assert_eq!(quotes, [&b"0 EURUSD 1.0843"[..], &b"1 GBPUSD 1.2650"[..]]);
    /// # Ok::<(), ipclane::Error>(())
    /// ```
    pub fn latest_for(&mut self, key: usize) -> Result<Option<(u64, Bytes)>, Error> {
        match &self.last {
            Some(last) => Ok(last.get(key)?),
            None => Err(QueueError::KeyOutOfRange { key, keys: 0 }.into()),
        }
    }

    /// Keys of the feed's table: valid keys for [`latest_for`](Self::latest_for) are
    /// `0..keys()` (0 when the feed has no table).
    pub fn keys(&self) -> usize {
        self.last.as_ref().map_or(0, LastValueReader::keys)
    }
}
