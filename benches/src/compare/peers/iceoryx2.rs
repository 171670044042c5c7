//! [iceoryx2](https://github.com/eclipse-iceoryx/iceoryx2) 0.10 as a measured transport:
//! its inter-process publish-subscribe over shared memory (`ipc::Service`, a node of its
//! own per [`duplex`], [`publisher`] or [`subscriber`], no config file), driven by the same
//! [`endpoint`](crate::endpoint) drivers as every other row.
//!
//! What keeps the comparison fair:
//!
//! - **The same work per message.** The payload is a dynamic byte slice (`[u8]`, static
//!   allocation of `max_len` bytes per sample): each send loans a sample of exactly the
//!   message's length and writes every byte of the message into it; each receive copies
//!   the sample's bytes out once into the caller's buffer, which the driver then checks,
//!   as every other row copies each message out once. iceoryx2 could hand the receiver
//!   the shared memory itself (zero copy); the one copy is what every row pays.
//! - **No message lost where the others lose none.** Streams and ping-pong use
//!   [`Delivery::Reliable`]: safe overflow off and the publisher's backpressure strategy
//!   [`RetryUntilDelivered`](BackpressureStrategy::RetryUntilDelivered), so a publisher
//!   that runs ahead waits for room instead of overwriting (iceoryx2's default would
//!   overwrite the oldest unread sample, and a stream would then measure how fast it can
//!   discard). Fan-out uses [`Delivery::Lossy`], iceoryx2's default safe overflow, as a
//!   broadcast ring lets a slow reader lag.
//! - **Room to run ahead.** Each subscriber buffers up to [`BUFFER`] samples (iceoryx2's
//!   default is 2, which would turn every stream into a ping-pong).
//! - **The same waiting.** [`Waiting::BusyPoll`] spins on `receive()`;
//!   [`Waiting::Event`] is iceoryx2's event-driven pattern: a separate event service per
//!   pub/sub service, the publisher notifies after each send and a receiver that finds
//!   nothing sleeps in its listener.
//! - **Set-up outside the measurement.** The constructors return only once the ends are
//!   attached, so no message sent afterwards is lost to a connection still being made.
//!
//! Every node is created with iceoryx2's default config (no config file read) and with
//! its signal handling disabled (the peers' own handling of SIGTERM stays as it is);
//! iceoryx2's log level is set to warnings (or `IOX2_LOG_LEVEL`). Dropping a boxed end
//! drops its ports, services and node, which removes their files under `/tmp/iceoryx2`
//! and `/dev/shm` (prefix `iox2_`); a node of a killed process is cleaned up by the next
//! node created (iceoryx2's `cleanup_dead_nodes_on_creation`).

use std::rc::Rc;
use std::sync::Once;
use std::time::{Duration, Instant};

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::event::PortFactory as EventService;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSubService;

use crate::endpoint::{Recv, Send};

/// The iceoryx2 service variant measured: inter-process, single-threaded ports.
type Ipc = ipc::Service;

/// Samples each subscriber buffers (iceoryx2's `subscriber_max_buffer_size`), enough for
/// a publisher to run well ahead in a stream.
pub const BUFFER: usize = 256;

/// Subscribers a [`publisher`]'s service admits: fan-out to 16, and one to spare. (A
/// [`duplex`] link's services admit one each: a publisher's shared memory holds
/// `subscribers × (BUFFER + 2) + 2` samples of `max_len` bytes, mapped whole though
/// touched only as used.)
pub const MAX_SUBSCRIBERS: usize = 17;

/// Publishers a service admits (one per direction is used).
const MAX_PUBLISHERS: usize = 2;

/// Nodes a service admits: every subscriber's and publisher's, one process each.
const MAX_NODES: usize = MAX_SUBSCRIBERS + MAX_PUBLISHERS + 1;

/// Samples a subscriber may hold at once (each is copied out and released at once).
const BORROWED: usize = 2;

/// Samples a publisher may loan at once (each is written and sent at once).
const LOANED: usize = 2;

/// How long a constructor waits for the other end.
const CONNECT: Duration = Duration::from_secs(10);

/// How long an event-driven receiver sleeps in its listener before looking again, so a
/// notification that never comes costs a pause, never a hang.
const WAKE: Duration = Duration::from_millis(100);

