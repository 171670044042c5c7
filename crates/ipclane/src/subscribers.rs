//! Where each [`Subscriber`](crate::Subscriber) is in its feed, for `ipclane inspect`: a
//! broadcast reader only reads the ring (it cannot slow the publisher or disturb another
//! reader), so the ring does not know its readers. Each subscriber therefore keeps a small
//! named segment of its own, of kind [`SUBSCRIBER_KIND`], holding its feed's name and its
//! position, which it updates (one store to its own page) after every receive. The
//! record goes with the subscriber; a killed one's is `gc`'s.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::Error;
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

/// One subscriber of a feed, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriberInfo {
    /// The record's segment name.
    pub record: String,
    /// The subscriber's process id (diagnostic: from the record's creator).
    pub pid: u32,
    /// Sequence number of the next message it receives.
    pub position: u64,
    /// Whether the subscriber is still there.
    pub alive: bool,
}

/// The subscribers of the feed `feed` that keep records (every [`Subscriber`] does where
/// `/dev/shm` takes one), for `ipclane inspect`.
///
/// # Errors
///
/// [`Error::Segment`] when `/dev/shm` cannot be read.
///
/// [`Subscriber`]: crate::Subscriber
pub fn subscribers(feed: &str) -> Result<Vec<SubscriberInfo>, Error> {
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
            alive: info.owner_alive.unwrap_or(false),
        });
    }
    Ok(out)
}
