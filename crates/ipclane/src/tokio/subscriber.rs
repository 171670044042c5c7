//! Feeds, awaited: a subscriber that waits in the runtime, woken by its doorbell.

use std::future::poll_fn;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::task::Poll;
use std::time::Duration;

use ::tokio::io::Interest;
use bytes::Bytes;

use super::ready::{Ready, waiting};
use crate::feed_bells::Spot;
use crate::queue::{BroadcastReader, QueueError, Segment, WaitStats, WaitStrategy};
use crate::{Error, SubscribeOptions};

/// A reader of a feed in an async task: [`crate::Subscriber`] whose receives are awaited.
///
/// A receive looks at the ring as the blocking one does (spinning while that pays, by the
/// [`WaitStrategy`]); where the blocking one would sleep on the futex, it marks itself
/// parked in the feed's table of bells, arms its wait in the async form and awaits its
/// doorbell, a datagram socket of its own that the publisher rings (once per re-arm of
/// any async subscriber, never per message while they keep up: see
/// `docs/architecture.md`, "Doorbells"). It awaits the publisher's process too, through a
/// pidfd, so a publisher killed is `Disconnected` at once. A wait also ends after
/// [`SUBSCRIBER_BACKSTOP`] to look and ask whether the publisher lives: no timer drives the
/// receive, but a ring that never came (a hostile process wrote the table, the pidfd
/// named another process than the publisher's) costs at most that, never a hang.
/// Blocking and async subscribers mix freely on one feed.
///
/// [`recv`](Self::recv) and [`recv_into`](Self::recv_into) are **cancel-safe**: a future
/// dropped before it completed took no message, which stays next.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ipclane::Error> {
/// use ipclane::{PublishOptions, Publisher};
///
/// let name = format!("doc-async-feed-{}", std::process::id());
/// let mut publisher = Publisher::create(&name, PublishOptions::default())?;
/// let mut subscriber = ipclane::tokio::Subscriber::open(&name).await?;
/// let reader = tokio::spawn(async move { subscriber.recv().await });
/// publisher.publish(b"EURUSD 1.0842")?;
/// assert_eq!(reader.await.unwrap()?, &b"EURUSD 1.0842"[..]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Subscriber {
    inner: crate::Subscriber,
    /// Its entry in the feed's table of bells; the bell is registered below.
    spot: Spot,
    bell: Ready,
    /// The publisher's process, readable once it exited; `None` where no pidfd tells
    /// (then the publisher is asked after every liveness period).
    publisher: Option<Ready>,
}

/// The longest an async subscriber's wait goes before it looks again and asks whether
/// the publisher lives, when a pidfd watches the publisher (without one: the wait
/// strategy's liveness period).
pub const SUBSCRIBER_BACKSTOP: Duration = Duration::from_secs(1);

/// Which look of a receive's loop an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Before arming: may spin while that pays.
    Spinning,
    /// After arming, or after the publisher went: must not wait.
    Once,
}

/// What woke a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woken {
    /// Its bell rang.
    Rung,
    /// The publisher's process exited.
    Exited,
    /// The backstop (without a pidfd: the liveness period) ended.
    Backstop,
}

impl Subscriber {
    /// Subscribes to the feed `name`, starting with what is published from now on (and
    /// after being lapped, with the oldest message still there), as
    /// [`crate::Subscriber::open`] does.
    ///
    /// # Errors
    ///
    /// Those of [`open_with`](Self::open_with).
    pub async fn open(name: &str) -> Result<Self, Error> {
        Self::open_with(name, SubscribeOptions::default()).await
    }

    /// Subscribes to the feed `name` as `options` say (the open runs on tokio's blocking
    /// pool: it may wait for a publisher still starting).
    ///
    /// # Errors
    ///
    /// Those of [`crate::Subscriber::open_with`], and those of
    /// [`from_blocking`](Self::from_blocking).
    pub async fn open_with(name: &str, options: SubscribeOptions) -> Result<Self, Error> {
        let name = name.to_owned();
        let inner = super::blocking(move || crate::Subscriber::open_with(&name, options)).await?;
        Self::from_blocking(inner)
    }