/// How an iceoryx2 receiver waits for a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Polls `receive()` in a spin loop.
    BusyPoll,
    /// Event-driven: the publisher notifies an event service after each send, and the
    /// receiver sleeps in a listener (a timed wait) when nothing is there.
    Event,
}

impl Waiting {
    /// Its name in a peer's arguments and in a table.
    pub fn name(self) -> &'static str {
        match self {
            Waiting::BusyPoll => "busy-poll",
            Waiting::Event => "event",
        }
    }

    /// The waiting a name stands for.
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn parse(name: &str) -> Self {
        [Waiting::BusyPoll, Waiting::Event]
            .into_iter()
            .find(|w| w.name() == name)
            .unwrap_or_else(|| panic!("unknown iceoryx2 waiting {name}"))
    }
}

/// Whether a sender may drop messages a slow subscriber has not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The sender waits for room (no message lost): streams and ping-pong.
    Reliable,
    /// The subscriber's oldest unread sample is overwritten (iceoryx2's default "safe
    /// overflow"): fan-out.
    Lossy,
}

/// Which end of a duplex link this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The measuring process.
    A,
    /// Its peer.
    B,
}

/// Makes iceoryx2 quiet, once per process: warnings and worse, unless `IOX2_LOG_LEVEL`
/// says otherwise.
fn quiet() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| set_log_level_from_env_or(LogLevel::Warn));
}

/// A node of its own for one end: default config (no config file), no signal handlers.
fn node() -> Rc<Node<Ipc>> {
    quiet();
    let node = NodeBuilder::new()
        .config(&Config::default())
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Ipc>()
        .unwrap_or_else(|e| panic!("iceoryx2 node: {e:?}"));
    Rc::new(node)
}

/// A valid iceoryx2 service name for `name` followed by `/suffix`: non-ASCII and NUL
/// characters become `_`, the reserved `iox2://` prefix is escaped, and a name too long
/// keeps its start and gains a hash of the whole, so distinct names stay distinct.
fn service_name(name: &str, suffix: &str) -> ServiceName {
    let mut clean: String = name
        .chars()
        .map(|c| if c.is_ascii() && c != '\0' { c } else { '_' })
        .collect();
    if clean.is_empty() || ServiceName::has_iox2_prefix(&clean) {
        clean.insert(0, '_');
    }
    let max = ServiceName::max_len();
    let mut full = format!("{clean}/{suffix}");
    if full.len() > max {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let tail = format!("#{hash:016x}/{suffix}");
        clean.truncate(max - tail.len());
        full = clean + &tail;
    }
    ServiceName::new(&full).unwrap_or_else(|e| panic!("iceoryx2 service name {full:?}: {e:?}"))
}

/// Retries `attempt` (opening or creating a service, which fails while another process
/// is creating or removing it) until it succeeds, for at most [`CONNECT`].
fn retry<T, E: std::fmt::Debug>(what: &str, attempt: impl FnMut() -> Result<T, E>) -> T {
    crate::retry::retry(&format!("iceoryx2 {what}"), CONNECT, attempt)
}

/// Waits until `ready`, for at most [`CONNECT`].
fn await_ready(what: &str, ready: impl FnMut() -> bool) {
    crate::retry::await_ready(&format!("iceoryx2: {what}"), CONNECT, ready);
}

/// One pub/sub service and, when event-driven, its event service: opened or created with
/// the same settings by every end, as iceoryx2 refuses to open a service whose settings
/// differ from those asked for.
#[derive(Debug)]
struct Services {
    /// The samples.
    samples: PubSubService<Ipc, [u8], ()>,
    /// Samples each subscriber buffers.
    depth: usize,
    /// The notifications of [`Waiting::Event`].
    events: Option<EventService<Ipc>>,
}

