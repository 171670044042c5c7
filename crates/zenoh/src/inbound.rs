//! A Zenoh key expression published into a local feed: the inbound bridge.

use std::collections::HashMap;
use std::sync::Arc;

use ipclane::{PublishOptions, Publisher};
use zenoh::key_expr::KeyExpr;
use zenoh::sample::{Sample, SampleKind};

use crate::frame::{Header, Source};
use crate::stats::Counters;
use crate::task::{Stop, Task};
use crate::{Config, Error, session};

/// How an inbound bridge makes and fills its local feed.
#[derive(Debug, Clone, Default)]
pub struct InOptions {
    publish: PublishOptions,
    framed: bool,
}

impl InOptions {
    /// The local feed's options (its slots, its largest record). A record larger than the
    /// feed's maximum is refused, counted in [`Stats::rejected`](crate::Stats::rejected)
    /// and logged.
    pub fn publish(mut self, options: PublishOptions) -> Self {
        self.publish = options;
        self
    }

    /// The local feed's options.
    pub fn get_publish(&self) -> &PublishOptions {
        &self.publish
    }

    /// Publishes each sample whole, its [`Header`] first, rather than only the record:
    /// for local subscribers that read the sequence numbers and counts themselves
    /// ([`Header::decode`]). Off by default: local subscribers read the records as the
    /// remote publisher wrote them.
    pub fn framed(mut self, framed: bool) -> Self {
        self.framed = framed;
        self
    }

    /// Whether samples are published whole.
    pub fn get_framed(&self) -> bool {
        self.framed
    }
}

/// What was last received from one key: which run, and the sequence number of its last
/// record (no "next" number, which the last possible one would not have).
#[derive(Debug, Clone, Copy)]
struct Track {
    source: Source,
    last: u64,
}

/// An inbound bridge's state.
pub(crate) struct Inbound {
    topic: String,
    key: KeyExpr<'static>,
    framed: bool,
    counters: Arc<Counters>,
    feed: Publisher,
    tracks: HashMap<String, Track>,
    /// The outbound bridges there now: how many on each key they publish on (two may
    /// share one, while one restarts or from two hosts).
    bridges: HashMap<String, usize>,
    subscriber: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<Sample>>,
    liveliness: zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<Sample>>,
    session: zenoh::Session,
}

/// What arrived.
enum Event {
    Stop,
    Sample(Sample),
    Bridge(Sample),
    Closed,
}

impl Inbound {
    /// Checks the key expression, makes the local feed, opens the session and subscribes.
    pub(crate) async fn open(
        topic: String,
        keyexpr: String,
        config: Config,
        options: InOptions,
        counters: Arc<Counters>,
    ) -> Result<Self, Error> {
        let key = session::key_expr(&keyexpr, true)?;
        let feed = Publisher::create(&topic, options.publish)?;
        let session = session::open(&config).await?;
        let liveliness = session
            .liveliness()
            .declare_subscriber(key.clone())
            .history(true)
            .await
            .map_err(|e| session::failed("subscribing to liveliness", &key, &e))?;
        let subscriber = session
            .declare_subscriber(key.clone())
            .await
            .map_err(|e| session::failed("subscribing", &key, &e))?;
        Ok(Self {
            topic,
            key,
            framed: options.framed,
            counters,
            feed,
            tracks: HashMap::new(),
            bridges: HashMap::new(),
            subscriber,
            liveliness,
            session,
        })
    }

    /// Republishes one sample's record, counting what its sequence number says was missed.
    fn forward(&mut self, sample: &Sample) {
        let bytes = sample.payload().to_bytes();
        let key = sample.key_expr().as_str();
        let (header, record) = match Header::decode(&bytes) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(topic = %self.topic, key, "refused: {e}");
                Counters::add(&self.counters.rejected, 1);
                return;
            }
        };
        let missed = match self.tracks.get_mut(key) {
            None => {
                tracing::info!(topic = %self.topic, key, "receiving from {}, from record {}", header.source, header.seq);
                Counters::add(&self.counters.sources, 1);
                self.tracks.insert(
                    key.to_owned(),
                    Track {
                        source: header.source,
                        last: header.seq,
                    },
                );
                // What came before is not this bridge's to count, but for the records
                // the outbound bridge says it missed right before this one.
                header.missed
            }
            Some(track) if track.source != header.source => {
                tracing::info!(topic = %self.topic, key, "the publisher restarted: now {}, from record {}", header.source, header.seq);
                Counters::add(&self.counters.sources, 1);
                *track = Track {
                    source: header.source,
                    last: header.seq,
                };
                // A new run counts from 0: what came before this record was missed.
                header.seq
            }
            Some(track) if header.seq <= track.last => {
                Counters::add(&self.counters.duplicates, 1);
                return;
            }
            Some(track) => {
                // Past the last: no underflow.
                let gap = header.seq - track.last - 1;
                track.last = header.seq;
                gap
            }
        };
        if missed > 0 {
            let at_source = header.missed.min(missed);
            tracing::warn!(topic = %self.topic, key, "{missed} records missed before record {} ({at_source} of them by the outbound bridge, lapped on its feed)", header.seq);
            Counters::add(&self.counters.missed, missed);
            Counters::add(&self.counters.missed_at_source, at_source);
        }
        let published = if self.framed {
            self.feed.publish(&bytes)
        } else {
            self.feed.publish(record)
        };
        match published {
            Ok(()) => Counters::add(&self.counters.records, 1),
            Err(e) => {
                tracing::warn!(topic = %self.topic, key, "record {} refused by the local feed: {e}", header.seq);
                Counters::add(&self.counters.rejected, 1);
            }
        }
    }

    /// Notes an outbound bridge coming or going.
    fn bridge(&mut self, token: &Sample) {
        let key = token.key_expr().as_str();
        match token.kind() {
            SampleKind::Put => {
                let there = self.bridges.entry(key.to_owned()).or_default();
                *there += 1;
                tracing::info!(topic = %self.topic, key, "an outbound bridge publishes on the key ({there} now)");
            }
            SampleKind::Delete => {
                if let Some(there) = self.bridges.get_mut(key) {
                    *there -= 1;
                    if *there == 0 {
                        self.bridges.remove(key);
                        tracing::info!(topic = %self.topic, key, "the outbound bridge of the key went away (its process, its host or the network); waiting for it to come back");
                    } else {
                        tracing::info!(topic = %self.topic, key, "an outbound bridge of the key went away ({there} still there)");
                    }
                }
            }
        }
        Counters::set(&self.counters.matched, !self.bridges.is_empty());
    }
}

impl Task for Inbound {
    async fn run(mut self, mut stop: Stop) -> Result<(), Error> {
        loop {
            let event = tokio::select! {
                () = stop.requested() => Event::Stop,
                sample = self.subscriber.recv_async() => sample.map_or(Event::Closed, Event::Sample),
                token = self.liveliness.recv_async() => token.map_or(Event::Closed, Event::Bridge),
            };
            match event {
                Event::Stop => break,
                Event::Sample(sample) => self.forward(&sample),
                Event::Bridge(token) => self.bridge(&token),
                Event::Closed => {
                    return Err(Error::Zenoh {
                        op: "receiving",
                        keyexpr: self.key.to_string(),
                        reason: "the session closed".into(),
                    });
                }
            }
        }
        if let Err(e) = self.session.close().await {
            tracing::warn!(key = %self.key, "closing the Zenoh session: {e}");
        }
        Ok(())
    }
}