    /// Makes a blocking subscriber an async one, at its position.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or with no descriptor left, or when the
    /// publisher's process is in another network namespace than this thread (the
    /// doorbell is an abstract Unix socket, which only its own namespace reaches: a
    /// blocking [`crate::Subscriber`] is woken by the futex wherever the memory is shared);
    /// [`Error::Protocol`] when the feed already has 128 async subscribers;
    /// [`Error::Segment`] when the feed has no table of bells (its publisher is of an
    /// earlier version).
    pub fn from_blocking(mut inner: crate::Subscriber) -> Result<Self, Error> {
        super::ready::runtime()?;
        same_network_namespace(inner.publisher_pid())?;
        let spot = Spot::take(inner.name())?;
        let bell = Ready::new(spot.bell(), Interest::READABLE)?;
        let pid = inner.publisher_pid();
        let reader = inner.reader();
        let publisher = watch_publisher(reader, pid);
        let publisher = inner.tracked(publisher)?;
        Ok(Self {
            inner,
            spot,
            bell,
            publisher: match publisher {
                Some(fd) => Some(Ready::new(fd.as_fd(), Interest::READABLE)?),
                None => None,
            },
        })
    }

    /// The next message, awaiting it as long as needed. Cancel-safe.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Subscriber::recv`]: [`Error::Lagged`] when the publisher overwrote
    /// messages before this subscriber got to them, [`Error::Disconnected`] once the
    /// publisher is gone and everything was read.
    pub async fn recv(&mut self) -> Result<Bytes, Error> {
        self.until(|reader, look| match look {
            Look::Spinning => reader.recv_spin(),
            Look::Once => reader.try_recv(),
        })
        .await
    }

    /// Like [`recv`](Self::recv), copying the message into `buf` and returning its
    /// length: no allocation. Cancel-safe.
    ///
    /// # Errors
    ///
    /// Those of `recv`, and [`Error::BufferTooSmall`] when `buf` is shorter than the
    /// message (which stays next).
    pub async fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.until(|reader, look| match look {
            Look::Spinning => reader.recv_into_spin(buf),
            Look::Once => reader.try_recv_into(buf),
        })
        .await
    }

    /// The next message if there is one, `Ok(None)` if not, as
    /// [`crate::Subscriber::try_recv`] does.
    ///
    /// # Errors
    ///
    /// Those of `recv`.
    pub fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        self.inner.try_recv()
    }

    /// The newest message, skipping everything older; `Ok(None)` before the first.
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] for a corrupted ring.
    pub fn latest(&mut self) -> Result<Option<Bytes>, Error> {
        self.inner.latest()
    }

    /// Sequence number of the next message this subscriber receives.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The declared type of the messages ([`SubscribeOptions::message_type`]).
    pub fn message_type(&self) -> Option<crate::MessageType> {
        self.inner.message_type()
    }

    /// The feed's publisher and when it made the feed, as
    /// [`crate::Subscriber::publisher`] says.
    pub fn publisher(&self) -> &crate::segment::CreatorInfo {
        self.inner.publisher()
    }

    /// Sets how receives spin before they park (the sleep is the bell's, not the futex's).
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.inner.set_wait_strategy(strategy);
    }

    /// What this subscriber's waiting cost so far (its spins; it never sleeps on the
    /// futex, so its `parks` stay zero).
    pub fn wait_stats(&self) -> WaitStats {
        self.inner.wait_stats()
    }

    /// The loop of every receive: a look that may spin, as the blocking receive does
    /// before it sleeps, then, after arming, one that must not wait. Every way out
    /// disarms and unparks; a cancelled await leaves the wait armed, which the next call
    /// goes on with.
    async fn until<T>(
        &mut self,
        mut attempt: impl FnMut(&mut BroadcastReader<Segment>, Look) -> Result<T, QueueError>,
    ) -> Result<T, Error> {
        loop {
            let mut got = attempt(self.inner.reader(), Look::Spinning);
            if matches!(got, Err(QueueError::Empty)) {
                if let Err(e) = self.spot.park() {
                    self.disarm();
                    return Err(e);
                }
                let reader = self.inner.reader();
                reader.arm_async();
                // The last look: after arming, so a write after it rings.
                got = attempt(reader, Look::Once);
            }
            if !matches!(got, Err(QueueError::Empty)) {
                self.disarm();
                return self.inner.tracked(got);
            }
            // Borrows the descriptors alone: the future stays `Send` (the reader is not
            // `Sync`).
            let period = match self.publisher {
                Some(_) => SUBSCRIBER_BACKSTOP,
                None => self.inner.liveness_period(),
            };
            let woken = woken(&self.bell, self.publisher.as_ref(), period).await;
            self.disarm();
            let woken = woken?;
            if woken != Woken::Rung {
                let reader = self.inner.reader();
                match reader.is_writer_alive() {
                    Ok(true) if woken == Woken::Exited => {
                        // Exited, yet its writer side lives: not the process the pidfd
                        // watched (the feed changed hands). Ask after each liveness period
                        // from now on.
                        self.publisher = None;
                    }
                    // The backstop: look again.
                    Ok(true) => {}
                    Ok(false) => {
                        // What it published before it went is still read.
                        let last = match attempt(reader, Look::Once) {
                            Err(QueueError::Empty) => Err(QueueError::Disconnected),
                            other => other,
                        };
                        return self.inner.tracked(last);
                    }
                    Err(e) => return self.inner.tracked(Err(e)),
                }
            }
        }
    }

    fn disarm(&mut self) {
        self.inner.reader().disarm_async();
        self.spot.unpark();
    }
}

