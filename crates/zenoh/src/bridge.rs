//! The handle of a running bridge: its thread, its runtime, and how it stops.

use std::future::Future;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::inbound::{InOptions, Inbound};
use crate::outbound::{OutOptions, Outbound};
use crate::stats::{Counters, Stats};
use crate::task::{Stop, Task};
use crate::{Config, Error};

/// Which way a bridge forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a local feed to a Zenoh key.
    Out,
    /// From a Zenoh key expression into a local feed.
    In,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Out => "out",
            Self::In => "in",
        })
    }
}

/// A running bridge between a local feed and Zenoh; it stops when dropped.
///
/// Each bridge runs on a thread of its own, with its own Zenoh session and a one-worker
/// tokio runtime, so it works the same from a blocking program and from an async one
/// (where the calls that start and stop it block: call them from `spawn_blocking`).
/// Starting waits for the session to open, at most [`Config::connect_timeout`]; stopping
/// waits for the thread, which a record stuck on a stalled link holds for as long as
/// Zenoh waits on it before closing the link (its `wait_before_close`, 5 s by default).
/// [`out`](Self::out) forwards a feed's records to a Zenoh key, in order, each with its
/// sequence number and the count of records the bridge missed before it
/// ([`frame`](crate::frame)); [`inbound`](Self::inbound) publishes a key expression's
/// records into a local feed, counting what never arrived. Both outlive the other side:
/// an outbound bridge waits for a feed that is not there yet, and attaches again when its
/// publisher restarts; Zenoh reconnects to an endpoint that went away. Each says what
/// happens through `tracing`.
///
/// ```
/// use std::time::Duration;
/// use ipclane::{PublishOptions, Publisher};
/// use ipclane_zenoh::{Bridge, Config};
///
/// let id = std::process::id();
/// let (here, there) = (format!("doc-bridge-{id}"), format!("doc-bridge-{id}-remote"));
/// let socket = std::env::temp_dir().join(format!("doc-bridge-{id}.sock"));
/// let endpoint = format!("unixsock-stream/{}", socket.display());
///
/// // The "other host": a bridge into the local feed `there`, listening.
/// let inbound = Bridge::inbound(&there, "demo/quotes", &Config::peer().listen(&endpoint)?)?;
/// let mut subscriber = ipclane::Subscriber::open(&there)?;
///
/// // This host: a feed, and a bridge out of it that connects to the other.
/// let mut publisher = Publisher::create(&here, PublishOptions::default())?;
/// let outbound = Bridge::out(&here, "demo/quotes", &Config::peer().connect(&endpoint)?)?;
/// assert!(outbound.wait_matched(Duration::from_secs(10)));
///
/// publisher.publish(b"EURUSD 1.0842")?;
/// let quote = subscriber.recv_timeout(Duration::from_secs(10))?;
/// assert_eq!(&quote[..], b"EURUSD 1.0842");
/// drop((outbound, inbound));
/// # let _ = std::fs::remove_file(&socket);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Bridge {
    direction: Direction,
    topic: String,
    keyexpr: String,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Bridge {
    /// Forwards the local feed `topic` to the Zenoh key `keyexpr`, from its next record
    /// on, as [`out_with`](Self::out_with) does with the default options.
    ///
    /// # Errors
    ///
    /// Those of [`out_with`](Self::out_with).
    pub fn out(topic: &str, keyexpr: &str, config: &Config) -> Result<Self, Error> {
        Self::out_with(topic, keyexpr, config, OutOptions::default())
    }

    /// Forwards the local feed `topic` to the Zenoh key `keyexpr` as `options` say.
    ///
    /// The feed may not exist yet: the bridge waits for it, and for its publisher to come
    /// back when it goes (from the first record of the new run, so that a restart loses
    /// nothing the ring still holds).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKeyExpr`] for a key expression Zenoh refuses or one with wildcards;
    /// [`Error::Ipclane`] when `topic` names something other than a feed;
    /// [`Error::Config`] or [`Error::Open`] when the session cannot be opened (an
    /// endpoint that does not answer within [`Config::connect_timeout`], one that cannot
    /// be bound); [`Error::Zenoh`] when the publisher cannot be declared;
    /// [`Error::Io`] when the thread or its runtime cannot be started.
    pub fn out_with(
        topic: &str,
        keyexpr: &str,
        config: &Config,
        options: OutOptions,
    ) -> Result<Self, Error> {
        let (topic_owned, key, config) = (topic.to_owned(), keyexpr.to_owned(), config.clone());
        Self::spawn(Direction::Out, topic, keyexpr, move |counters| {
            Outbound::open(topic_owned, key, config, options, counters)
        })
    }

    /// Publishes the records of the Zenoh key expression `keyexpr` into a new local feed
    /// `topic`, as [`inbound_with`](Self::inbound_with) does with the default options.
    ///
    /// # Errors
    ///
    /// Those of [`inbound_with`](Self::inbound_with).
    pub fn inbound(topic: &str, keyexpr: &str, config: &Config) -> Result<Self, Error> {
        Self::inbound_with(topic, keyexpr, config, InOptions::default())
    }

    /// Publishes the records of the Zenoh key expression `keyexpr` (wildcards allowed:
    /// every matching key goes into the one feed) into a new local feed `topic`, made as
    /// `options` say. Local subscribers then read it at shared-memory speed, and the feed
    /// crosses the network once per host.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidKeyExpr`] for a key expression Zenoh refuses; [`Error::Ipclane`]
    /// when the feed cannot be made (a live publisher has the name:
    /// `AlreadyExists`); [`Error::Config`], [`Error::Open`], [`Error::Zenoh`] and
    /// [`Error::Io`] as for [`out_with`](Self::out_with).
    pub fn inbound_with(
        topic: &str,
        keyexpr: &str,
        config: &Config,
        options: InOptions,
    ) -> Result<Self, Error> {
        let (topic_owned, key, config) = (topic.to_owned(), keyexpr.to_owned(), config.clone());
        Self::spawn(Direction::In, topic, keyexpr, move |counters| {
            Inbound::open(topic_owned, key, config, options, counters)
        })
    }

    /// Its direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The local feed's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The Zenoh key expression.
    pub fn keyexpr(&self) -> &str {
        &self.keyexpr
    }

    /// What it has done so far.
    pub fn stats(&self) -> Stats {
        self.counters.read()
    }

    /// Waits up to `timeout` for the other side ([`Stats::matched`]): a Zenoh subscriber
    /// of the key (outbound), an outbound bridge on the key expression (inbound). Records
    /// published before then reach nobody.
    pub fn wait_matched(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.stats().matched {
            if Instant::now() >= deadline || !self.is_running() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Whether it still runs (it ends by itself only on an error it cannot get past:
    /// see [`stop`](Self::stop)).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops it, closing its Zenoh session, and returns the error it ended with, if it
    /// ended by itself.
    ///
    /// # Errors
    ///
    /// The error that ended the bridge: [`Error::Zenoh`] when its session refused a
    /// publication, [`Error::Ipclane`] when its local feed failed.
    pub fn stop(mut self) -> Result<(), Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.stop.send_replace(true);
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }

    /// Starts a bridge's thread: `open` makes its task (its error is the caller's), then
    /// the task runs until stopped.
    fn spawn<T, F, Fut>(
        direction: Direction,
        topic: &str,
        keyexpr: &str,
        open: F,
    ) -> Result<Self, Error>
    where
        T: Task,
        F: FnOnce(Arc<Counters>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Error>>,
    {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let (opened, is_open) = mpsc::sync_channel(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ipclane-bridge-rt")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                op: "starting the bridge's runtime",
                source,
            })?;
        let shared = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name(format!("ipclane-bridge-{direction}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match open(shared).await {
                        Ok(task) => {
                            let _ = opened.send(Ok(()));
                            task.run(Stop::new(stopped)).await
                        }
                        Err(e) => {
                            let _ = opened.send(Err(e));
                            Ok(())
                        }
                    }
                })
            })
            .map_err(|source| Error::Io {
                op: "starting the bridge's thread",
                source,
            })?;
        let mut bridge = Self {
            direction,
            topic: topic.to_owned(),
            keyexpr: keyexpr.to_owned(),
            counters,
            stop,
            thread: Some(thread),
        };
        match is_open.recv() {
            Ok(Ok(())) => Ok(bridge),
            Ok(Err(e)) => {
                bridge.finish()?;
                Err(e)
            }
            // The thread ended before it said (a panic, which goes on here).
            Err(mpsc::RecvError) => {
                bridge.finish()?;
                Err(Error::Io {
                    op: "opening the bridge",
                    source: std::io::Error::other("its thread ended before its session opened"),
                })
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::error!(topic = %self.topic, key = %self.keyexpr, "the bridge had stopped: {e}");
        }
    }
}
