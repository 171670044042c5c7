//! A local feed forwarded to a Zenoh key: the outbound bridge.

use std::sync::Arc;
use std::time::Duration;

use ipclane::segment::SegmentError;
use ipclane::{Start, SubscribeOptions};
use zenoh::Wait;
use zenoh::key_expr::KeyExpr;
use zenoh::qos::CongestionControl;

use crate::frame::{Header, Source};
use crate::stats::Counters;
use crate::task::{Stop, Task};
use crate::{Config, Error, session};

/// How often a bridge looks for a feed that is not there (yet, or again).
const ATTACH_RETRY: Duration = Duration::from_millis(50);

/// The longest a wait for the next record goes before it looks whether a stop was asked.
const STOP_POLL: Duration = Duration::from_millis(50);

/// How an outbound bridge reads its feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOptions {
    start: Start,
}

impl Default for OutOptions {
    fn default() -> Self {
        Self {
            start: Start::Newest,
        }
    }
}

impl OutOptions {
    /// Where it starts on the feed it first finds ([`Start::Newest`]: what is published
    /// from then on; [`Start::Oldest`]: the oldest record the ring still holds), when the
    /// feed is there as the bridge starts. On a feed made later, or whose publisher
    /// restarted, it starts at the oldest, always, and counts as missed what the ring no
    /// longer holds.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Where it starts on the feed it first finds.
    pub fn get_start(&self) -> Start {
        self.start
    }
}

/// The feed being read, and which run of its publisher writes it.
///
/// The reader is the blocking subscriber, on the bridge's thread (in `block_in_place`):
/// woken by the publisher's futex, which works wherever the feed's memory is shared, where
/// an async subscriber's doorbell needs the publisher's network namespace; and it spins
/// first, as the fastest local reader does.
struct Attached {
    subscriber: ipclane::Subscriber,
    source: Source,
}

/// An outbound bridge's state.
pub(crate) struct Outbound {
    topic: String,
    key: KeyExpr<'static>,
    options: OutOptions,
    counters: Arc<Counters>,
    feed: Option<Attached>,
    publisher: zenoh::pubsub::Publisher<'static>,
    // Held for their effect: the token says to inbound bridges that this one is there,
    // the listener keeps `matched` and the log up to date.
    _token: zenoh::liveliness::LivelinessToken,
    _matching: zenoh::matching::MatchingListener<()>,
    session: zenoh::Session,
}

/// What one look at the feed gave.
enum Event {
    Stop,
    Record(bytes::Bytes),
    Gone,
    Lagged(u64),
}

impl Outbound {
    /// Checks the key, looks for the feed once, opens the session and declares the
    /// publisher.
    pub(crate) async fn open(
        topic: String,
        keyexpr: String,
        config: Config,
        options: OutOptions,
        counters: Arc<Counters>,
    ) -> Result<Self, Error> {
        let key = session::key_expr(&keyexpr, false)?;
        // A name that is not a feed is the caller's error; a feed not there yet is waited for.
        let feed = tokio::task::block_in_place(|| attach(&topic, options.start))?;
        let session = session::open(&config).await?;
        let publisher = session
            .declare_publisher(key.clone())
            // Never dropped on the way: where the network is slower than the feed, the
            // bridge falls behind and is lapped, and that count is carried.
            .congestion_control(CongestionControl::Block)
            .await
            .map_err(|e| session::failed("declaring the publisher", &key, &e))?;
        let token = session
            .liveliness()
            .declare_token(key.clone())
            .await
            .map_err(|e| session::failed("declaring the liveliness token", &key, &e))?;
        let (shared, logged_key, logged_topic) =
            (Arc::clone(&counters), key.to_string(), topic.clone());
        let matching = publisher
            .matching_listener()
            .callback(move |status| {
                Counters::set(&shared.matched, status.matching());
                if status.matching() {
                    tracing::info!(topic = %logged_topic, key = %logged_key, "a remote subscriber matches the key");
                } else {
                    tracing::info!(topic = %logged_topic, key = %logged_key, "no remote subscriber matches the key now");
                }
            })
            .await
            .map_err(|e| session::failed("declaring the matching listener", &key, &e))?;
        let mut bridge = Self {
            topic,
            key,
            options,
            counters,
            feed: None,
            publisher,
            _token: token,
            _matching: matching,
            session,
        };
        if let Some(feed) = feed {
            bridge.attached(feed, 0);
        }
        Ok(bridge)
    }

    /// Starts reading `feed`, `missed` records of its run already behind.
    fn attached(&mut self, feed: Attached, missed: u64) -> u64 {
        tracing::info!(topic = %self.topic, key = %self.key, "attached to the feed: {}, at record {}", feed.source, feed.subscriber.position());
        Counters::add(&self.counters.sources, 1);
        Counters::set(&self.counters.attached, true);
        self.feed = Some(feed);
        missed
    }