impl Services {
    /// The services of the channel `name/suffix`, for up to `subscribers` subscribers
    /// buffering `depth` samples each.
    fn open(
        node: &Node<Ipc>,
        (name, suffix): (&str, &str),
        (subscribers, depth): (usize, usize),
        waiting: Waiting,
        delivery: Delivery,
    ) -> Self {
        let samples_name = service_name(name, suffix);
        let samples = retry(&format!("service {samples_name}"), || {
            node.service_builder(&samples_name)
                .publish_subscribe::<[u8]>()
                .enable_safe_overflow(delivery == Delivery::Lossy)
                .subscriber_max_buffer_size(depth)
                .subscriber_max_borrowed_samples(BORROWED)
                .history_size(0)
                .max_subscribers(subscribers)
                .max_publishers(MAX_PUBLISHERS)
                .max_nodes(MAX_NODES)
                .open_or_create()
        });
        let events = (waiting == Waiting::Event).then(|| {
            let events_name = service_name(name, &format!("{suffix}/event"));
            retry(&format!("event service {events_name}"), || {
                node.service_builder(&events_name)
                    .event()
                    .max_listeners(subscribers)
                    .max_notifiers(MAX_PUBLISHERS)
                    .max_nodes(MAX_NODES)
                    .open_or_create()
            })
        });
        Self {
            samples,
            depth,
            events,
        }
    }

    /// The sending end's ports.
    fn publisher(
        &self,
        max_len: usize,
        delivery: Delivery,
    ) -> (Publisher<Ipc, [u8], ()>, Option<Notifier<Ipc>>) {
        let backpressure = match delivery {
            Delivery::Reliable => BackpressureStrategy::RetryUntilDelivered,
            Delivery::Lossy => BackpressureStrategy::DiscardData,
        };
        let publisher = self
            .samples
            .publisher_builder()
            .initial_max_slice_len(max_len)
            .allocation_strategy(AllocationStrategy::Static)
            .max_loaned_samples(LOANED)
            .backpressure_strategy(backpressure)
            .create()
            .unwrap_or_else(|e| panic!("iceoryx2 publisher: {e:?}"));
        let notifier = self.events.as_ref().map(|events| {
            events
                .notifier_builder()
                .create()
                .unwrap_or_else(|e| panic!("iceoryx2 notifier: {e:?}"))
        });
        (publisher, notifier)
    }

    /// The listener of a receiving end, created before its subscriber so that a
    /// publisher that sees the subscriber also reaches the listener.
    fn listener(&self) -> Option<Listener<Ipc>> {
        self.events.as_ref().map(|events| {
            events
                .listener_builder()
                .create()
                .unwrap_or_else(|e| panic!("iceoryx2 listener: {e:?}"))
        })
    }

    /// The subscriber of a receiving end, once the publisher is there: a subscriber
    /// attaches to the publishers that exist when it is created, before it registers, so
    /// a publisher that sees it registered sends to an attached receiver. (A reliable
    /// publisher whose receiver has not attached yet discards a sample once the buffer is
    /// full, instead of waiting.)
    fn subscriber(&self) -> Subscriber<Ipc, [u8], ()> {
        await_ready("the publisher", || {
            self.samples.dynamic_config().number_of_publishers() >= 1
        });
        let subscriber = self
            .samples
            .subscriber_builder()
            .buffer_size(self.depth)
            .create()
            .unwrap_or_else(|e| panic!("iceoryx2 subscriber: {e:?}"));
        subscriber
            .update_connections()
            .unwrap_or_else(|e| panic!("iceoryx2 subscriber connections: {e:?}"));
        subscriber
    }

