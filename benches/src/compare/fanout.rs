//! The market-data scenario: one publisher (this process) paces messages out to N
//! subscriber processes, which block while there is nothing to read. Each subscriber
//! takes the time it received every message and checks it whole; the publisher matches
//! those times with its own send times. A subscriber that falls too far behind a lossy
//! feed misses messages (it sees a gap in the sequence numbers, never a torn message);
//! a feed over sockets holds the publisher back instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipclane::{PublishOptions, Publisher, Subscriber};

use super::drive::{STOP, cpu_ns, send_stop};
use super::link::{self, Rx, Tx};
use super::peers::iceoryx2::{self, Delivery, Waiting};
use super::results::Family;
use super::transport::Transport;
use crate::endpoint::{self, Recv, Send};
use crate::integrity::{self, Integrity, Stamp};
use crate::peer;
use crate::stats::Latencies;

/// The peer role of a subscriber: `<feed> <address> <len> <times file>`.
pub const SUBSCRIBE: &str = "compare-subscribe";

/// The publisher's period: 20,000 messages a second, a busy market-data feed.
pub const PERIOD: Duration = Duration::from_micros(50);

/// Slots of the ipclane feed's ring, and the depth of each iceoryx2 subscriber's buffer
/// (the same slack for both lossy feeds): 50 ms of messages at [`PERIOD`].
const SLOTS: usize = 1024;

/// How often the stop is sent to a lossy feed, and how far apart: a lapped subscriber
/// may miss one, never all.
const STOPS: usize = 5;
const STOP_GAP: Duration = Duration::from_millis(2);

/// How long the publisher and its subscribers wait for each other.
const CONNECT: Duration = Duration::from_secs(10);

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
}

impl Feed {
    /// Every feed, in the table's order.
    pub const ALL: [Feed; 3] = [Feed::IpclaneShm, Feed::IpclaneUnix, Feed::Iceoryx2];

    /// Its name in a peer's arguments.
    pub fn id(self) -> &'static str {
        match self {
            Feed::IpclaneShm => "pubsub",
            Feed::IpclaneUnix => "unix",
            Feed::Iceoryx2 => "iceoryx2",
        }
    }

    /// Its name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Feed::IpclaneShm => "ipclane pub/sub (shm)",
            Feed::IpclaneUnix => "ipclane unix, one per subscriber",
            Feed::Iceoryx2 => "iceoryx2 pub/sub (event)",
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
            .find(|f| f.id() == id)
            .unwrap_or_else(|| panic!("unknown feed {id}"))
    }

    /// Who made it.
    pub fn family(self) -> Family {
        match self {
            Feed::Iceoryx2 => Family::Peer,
            _ => Family::Ipclane,
        }
    }

    /// Whether it delivers every message or none (sockets hold the publisher back):
    /// a gap in what a subscriber receives is then a lost message, not a missed one.
    pub fn lossless(self) -> bool {
        self == Feed::IpclaneUnix
    }

    /// The transport whose selection (`--transports`) includes this feed.
    pub fn transport(self) -> Transport {
        match self {
            Feed::IpclaneShm => Transport::ShmBlocking,
            Feed::IpclaneUnix => Transport::Unix,
            Feed::Iceoryx2 => Transport::Iceoryx2Event,
        }
    }
}

/// What a fan-out measured.
#[derive(Debug)]
pub struct Fanned {
    /// Messages published (the stops not counted).
    pub published: u64,
    /// Every subscriber's one-way latencies together.
    pub latencies: Latencies,
    /// The worst subscriber's p99, ns.
    pub worst_p99_ns: f64,
    /// Messages received, all subscribers, per second of publishing.
    pub delivered_per_sec: f64,
    /// Time the publisher spent inside its send calls per million messages, s.
    pub publisher_s_per_million: f64,
    /// Messages some subscriber never received, summed.
    pub missed: u64,
}

/// The publishing side of a feed.
enum Publishing {
    Shm(Publisher),
    Sockets(Vec<Tx>),
    Iceoryx2(Tx),
}

impl Send for Publishing {
    fn send(&mut self, message: &[u8]) {
        match self {
            Publishing::Shm(publisher) => publisher.publish(message).expect("publish"),
            Publishing::Sockets(all) => all.iter_mut().for_each(|tx| tx.send(message)),
            Publishing::Iceoryx2(tx) => tx.send(message),
        }
    }
}