    /// Waits for the next record of the attached feed, or a stop.
    fn next(feed: &mut Attached, stop: &Stop) -> Result<Event, Error> {
        loop {
            if stop.is_requested() {
                return Ok(Event::Stop);
            }
            return match feed.subscriber.recv_timeout(STOP_POLL) {
                Ok(record) => Ok(Event::Record(record)),
                Err(ipclane::Error::Timeout { .. }) => continue,
                Err(ipclane::Error::Lagged { missed }) => Ok(Event::Lagged(missed)),
                Err(ipclane::Error::Disconnected { .. }) => Ok(Event::Gone),
                Err(e) => Err(e.into()),
            };
        }
    }
}

impl Task for Outbound {
    async fn run(mut self, stop: Stop) -> Result<(), Error> {
        let forwarded = tokio::task::block_in_place(|| self.forward(&stop));
        drop(self.feed.take());
        if let Err(e) = self.session.close().await {
            tracing::warn!(key = %self.key, "closing the Zenoh session: {e}");
        }
        forwarded
    }
}

impl Outbound {
    /// Forwards records until a stop is asked for, reattaching as publishers come and go.
    fn forward(&mut self, stop: &Stop) -> Result<(), Error> {
        // Records of the current run missed and not yet said in a header.
        let mut missed = 0;
        // The run last read, whose publisher went: its feed is not attached again.
        let mut gone: Option<Source> = None;
        // A feed made after the bridge started is read from its first record, as a
        // restarted one is: what it published before the bridge found it is forwarded, or,
        // when its ring no longer holds it, counted.
        let mut made_later = self.feed.is_none();
        let mut waiting = false;
        loop {
            let Some(feed) = self.feed.as_mut() else {
                let whole_run = gone.is_some() || made_later;
                let start = if whole_run {
                    Start::Oldest
                } else {
                    self.options.start
                };
                // Past the first look, a name that is not a feed yet (a publisher
                // still making it, or a tool's file) is waited out, and said.
                let found = attach(&self.topic, start).unwrap_or_else(|e| {
                    if !waiting {
                        tracing::warn!(topic = %self.topic, key = %self.key, "the feed cannot be read: {e}");
                    }
                    None
                });
                match found {
                    Some(feed) if Some(feed.source) != gone => {
                        // Of a new run, everything the ring no longer holds was missed.
                        let behind = if whole_run {
                            feed.subscriber.position()
                        } else {
                            0
                        };
                        made_later = false;
                        if behind > 0 {
                            tracing::warn!(topic = %self.topic, key = %self.key, "the feed's publisher published {behind} records before the bridge attached, which its ring no longer holds");
                            Counters::add(&self.counters.missed, behind);
                        }
                        missed = self.attached(feed, behind);
                        waiting = false;
                    }
                    _ => {
                        if !waiting {
                            tracing::info!(topic = %self.topic, key = %self.key, "waiting for the feed's publisher");
                            waiting = true;
                        }
                        if stop.is_requested() {
                            return Ok(());
                        }
                        std::thread::sleep(ATTACH_RETRY);
                    }
                }
                continue;
            };
            match Self::next(feed, stop)? {
                Event::Stop => return Ok(()),
                Event::Record(record) => {
                    let header = Header {
                        source: feed.source,
                        seq: feed.subscriber.position() - 1,
                        missed,
                    };
                    missed = 0;
                    self.publisher
                        .put(header.frame(&record))
                        .wait()
                        .map_err(|e| session::failed("publishing", &self.key, &e))?;
                    Counters::add(&self.counters.records, 1);
                }
                Event::Lagged(lost) => {
                    tracing::warn!(topic = %self.topic, key = %self.key, "lapped by the feed's publisher: {lost} records missed (the count goes to the receivers)");
                    missed += lost;
                    Counters::add(&self.counters.missed, lost);
                }
                Event::Gone => {
                    tracing::info!(topic = %self.topic, key = %self.key, "the feed's publisher ({}) is gone; waiting for it to restart", feed.source);
                    gone = Some(feed.source);
                    self.feed = None;
                    Counters::set(&self.counters.attached, false);
                }
            }
        }
    }
}

/// The feed `topic` at `start`, or `None` when there is none (or its publisher is gone
/// before it became one).
fn attach(topic: &str, start: Start) -> Result<Option<Attached>, Error> {
    let options = SubscribeOptions::default().start(start);
    match ipclane::Subscriber::open_with(topic, options) {
        Ok(subscriber) => Ok(Some(Attached {
            source: Source::of(subscriber.publisher()),
            subscriber,
        })),
        Err(
            ipclane::Error::Segment(SegmentError::NotFound { .. })
            | ipclane::Error::Disconnected { .. },
        ) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