    /// Waits until `subscribers` subscribers (and, event-driven, as many listeners) are
    /// attached, then connects `publisher` to them.
    fn await_subscribers(&self, publisher: &Publisher<Ipc, [u8], ()>, subscribers: usize) {
        let attached = || {
            let listeners = self
                .events
                .as_ref()
                .map_or(subscribers, |e| e.dynamic_config().number_of_listeners());
            (
                self.samples.dynamic_config().number_of_subscribers(),
                listeners,
            )
        };
        let deadline = Instant::now() + CONNECT;
        loop {
            let (subscribed, listening) = attached();
            if subscribed >= subscribers && listening >= subscribers {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "iceoryx2 {}: {subscribed} of {subscribers} subscribers and {listening} \
                 listeners after {CONNECT:?}",
                self.samples.name()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        publisher
            .update_connections()
            .unwrap_or_else(|e| panic!("iceoryx2 publisher connections: {e:?}"));
    }
}

/// A sending end: loans a sample of the message's length, writes every byte, sends, and
/// notifies when event-driven.
#[derive(Debug)]
struct Iox2Send {
    publisher: Publisher<Ipc, [u8], ()>,
    notifier: Option<Notifier<Ipc>>,
    _services: Services,
    _node: Rc<Node<Ipc>>,
}

impl Send for Iox2Send {
    fn send(&mut self, message: &[u8]) {
        let sample = self
            .publisher
            .loan_slice_uninit(message.len())
            .unwrap_or_else(|e| panic!("iceoryx2 loan of {} bytes: {e:?}", message.len()));
        sample
            .write_from_slice(message)
            .send()
            .unwrap_or_else(|e| panic!("iceoryx2 send: {e:?}"));
        if let Some(notifier) = &self.notifier {
            notifier
                .notify()
                .unwrap_or_else(|e| panic!("iceoryx2 notify: {e:?}"));
        }
    }
}

/// A receiving end: copies each sample out once; spins or sleeps in its listener while
/// there is none.
#[derive(Debug)]
struct Iox2Recv {
    subscriber: Subscriber<Ipc, [u8], ()>,
    listener: Option<Listener<Ipc>>,
    waits: u64,
    _services: Services,
    _node: Rc<Node<Ipc>>,
}

impl Recv for Iox2Recv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let mut waited = false;
        loop {
            if let Some(sample) = self
                .subscriber
                .receive()
                .unwrap_or_else(|e| panic!("iceoryx2 receive: {e:?}"))
            {
                let payload = sample.payload();
                buf[..payload.len()].copy_from_slice(payload);
                return payload.len();
            }
            if !waited {
                waited = true;
                self.waits += 1;
            }
            match &self.listener {
                None => std::hint::spin_loop(),
                Some(listener) => {
                    listener
                        .timed_wait(|_| {}, WAKE)
                        .unwrap_or_else(|e| panic!("iceoryx2 listener wait: {e:?}"));
                }
            }
        }
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}

/// Both ends of a ping-pong link named `name` (the services `{name}/ab` and `{name}/ba`,
/// each with its event service `…/event` when event-driven), for messages of up to
/// `max_len` bytes, delivered reliably.
///
/// Returns only once this side's publisher sees the other side's subscriber attached and
/// this side's subscriber is attached to the other side's publisher, so no message sent
/// afterwards is lost; both sides wait for each other, so they must run in different
/// processes (or threads).
///
/// # Panics
///
/// When the other side is not there within 10 s, or iceoryx2 fails.
pub fn duplex(
    name: &str,
    max_len: usize,
    waiting: Waiting,
    side: Side,
) -> (
    Box<dyn crate::endpoint::Send>,
    Box<dyn crate::endpoint::Recv>,
) {
    let (out, back) = match side {
        Side::A => ("ab", "ba"),
        Side::B => ("ba", "ab"),
    };
    let node = node();
    let outgoing = Services::open(&node, (name, out), (1, BUFFER), waiting, Delivery::Reliable);
    let incoming = Services::open(
        &node,
        (name, back),
        (1, BUFFER),
        waiting,
        Delivery::Reliable,
    );
    // Publishers first on both sides, so each side's subscriber finds the other's
    // publisher to attach to.
    let (publisher, notifier) = outgoing.publisher(max_len, Delivery::Reliable);
    let listener = incoming.listener();
    let subscriber = incoming.subscriber();
    outgoing.await_subscribers(&publisher, 1);
    let tx = Iox2Send {
        publisher,
        notifier,
        _services: outgoing,
        _node: Rc::clone(&node),
    };
    let rx = Iox2Recv {
        subscriber,
        listener,
        waits: 0,
        _services: incoming,
        _node: node,
    };
    (Box::new(tx), Box::new(rx))
}

/// A publisher on `name` for messages of up to `max_len` bytes, each subscriber buffering
/// `depth` of them; returns once `subscribers` subscribers are attached (and,
/// event-driven, as many listeners), so none misses a message sent afterwards.
///
/// # Panics
///
/// When they are not within 10 s, or iceoryx2 fails.
pub fn publisher(
    name: &str,
    max_len: usize,
    waiting: Waiting,
    delivery: Delivery,
    (subscribers, depth): (usize, usize),
) -> Box<dyn crate::endpoint::Send> {
    let node = node();
    let services = Services::open(
        &node,
        (name, "samples"),
        (MAX_SUBSCRIBERS, depth),
        waiting,
        delivery,
    );
    let (publisher, notifier) = services.publisher(max_len, delivery);
    services.await_subscribers(&publisher, subscribers);
    Box::new(Iox2Send {
        publisher,
        notifier,
        _services: services,
        _node: node,
    })
}

/// A subscriber on `name` buffering `depth` samples (the service is opened or created,
/// with the same settings, by whichever end comes first; the publisher sizes the
/// samples, and a receiver copies out whatever length comes).
///
/// Waits for the publisher: it returns once attached to it, as iceoryx2 attaches a
/// subscriber to the publishers there when it is created. The [`publisher`] waits too
/// (for its subscribers), so the two ends must be made in different processes or
/// threads.
///
/// # Panics
///
/// When the publisher is not there within 10 s, or iceoryx2 fails.
pub fn subscriber(
    name: &str,
    waiting: Waiting,
    delivery: Delivery,
    depth: usize,
) -> Box<dyn crate::endpoint::Recv> {
    let node = node();
    let services = Services::open(
        &node,
        (name, "samples"),
        (MAX_SUBSCRIBERS, depth),
        waiting,
        delivery,
    );
    let listener = services.listener();
    let subscriber = services.subscriber();
    Box::new(Iox2Recv {
        subscriber,
        listener,
        waits: 0,
        _services: services,
        _node: node,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::endpoint::{consume, echo, ping, produce};
    use crate::integrity::{check, seq_of};

    /// A unique name for test `test`.
    fn unique(test: &str, variant: &str) -> String {
        format!("ipclane-bench-test/{}/{test}/{variant}", std::process::id())
    }

    /// Runs `f` on a thread of its own (which makes its own node) and hands back its
    /// result, as a receiver of it bounded in time.
    fn spawn<T: std::marker::Send + 'static>(
        f: impl FnOnce() -> T + std::marker::Send + 'static,
    ) -> mpsc::Receiver<std::thread::Result<T>> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        rx
    }

    /// The result of a thread of [`spawn`], waiting at most 60 s for it.
    fn join<T>(rx: &mpsc::Receiver<std::thread::Result<T>>, what: &str) -> T {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(v)) => v,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{what}: no result within 60 s ({e})"),
        }
    }

    fn ping_pong(waiting: Waiting) {
        for len in [64, 64 << 10] {
            let name = unique("ping_pong", &format!("{}-{len}", waiting.name()));
            let peer = {
                let name = name.clone();
                spawn(move || {
                    let (mut tx, mut rx) = duplex(&name, len, waiting, Side::B);
                    echo(&mut tx, &mut rx, len, 300)
                })
            };
            let here = {
                let name = name.clone();
                spawn(move || {
                    let (mut tx, mut rx) = duplex(&name, len, waiting, Side::A);
                    ping(&mut tx, &mut rx, len, 300, 10).map(|latencies| latencies.len())
                })
            };
            join(&peer, "echo").expect("every echo whole");
            assert_eq!(join(&here, "ping").expect("every reply whole"), 290);
        }
    }

    #[test]
    fn ping_pong_busy_poll() {
        ping_pong(Waiting::BusyPoll);
    }

    #[test]
    fn ping_pong_event() {
        ping_pong(Waiting::Event);
    }

    /// 5 000 messages through a buffer of [`BUFFER`]: the consumer starts late, so the
    /// producer fills the buffer and has to wait for room, and every message still arrives.
    fn reliable_stream(waiting: Waiting) {
        const LEN: usize = 4096;
        const COUNT: u64 = 5_000;
        let name = unique("reliable_stream", waiting.name());
        let producer = {
            let name = name.clone();
            spawn(move || {
                let mut tx = publisher(&name, LEN, waiting, Delivery::Reliable, (1, BUFFER));
                produce(&mut tx, LEN, COUNT);
            })
        };
        let consumer = spawn(move || {
            let mut rx = subscriber(&name, waiting, Delivery::Reliable, BUFFER);
            std::thread::sleep(Duration::from_millis(300));
            consume(&mut rx, LEN, COUNT)
        });
        let stream = join(&consumer, "consume").expect("every message, whole and in order");
        join(&producer, "produce");
        assert_eq!(stream.messages, COUNT);
        assert_eq!(stream.bytes, COUNT * LEN as u64);
    }

    #[test]
    fn reliable_stream_busy_poll() {
        reliable_stream(Waiting::BusyPoll);
    }

    #[test]
    fn reliable_stream_event() {
        reliable_stream(Waiting::Event);
    }

    /// What a fan-out reader saw: how many messages, and the first one's sequence number.
    #[derive(Debug)]
    struct Seen {
        received: u64,
        first: u64,
    }

    /// Reads checked messages, in strictly increasing order, until message `last`.
    fn read_until(rx: &mut dyn Recv, len: usize, last: u64) -> Seen {
        let mut buf = vec![0u8; len];
        let (mut received, mut first, mut previous) = (0, None, None);
        loop {
            let n = rx.recv(&mut buf);
            let seq = seq_of(&buf[..n]).expect("a stamped message");
            check(&buf[..n], seq).expect("a whole message");
            assert!(previous.is_none_or(|p| seq > p), "{seq} after {previous:?}");
            (received, previous) = (received + 1, Some(seq));
            let first = *first.get_or_insert(seq);
            if seq == last {
                return Seen { received, first };
            }
        }
    }

    /// 10 000 messages to 2 subscribers, the publisher never waiting: a prompt reader
    /// sees the last, in order; a reader that starts only once all are sent sees the
    /// last [`BUFFER`] at most (the older ones overwritten), whole and in order.
    fn lossy_fan_out(waiting: Waiting) {
        const LEN: usize = 256;
        const COUNT: u64 = 10_000;
        let name = unique("lossy_fan_out", waiting.name());
        let prompt = {
            let name = name.clone();
            spawn(move || {
                let mut rx = subscriber(&name, waiting, Delivery::Lossy, BUFFER);
                read_until(&mut rx, LEN, COUNT - 1)
            })
        };
        let (sent, all_sent) = mpsc::channel::<()>();
        let late = {
            let name = name.clone();
            spawn(move || {
                let mut rx = subscriber(&name, waiting, Delivery::Lossy, BUFFER);
                all_sent
                    .recv_timeout(Duration::from_secs(60))
                    .expect("the publisher sends all");
                read_until(&mut rx, LEN, COUNT - 1)
            })
        };
        let (done, finished) = mpsc::channel::<()>();
        let sender = spawn(move || {
            let mut tx = publisher(&name, LEN, waiting, Delivery::Lossy, (2, BUFFER));
            produce(&mut tx, LEN, COUNT);
            let _ = sent.send(());
            // The publisher stays until the readers have seen the last message.
            let _ = finished.recv_timeout(Duration::from_secs(60));
        });
        let prompt = join(&prompt, "prompt reader");
        assert!((1..=COUNT).contains(&prompt.received), "{prompt:?}");
        let late = join(&late, "late reader");
        assert!((1..=BUFFER as u64).contains(&late.received), "{late:?}");
        assert!(late.first >= COUNT - BUFFER as u64, "{late:?}");
        drop(done);
        join(&sender, "publisher");
    }

    #[test]
    fn lossy_fan_out_busy_poll() {
        lossy_fan_out(Waiting::BusyPoll);
    }

    #[test]
    fn lossy_fan_out_event() {
        lossy_fan_out(Waiting::Event);
    }

    #[test]
    fn names_are_valid_and_distinct() {
        let long = "x".repeat(400);
        let a = service_name(&long, "ab");
        let b = service_name(&format!("{long}y"), "ab");
        assert!(a.as_str().len() <= ServiceName::max_len());
        assert_ne!(a, b);
        assert!(
            service_name("iox2://é\0", "ab")
                .as_str()
                .starts_with("_iox2://_")
        );
        assert_eq!(Waiting::parse("event"), Waiting::Event);
        assert_eq!(Waiting::parse(Waiting::BusyPoll.name()), Waiting::BusyPoll);
    }
}