/// Fans `feed` out to `subscribers` subscriber processes for `duration`, messages of
/// `len` bytes every [`PERIOD`], the subscribers started by `launcher` on `cpu`.
///
/// # Panics
///
/// When a subscriber receives a message that is not whole or out of order, or fails.
pub fn fan_out(
    launcher: &peer::Launcher,
    feed: Feed,
    name: &str,
    subscribers: usize,
    len: usize,
    duration: Duration,
    cpu: Option<usize>,
) -> Fanned {
    let files: Vec<PathBuf> = (0..subscribers)
        .map(|k| std::env::temp_dir().join(format!("{name}-sub{k}.times")))
        .collect();
    let spawn = |address: &str| -> Vec<peer::Peer> {
        files
            .iter()
            .map(|file| {
                let file = file.display().to_string();
                let args = [feed.id(), address, &len.to_string(), &file];
                launcher.spawn(SUBSCRIBE, &args, cpu)
            })
            .collect()
    };
    let (mut publishing, peers) = match feed {
        Feed::IpclaneShm => {
            let options = PublishOptions::default().slots(SLOTS).max_message_len(len);
            let publisher =
                Publisher::create(name, options).unwrap_or_else(|e| panic!("feed {name}: {e}"));
            let peers = spawn(name);
            await_subscribers(name, subscribers);
            (Publishing::Shm(publisher), peers)
        }
        Feed::IpclaneUnix => {
            let listening = link::listen(Transport::Unix, name, len);
            let peers = spawn(listening.address());
            let url = listening.address().to_owned();
            let listener = listening.into_facade();
            let all = (0..subscribers)
                .map(|_| {
                    let conn = listener
                        .accept()
                        .unwrap_or_else(|e| panic!("accept on {url}: {e}"));
                    let (tx, _rx) = crate::facade::ends(conn);
                    Box::new(tx) as Tx
                })
                .collect();
            (Publishing::Sockets(all), peers)
        }
        Feed::Iceoryx2 => {
            let peers = spawn(name);
            let tx = iceoryx2::publisher(
                name,
                len,
                Waiting::Event,
                Delivery::Lossy,
                (subscribers, SLOTS),
            );
            (Publishing::Iceoryx2(tx), peers)
        }
    };
    let count = (duration.as_nanos() / PERIOD.as_nanos()).max(1) as u64;
    let (sent, busy) = publish_paced(&mut publishing, len, count);
    // A socket loses nothing, and a subscriber closes its socket once it has the stop.
    let stops = if feed == Feed::IpclaneUnix { 1 } else { STOPS };
    for _ in 0..stops {
        std::thread::sleep(STOP_GAP);
        send_stop(&mut publishing, len);
    }
    let mut latencies = Latencies::new();
    let (mut worst_p99_ns, mut received, mut missed) = (0.0f64, 0u64, 0u64);
    for (peer, file) in peers.into_iter().zip(&files) {
        peer.finish();
        let times = read_times(file);
        let _ = std::fs::remove_file(file);
        let mut own = Latencies::new();
        for (seq, at) in &times {
            let sent_at = usize::try_from(*seq)
                .ok()
                .and_then(|i| sent.get(i))
                .unwrap_or_else(|| panic!("a subscriber reported message {seq} of {count}"));
            own.record_ns(at.saturating_sub(*sent_at));
        }
        worst_p99_ns = worst_p99_ns.max(own.quantile(0.99).as_nanos() as f64);
        latencies.merge(&own);
        received += times.len() as u64;
        missed += count - times.len() as u64;
    }
    drop(publishing);
    let span = Duration::from_nanos(sent.last().copied().unwrap_or(0) - sent[0]).max(PERIOD);
    Fanned {
        published: count,
        latencies,
        worst_p99_ns,
        delivered_per_sec: received as f64 / span.as_secs_f64(),
        publisher_s_per_million: busy.as_secs_f64() * 1e6 / count as f64,
        missed,
    }
}

/// Waits until `n` subscribers of the ipclane feed `name` are there.
fn await_subscribers(name: &str, n: usize) {
    crate::retry::await_ready(&format!("{n} subscribers of {name}"), CONNECT, || {
        ipclane::subscribers(name).map_or(0, |s| s.len()) >= n
    });
}