/// Waits for a ring on `bell`, the exit of the process `publisher` watches, or the end
/// of `period`, and takes the rings queued on the bell. Cancel-safe: it takes nothing a
/// later call would miss.
async fn woken(bell: &Ready, publisher: Option<&Ready>, period: Duration) -> Result<Woken, Error> {
    let mut sleep = std::pin::pin!(::tokio::time::sleep(period));
    poll_fn(|cx| {
        match bell.0.poll_read_ready(cx) {
            Poll::Ready(Ok(mut ready)) => {
                crate::shm::drain(ready.get_inner().as_fd());
                ready.clear_ready();
                return Poll::Ready(Ok(Woken::Rung));
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(waiting(e))),
            Poll::Pending => {}
        }
        if let Some(publisher) = publisher {
            match publisher.0.poll_read_ready(cx) {
                // Readable for good once it exited: not cleared.
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(Woken::Exited)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(waiting(e))),
                Poll::Pending => {}
            }
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(Woken::Backstop));
        }
        Poll::Pending
    })
    .await
}

/// Refuses a publisher in another network namespace than this thread, which could not
/// ring this subscriber's doorbell; a namespace that cannot be read (another user's
/// process, one gone) passes.
fn same_network_namespace(pid: u32) -> Result<(), Error> {
    let of = |path: String| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let here = of("/proc/thread-self/ns/net".to_owned());
    let publisher = of(format!("/proc/{pid}/ns/net"));
    match (here, publisher) {
        (Some(here), Some(there)) if here != there => Err(Error::Io {
            op: "subscribe in async form",
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!(
                    "the feed's publisher (pid {pid}) is in another network namespace, \
                     where this subscriber's doorbell cannot be rung; subscribe with the \
                     blocking Subscriber"
                ),
            ),
        }),
        _ => Ok(()),
    }
}

/// A pidfd of the feed's publisher, the process `pid` (the feed segment's creator, as its
/// header says): `None` where the kernel has none to give, or the writer is gone already
/// (then the publisher is asked after every liveness period). Opened, then the writer's
/// side asked: where the creator is the writer, as with every [`crate::Publisher`], a
/// writer alive after the pidfd was opened means the id was not reused, and the pidfd is
/// the publisher's. Where it is not (a header that lies, a creator in another pid
/// namespace, a writer that is a child of the creator), the pidfd may watch another
/// process: its exit is then taken for what it is (the writer is asked), and a publisher
/// killed unseen is found by the backstop ([`SUBSCRIBER_BACKSTOP`]).
fn watch_publisher(
    reader: &BroadcastReader<Segment>,
    pid: u32,
) -> Result<Option<std::os::fd::OwnedFd>, QueueError> {
    let fd = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
    // Asked after opening: the pidfd is the publisher's if it still lives.
    let alive = reader.is_writer_alive()?;
    Ok(fd.filter(|_| alive))
}
