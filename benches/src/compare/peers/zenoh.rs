//! Beyond one machine: Zenoh pub/sub as a feed (the peer a user might pick instead of
//! ipclane for fan-out across hosts), and ipclane's bridge to it.
//!
//! - Plain Zenoh: the publisher's session listens on loopback, each subscriber process is
//!   a peer connecting to it; reliable, and the publisher blocks on congestion rather
//!   than drop (as the bridge does), so the feed is lossless. The subscriber gets each
//!   sample as Zenoh's bytes and copies them into its buffer: the one copy every other
//!   row makes.
//! - Bridged: the publisher writes an ipclane feed; an outbound bridge in its process
//!   forwards it to Zenoh; an inbound bridge process on the "other host" (another
//!   network namespace, across a veth pair, when the run may make one) publishes it into
//!   a local feed there, which the subscribers read.

use std::time::Duration;

use ipclane_zenoh::zenoh::qos::CongestionControl;
use ipclane_zenoh::zenoh::{self, Wait};

use crate::endpoint::{Recv, Send};
use crate::peer;

/// The key every measured Zenoh feed publishes on (each row has its own sessions).
pub const KEY: &str = "ipclane/bench/feed";

/// The liveliness keys of the subscribers, which the publisher counts.
const SUBSCRIBERS: &str = "ipclane/bench/subscriber";

/// The peer role of an inbound bridge: `<feed> <endpoint> <max message len> <slots>`.
pub const BRIDGE_IN: &str = "compare-zenoh-bridge-in";

/// A Zenoh peer's configuration: no scouting, only `listen` or `connect`.
fn config(listen: Option<&str>, connect: Option<&str>) -> ipclane_zenoh::Config {
    let mut config = ipclane_zenoh::Config::peer();
    if let Some(endpoint) = listen {
        config = config.listen(endpoint).expect("a listen endpoint");
    }
    if let Some(endpoint) = connect {
        config = config.connect(endpoint).expect("a connect endpoint");
    }
    config
}

/// Opens a session as `config` says, retrying while its peer is not there yet.
fn open(config: &ipclane_zenoh::Config) -> zenoh::Session {
    let zenoh = config.to_zenoh().expect("a Zenoh configuration");
    crate::retry::retry("open a Zenoh session", super::super::feed::CONNECT, || {
        zenoh::open(zenoh.clone()).wait()
    })
}

/// A TCP endpoint on loopback with a port free now.
pub fn loopback_endpoint() -> String {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("tcp/{}", socket.local_addr().expect("the port's address"))
}

/// The publishing side of a plain Zenoh feed.
#[derive(Debug)]
pub struct ZenohSend {
    publisher: zenoh::pubsub::Publisher<'static>,
    session: zenoh::Session,
}

impl ZenohSend {
    /// Listens on `endpoint` and waits until `subscribers` subscriber processes are
    /// there.
    ///
    /// # Panics
    ///
    /// When Zenoh fails, or the subscribers do not come.
    pub fn new(endpoint: &str, subscribers: usize) -> Self {
        let session = open(&config(Some(endpoint), None));
        let publisher = session
            .declare_publisher(KEY)
            .congestion_control(CongestionControl::Block)
            .wait()
            .expect("declare a Zenoh publisher");
        let key = format!("{SUBSCRIBERS}/*");
        crate::retry::await_ready(
            &format!("{subscribers} Zenoh subscribers"),
            super::super::feed::CONNECT,
            || {
                let there = session
                    .liveliness()
                    .get(&key)
                    .wait()
                    .map_or(0, |replies| replies.iter().count());
                there >= subscribers
                    && publisher
                        .matching_status()
                        .wait()
                        .is_ok_and(|m| m.matching())
            },
        );
        Self { publisher, session }
    }
}

impl Send for ZenohSend {
    fn send(&mut self, message: &[u8]) {
        self.publisher
            .put(message.to_vec())
            .wait()
            .expect("a Zenoh publication");
    }
}

impl Drop for ZenohSend {
    fn drop(&mut self) {
        let _ = self.session.close().wait();
    }
}

/// A subscriber of a plain Zenoh feed.
#[derive(Debug)]
pub struct ZenohRecv {
    subscriber:
        zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
    _token: zenoh::liveliness::LivelinessToken,
    _session: zenoh::Session,
    waits: u64,
}

impl ZenohRecv {
    /// Connects to the publisher at `endpoint`, subscribes, and says it is there.
    ///
    /// # Panics
    ///
    /// When Zenoh fails.
    pub fn new(endpoint: &str) -> Self {
        let session = open(&config(None, Some(endpoint)));
        let subscriber = session
            .declare_subscriber(KEY)
            .wait()
            .expect("declare a Zenoh subscriber");
        let token = session
            .liveliness()
            .declare_token(format!("{SUBSCRIBERS}/{}", std::process::id()))
            .wait()
            .expect("declare a liveliness token");
        Self {
            subscriber,
            _token: token,
            _session: session,
            waits: 0,
        }
    }
}

impl Recv for ZenohRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        let sample = match self.subscriber.try_recv() {
            Ok(Some(sample)) => sample,
            _ => {
                self.waits += 1;
                self.subscriber.recv().expect("a Zenoh sample")
            }
        };
        let payload = sample.payload().to_bytes();
        let n = payload.len().min(buf.len());
        buf[..n].copy_from_slice(&payload[..n]);
        n
    }

    fn waits(&self) -> u64 {
        self.waits
    }
}

/// Plays an inbound bridge (the role [`BRIDGE_IN`]): from [`KEY`] into the feed
/// `args[0]`, listening on `args[1]`, until its subscribers came and went.
///
/// # Panics
///
/// When the bridge fails.
pub fn bridge_in(args: &[String]) {
    let (feed, endpoint) = (&args[0], &args[1]);
    let len: usize = args[2].parse().expect("a message length");
    let slots: usize = args[3].parse().expect("a slot count");
    let options = ipclane_zenoh::InOptions::default().publish(
        ipclane::PublishOptions::default()
            .slots(slots)
            .max_message_len(len),
    );
    let bridge =
        ipclane_zenoh::Bridge::inbound_with(feed, KEY, &config(Some(endpoint), None), options)
            .unwrap_or_else(|e| panic!("inbound bridge into {feed}: {e}"));
    let count = || ipclane::subscribers(feed).map_or(0, |s| s.len());
    crate::retry::await_ready(
        "the bridged feed's subscribers",
        super::super::feed::CONNECT,
        || count() > 0,
    );
    while count() > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = bridge.stats();
    peer::report(format!("bridged {} {}", stats.records, stats.missed));
    bridge.stop().expect("the inbound bridge's end");
}