/// Publishes `count` stamped messages, one every [`PERIOD`] (spinning on the clock in
/// between, as a sleep is far coarser); returns each send time, and the time spent
/// inside the send calls (the publisher's own cost: its process CPU counts the pacing).
fn publish_paced(tx: &mut impl Send, len: usize, count: u64) -> (Vec<u64>, Duration) {
    let mut out = vec![0u8; len];
    let mut sent = Vec::with_capacity(count as usize);
    let mut busy = Duration::ZERO;
    let start = Instant::now();
    for seq in 0..count {
        Stamp::new(seq).write(&mut out);
        let due = start + PERIOD * u32::try_from(seq).unwrap_or(u32::MAX);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        sent.push(endpoint::now_ns());
        let t0 = Instant::now();
        tx.send(&out);
        busy += t0.elapsed();
    }
    (sent, busy)
}

/// The `(sequence number, receive time)` pairs a subscriber wrote.
fn read_times(file: &Path) -> Vec<(u64, u64)> {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    bytes
        .chunks_exact(16)
        .map(|pair| {
            let (seq, at) = pair.split_at(8);
            (
                u64::from_le_bytes(seq.try_into().expect("8 bytes")),
                u64::from_le_bytes(at.try_into().expect("8 bytes")),
            )
        })
        .collect()
}

/// An ipclane subscriber as a receiving end: a lap is a gap in the sequence numbers,
/// which the subscriber counts as missed.
struct ShmSubscriber(Subscriber);

impl Recv for ShmSubscriber {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        loop {
            match self.0.recv_into(buf) {
                Ok(n) => return n,
                Err(ipclane::Error::Lagged { .. }) => continue,
                Err(e) => panic!("subscriber: {e}"),
            }
        }
    }

    fn waits(&self) -> u64 {
        0
    }
}

/// Plays a subscriber: receives until the stop, checking every message whole and its
/// sequence number rising, and writes the receive times to the file it was given.
///
/// # Panics
///
/// When a message is not whole or not in order.
pub fn subscribe(args: &[String]) {
    let (feed, address, file) = (Feed::parse(&args[0]), &args[1], &args[3]);
    let len: usize = args[2].parse().expect("a message length");
    let mut rx: Rx = match feed {
        Feed::IpclaneShm => {
            let subscriber =
                crate::retry::retry(&format!("subscribe to {address}"), CONNECT, || {
                    Subscriber::open(address)
                });
            Box::new(ShmSubscriber(subscriber))
        }
        Feed::IpclaneUnix => link::dial(Transport::Unix, address, len).1,
        Feed::Iceoryx2 => iceoryx2::subscriber(address, Waiting::Event, Delivery::Lossy, SLOTS),
    };
    let cpu0 = cpu_ns();
    let times = receive_until_stop(&mut rx, len, feed.lossless())
        .unwrap_or_else(|e| panic!("{} subscriber: {e}", feed.label()));
    peer::report(format!("cpu {}", cpu_ns() - cpu0));
    let mut out = Vec::with_capacity(times.len() * 16);
    for (seq, at) in times {
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
    }
    std::fs::File::create(file)
        .and_then(|mut f| f.write_all(&out))
        .unwrap_or_else(|e| panic!("write {file}: {e}"));
}

/// Receives until the stop; each message's sequence number and receive time.
///
/// # Errors
///
/// When a message is not whole, or its number is not above the one before, or (on a
/// `lossless` feed) not the one right after it.
fn receive_until_stop(
    rx: &mut impl Recv,
    len: usize,
    lossless: bool,
) -> Result<Vec<(u64, u64)>, Integrity> {
    let mut buf = vec![0u8; len];
    let mut times = Vec::new();
    let mut next = 0;
    loop {
        let n = rx.recv(&mut buf);
        let at = endpoint::now_ns();
        let message = &buf[..n];
        let seq = integrity::seq_of(message).ok_or(Integrity::Length {
            expected: len,
            got: n,
        })?;
        integrity::check(message, seq)?;
        if seq == STOP {
            return Ok(times);
        }
        if seq < next {
            return Err(Integrity::Repeated {
                expected: next,
                got: seq,
            });
        }
        if lossless && seq > next {
            return Err(Integrity::Lost {
                expected: next,
                got: seq,
            });
        }
        next = seq + 1;
        times.push((seq, at));
    }
}
