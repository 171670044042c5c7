//! The fan-out's vocabulary, shared by its publisher ([`super::fanout`]) and its
//! subscriber peers ([`super::subscribe`]): the feeds, ipclane's wait presets, and the
//! sizes and limits both sides agree on.

use std::time::Duration;

use ipclane::queue::WaitStrategy;

use super::results::Family;
use super::transport::Transport;

/// Slots of the ipclane feed's ring, and the depth of each iceoryx2 subscriber's buffer
/// (the same slack for both lossy feeds): 100 ms of messages at 10,000 a second, 1 ms at
/// 1,000,000.
pub(super) const SLOTS: usize = 1024;

/// The remote feeds' message sizes (the 64 B and 1 KiB; quick: the first).
pub const REMOTE_SIZES: [usize; 2] = [64, 1024];

/// The remote feeds' rates: one for latency (10,000 a second), one past what they carry,
/// whose delivered rate is their throughput (quick: the first).
pub const REMOTE_RATES: [u64; 2] = [10_000, 1_000_000];

/// How long the publisher and its subscribers wait for each other.
pub(super) const CONNECT: Duration = Duration::from_secs(10);

/// One way to fan a feed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// ipclane pub/sub: a broadcast ring in shared memory, blocking subscribers.
    IpclaneShm,
    /// One ipclane `unix:` connection per subscriber, the publisher writing each message
    /// to each in turn.
    IpclaneUnix,
    /// iceoryx2 publish-subscribe with an event service, sleeping subscribers.
    Iceoryx2,
    /// ipclane pub/sub bridged through Zenoh to another host (a network namespace across
    /// a veth pair when the run may make one, else loopback) and read there from a local
    /// feed: [`ipclane_zenoh::Bridge`] both ways.
    Bridged,
    /// Plain Zenoh pub/sub between local processes: the publisher's session listens on
    /// loopback, each subscriber is a peer.
    Zenoh,
}

impl Feed {
    /// Every feed, in the table's order.
    pub const ALL: [Feed; 3] = [Feed::IpclaneShm, Feed::IpclaneUnix, Feed::Iceoryx2];

    /// The feeds beyond one machine (the `remote` workload), in the table's order.
    pub const REMOTE: [Feed; 2] = [Feed::Bridged, Feed::Zenoh];

    /// Its name in a peer's arguments.
    pub fn id(self) -> &'static str {
        match self {
            Feed::IpclaneShm => "pubsub",
            Feed::IpclaneUnix => "unix",
            Feed::Iceoryx2 => "iceoryx2",
            Feed::Bridged => "bridged",
            Feed::Zenoh => "zenoh",
        }
    }

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Feed::IpclaneShm => "ipclane pub/sub (shm)",
            Feed::IpclaneUnix => "ipclane unix, one per subscriber",
            Feed::Iceoryx2 => "iceoryx2 pub/sub (event)",
            Feed::Bridged => "ipclane pub/sub bridged through Zenoh",
            Feed::Zenoh => "Zenoh pub/sub (tcp, peers)",
        }
    }

    /// The feed named `id`.
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn parse(id: &str) -> Self {
        Self::ALL
            .into_iter()
            .chain(Self::REMOTE)
            .find(|f| f.id() == id)
            .unwrap_or_else(|| panic!("unknown feed {id}"))
    }

    /// Who made it.
    pub fn family(self) -> Family {
        match self {
            Feed::Iceoryx2 | Feed::Zenoh => Family::Peer,
            _ => Family::Ipclane,
        }
    }

    /// Whether it delivers every message or none (sockets hold the publisher back):
    /// a gap in what a subscriber receives is then a lost message, not a missed one.
    pub fn lossless(self) -> bool {
        matches!(self, Feed::IpclaneUnix | Feed::Zenoh)
    }

    /// Whether its subscribers are told what they missed, and all of it (ipclane's
    /// `Lagged`): not through a bridge, whose own misses the subscribers of the other
    /// host's feed are not told (its inbound side counts them).
    pub fn tells(self) -> bool {
        self == Feed::IpclaneShm
    }

    /// The transport whose selection (`--transports`) includes this feed (for the remote
    /// feeds, shm pub/sub, which they carry or stand beside).
    pub fn transport(self) -> Transport {
        match self {
            Feed::IpclaneShm => Transport::ShmBlocking,
            Feed::IpclaneUnix => Transport::Unix,
            Feed::Iceoryx2 => Transport::Iceoryx2Event,
            Feed::Bridged | Feed::Zenoh => Transport::ShmBlocking,
        }
    }
}

/// ipclane's wait presets ([`WaitStrategy`]), which a subscriber sets with
/// `Subscriber::set_wait_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// [`WaitStrategy::low_latency`].
    LowLatency,
    /// [`WaitStrategy::balanced`], the default.
    Balanced,
    /// [`WaitStrategy::efficient`].
    Efficient,
    /// [`WaitStrategy::busy_poll`].
    BusyPoll,
}

impl Preset {
    /// Every preset, in the table's order.
    pub const ALL: [Preset; 4] = [
        Preset::LowLatency,
        Preset::Balanced,
        Preset::Efficient,
        Preset::BusyPoll,
    ];

    /// Its name in a peer's arguments and in the table.
    pub fn id(self) -> &'static str {
        match self {
            Preset::LowLatency => "low-latency",
            Preset::Balanced => "balanced",
            Preset::Efficient => "efficient",
            Preset::BusyPoll => "busy-poll",
        }
    }

    /// The preset named `id`.
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn parse(id: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.id() == id)
            .unwrap_or_else(|| panic!("unknown wait preset {id}"))
    }

    /// The strategy it stands for.
    pub fn strategy(self) -> WaitStrategy {
        match self {
            Preset::LowLatency => WaitStrategy::low_latency(),
            Preset::Balanced => WaitStrategy::balanced(),
            Preset::Efficient => WaitStrategy::efficient(),
            Preset::BusyPoll => WaitStrategy::busy_poll(),
        }
    }
}

/// The `<wait>` of a subscriber that keeps its feed's default waiting.
pub const DEFAULT_WAIT: &str = "default";
