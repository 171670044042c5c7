//! Where each [`Subscriber`](crate::Subscriber) is in its feed, for `ipclane inspect`: a
//! broadcast reader only reads the ring (it cannot slow the publisher or disturb another
//! reader), so the ring does not know its readers. Each subscriber therefore keeps a small
//! named segment of its own, of kind [`SUBSCRIBER_KIND`], holding its feed's name and its
//! position, which it updates (one store to its own page) after every receive. The
//! record goes with the subscriber; a killed one's is `gc`'s.
//!
//! A subscriber waiting in a receive has taken everything, so its record shows it at the
//! head (lag 0); one that stopped reading (stopped, hung, or busy elsewhere) shows a lag
//! that grows with every message published, up to lapped. The publisher never waits for
//! it: a slow subscriber is seen here, not as a slower publisher.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::Error;
use crate::queue::Broadcast;
use crate::segment::{Kind, Segment, SegmentState};

/// The kind of a subscriber's record.
pub const SUBSCRIBER_KIND: Kind = Kind::from_names(
    "ipclane/subscriber",
    "v1: position u64 @0, feed name @8, NUL-padded",
);

/// Bytes of a record.
const RECORD: usize = 512;

/// Where the feed's name starts in a record.
const FEED_AT: usize = 8;

/// A subscriber's record, removed when dropped.
#[derive(Debug)]
pub(crate) struct Record {
    segment: Segment,
}

impl Record {
    /// A record for a subscriber of `feed`, at `position`.
    pub(crate) fn create(feed: &str, position: u64) -> Result<Self, Error> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "subscriber-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let feed = feed.as_bytes().to_vec();
        if feed.len() > RECORD - FEED_AT - 1 {
            return Err(Error::protocol(
                "a feed name too long for a subscriber record",
            ));
        }
        let segment = Segment::named(&name)
            .size(RECORD)
            .kind(SUBSCRIBER_KIND)
            // A dead process's record under a reused process id is taken over.
            .exclusive(false)
            .initialize_with(move |region| {
                region
                    .atomic::<AtomicU64>(0)?
                    .store(position, Ordering::Relaxed);
                Ok(region.write(FEED_AT, &feed)?)
            })
            .create()?;
        Ok(Self { segment })
    }

    /// Records the subscriber's position (Relaxed: a statistic, read by tools).
    pub(crate) fn set(&self, position: u64) {
        if let Ok(word) = self.segment.region().atomic::<AtomicU64>(0) {
            word.store(position, Ordering::Relaxed);
        }
    }
}

/// One subscriber of a feed, as its record says, and how far behind the publisher it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberInfo {
    /// The record's segment name.
    pub record: String,
    /// The subscriber's process id (diagnostic: from the record's creator).
    pub pid: u32,
    /// Sequence number of the next message it receives.
    pub position: u64,
    /// Messages published that it has not received yet: the feed's count of messages
    /// published, read after its position, less its position (0 for a subscriber
    /// waiting in a receive: it has taken everything).
    pub lag: u64,
    /// More than half the ring behind: unless it catches up, it will be lapped.
    /// Also true when [`lapped`](Self::lapped).
    pub lagging: bool,
    /// At least the ring's slots behind (the ring keeps its slots less one for readers):
    /// messages it has not received were overwritten, and its next receive reports
    /// [`Error::Lagged`].
    pub lapped: bool,
    /// Whether the subscriber is still there.
    pub alive: bool,
}

/// The subscribers of the feed `feed` that keep records (every [`Subscriber`] does where
/// `/dev/shm` takes one), with their lag, for `ipclane inspect` (a publisher has
/// [`Publisher::subscribers`]).
///
/// # Errors
///
/// [`Error::Segment`] when `/dev/shm` cannot be read or the feed cannot be opened (it
/// is not there, or is not a feed), [`Error::Queue`] when its ring is corrupted.
///
/// # Examples
///
/// ```
/// use ipclane::{PublishOptions, Publisher, Subscriber};
///
/// let name = format!("doc-watched-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, PublishOptions::default().slots(8))?;
/// let _subscriber = Subscriber::open(&name)?;
/// for quote in 0..6u8 {
///     publisher.publish(&[quote])?;
/// }
/// let subs = ipclane::subscribers(&name)?;
/// let me = subs.iter().find(|s| s.pid == std::process::id()).unwrap();
/// assert_eq!((me.position, me.lag, me.lagging, me.lapped), (0, 6, true, false));
/// # Ok::<(), ipclane::Error>(())
/// ```
///
/// [`Subscriber`]: crate::Subscriber
/// [`Publisher::subscribers`]: crate::Publisher::subscribers
pub fn subscribers(feed: &str) -> Result<Vec<SubscriberInfo>, Error> {
    let segment = Broadcast::open_named(feed)?;
    of(feed, || {
        let status = Broadcast::status(&segment)?;
        Ok((status.published, status.capacity))
    })
}

/// The subscribers of `feed`, their lag computed from `progress`: the messages
/// published and the ring's slots, read after every position (positions only grow, so
/// a lag is never understated, and never below 0 for a subscriber at the head).
pub(crate) fn of(
    feed: &str,
    progress: impl FnOnce() -> Result<(u64, u64), Error>,
) -> Result<Vec<SubscriberInfo>, Error> {
    let mut out = Vec::new();
    for info in crate::segment::list()? {
        let SegmentState::Ready { kind, creator, .. } = &info.state else {
            continue;
        };
        if *kind != SUBSCRIBER_KIND {
            continue;
        }
        let Ok(record) = Segment::named(&info.name).kind(SUBSCRIBER_KIND).open() else {
            continue; // gone since listed
        };
        let region = record.region();
        let mut name = vec![0u8; RECORD - FEED_AT];
        if region.read(FEED_AT, &mut name).is_err() {
            continue;
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if &name[..end] != feed.as_bytes() {
            continue;
        }
        let Ok(position) = region.atomic::<AtomicU64>(0) else {
            continue;
        };
        out.push(SubscriberInfo {
            record: info.name.clone(),
            pid: creator.pid,
            position: position.load(Ordering::Relaxed),
            lag: 0,
            lagging: false,
            lapped: false,
            alive: info.owner_alive.unwrap_or(false),
        });
    }
    let (published, slots) = progress()?;
    for sub in &mut out {
        sub.lag = published.saturating_sub(sub.position);
        sub.lagging = sub.lag > slots / 2;
        sub.lapped = sub.lag >= slots;
    }
    Ok(out)
}
