//! The market-data scenario: one publisher (this process) paces messages out at a set
//! rate ([`super::pacing`]) to N subscriber processes ([`super::subscribe`]), which
//! block while there is nothing to read. Each subscriber takes the time it received
//! every message and checks it whole; the publisher matches those times with its own
//! send times. A subscriber that falls too far behind a lossy feed misses messages (it
//! sees a gap in the sequence numbers, never a torn message; ipclane's subscribers are
//! told how many, and the gaps must match); a feed over sockets holds the publisher
//! back instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ipclane::{PublishOptions, Publisher};
use ipclane_testkit::netns::Namespaces;

use super::drive::{STOP, send_stop};
use super::feed::{CONNECT, DEFAULT_WAIT, Feed, Preset, SLOTS};
use super::link::{self, Tx};
use super::machine::percentiles;
use super::pacing::{self, Paced};
use super::peers::iceoryx2::{self, Delivery, Waiting};
use super::peers::zenoh;
use super::results::{FanoutRow, FloorSpan};
use super::subscribe::SUBSCRIBE;
use super::transport::Transport;
use crate::endpoint::Send;
use crate::integrity::Integrity;
use crate::peer;
use crate::stats::Latencies;

/// How often the stop is sent to a lossy feed, and how far apart: a lapped subscriber
/// may miss one, never all.
const STOPS: usize = 5;
const STOP_GAP: Duration = Duration::from_millis(2);

/// One fan-out row: which feed, to how many, how fast, for how long.
#[derive(Debug, Clone, Copy)]
pub struct Fan {
    /// The feed.
    pub feed: Feed,
    /// Subscriber processes.
    pub subscribers: usize,
    /// Messages a second.
    pub rate: u64,
    /// Message bytes.
    pub len: usize,
    /// How long the publisher publishes.
    pub duration: Duration,
    /// The wait preset of ipclane's subscribers; `None`: the default.
    pub wait: Option<Preset>,
}

/// The publishing side of a feed.
enum Publishing {
    Shm(Publisher),
    Sockets(Vec<Tx>),
    Iceoryx2(Tx),
    Zenoh(Tx),
    Bridged(Box<Bridged>),
}

/// An ipclane feed here, bridged to a feed of the same records on the other host.
struct Bridged {
    publisher: Publisher,
    /// The bridge out, in this process.
    _out: ipclane_zenoh::Bridge,
    /// The bridge in, a process on the other host (it ends when its subscribers did).
    inbound: Option<peer::Peer>,
    /// The other host: a network namespace across a veth pair, when one could be made
    /// (dropped last: its process first).
    namespaces: Option<Namespaces>,
}

impl Send for Publishing {
    fn send(&mut self, message: &[u8]) {
        match self {
            Publishing::Shm(publisher) => publisher.publish(message).expect("publish"),
            Publishing::Sockets(all) => all.iter_mut().for_each(|tx| tx.send(message)),
            Publishing::Iceoryx2(tx) | Publishing::Zenoh(tx) => tx.send(message),
            Publishing::Bridged(b) => b.publisher.publish(message).expect("publish"),
        }
    }
}

/// Fans `fan.feed` out to `fan.subscribers` subscriber processes, started by `launcher`
/// on `cpu`, and measures it (the row's floor is left for the caller).
///
/// # Panics
///
/// When a subscriber receives a message that is not whole or out of order, or misses
/// other messages than it was told, or fails.
pub fn fan_out(launcher: &peer::Launcher, fan: &Fan, name: &str, cpu: Option<usize>) -> FanoutRow {
    let files: Vec<PathBuf> = (0..fan.subscribers)
        .map(|k| std::env::temp_dir().join(format!("{name}-sub{k}.times")))
        .collect();
    let (mut publishing, peers) = start(launcher, fan, name, &files, cpu);
    let paced = pacing::publish_paced(&mut publishing, fan.len, fan.rate, fan.duration);
    // A socket loses nothing, and a subscriber closes its socket once it has the stop.
    let stops = if fan.feed.lossless() { 1 } else { STOPS };
    for _ in 0..stops {
        std::thread::sleep(STOP_GAP);
        send_stop(&mut publishing, fan.len);
    }
    let heard: Vec<Heard> = peers
        .into_iter()
        .zip(&files)
        .map(|(peer, file)| hear(peer, file, &paced.sent, fan.feed))
        .collect();
    let mut path = None;
    if let Publishing::Bridged(bridged) = &mut publishing {
        // Its subscribers have ended: so does it, saying what it forwarded.
        if let Some(inbound) = bridged.inbound.take() {
            let lines = inbound.finish();
            let Some([forwarded, _missed]) = reported(&lines, "bridged")
                .as_deref()
                .map(|r| <[u64; 2]>::try_from(r).unwrap_or_else(|_| panic!("bridged {r:?}")))
            else {
                panic!("the inbound bridge said nothing: {lines:?}");
            };
            // Its subscribers read what it published: no more (their stops included).
            for h in &heard {
                assert!(
                    h.received <= forwarded,
                    "a subscriber of the bridged feed got {} of {forwarded} forwarded",
                    h.received
                );
            }
        }
        path = Some(if bridged.namespaces.is_some() {
            "across a veth pair"
        } else {
            "on loopback"
        });
    }
    drop(publishing);
    let mut row = row(fan, &paced, &heard);
    if let Some(path) = path {
        // Which way it went, which the run chose (a veth pair needs root).
        row.transport = format!("{} ({path})", row.transport);
    }
    row
}

/// Creates the feed, starts its subscribers (each with its times file) and waits until
/// they are all there.
fn start(
    launcher: &peer::Launcher,
    fan: &Fan,
    name: &str,
    files: &[PathBuf],
    cpu: Option<usize>,
) -> (Publishing, Vec<peer::Peer>) {
    let (feed, len, subscribers) = (fan.feed, fan.len, fan.subscribers);
    let wait = fan.wait.map_or(DEFAULT_WAIT, Preset::id);
    let spawn = |address: &str| -> Vec<peer::Peer> {
        files
            .iter()
            .map(|file| {
                let file = file.display().to_string();
                let args = [feed.id(), address, &len.to_string(), &file, wait];
                launcher.spawn(SUBSCRIBE, &args, cpu)
            })
            .collect()
    };
    match feed {
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
        Feed::Zenoh => {
            let endpoint = zenoh::loopback_endpoint();
            let peers = spawn(&endpoint);
            let tx = zenoh::ZenohSend::new(&endpoint, subscribers);
            (Publishing::Zenoh(Box::new(tx)), peers)
        }
        Feed::Bridged => {
            let (bridged, there) = bridge(launcher, name, len, cpu);
            let peers = spawn(&there);
            await_subscribers(&there, subscribers);
            (Publishing::Bridged(Box::new(bridged)), peers)
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
    }
}

/// The feed `name` here, bridged out to Zenoh and into the feed `<name>-there` by an
/// inbound bridge process on the "other host" (on `cpu`): across a veth pair between two
/// network namespaces when this run may make them (root; the outbound bridge's threads
/// in the first, the inbound bridge in the second), else on loopback.
fn bridge(
    launcher: &peer::Launcher,
    name: &str,
    len: usize,
    cpu: Option<usize>,
) -> (Bridged, String) {
    let there = format!("{name}-there");
    let namespaces = Namespaces::new("bench").ok();
    let endpoint = match &namespaces {
        Some(ns) => format!("tcp/{}:7447", ns.addr(1)),
        None => zenoh::loopback_endpoint(),
    };
    let (len_arg, slots) = (len.to_string(), SLOTS.to_string());
    let inbound = launcher.spawn_in(
        namespaces.as_ref().map(|ns| ns.name(1)),
        zenoh::BRIDGE_IN,
        &[&there, &endpoint, &len_arg, &slots],
        cpu,
    );
    let options = PublishOptions::default().slots(SLOTS).max_message_len(len);
    let publisher = Publisher::create(name, options).unwrap_or_else(|e| panic!("feed {name}: {e}"));
    let config = ipclane_zenoh::Config::peer()
        .connect(&endpoint)
        .expect("the bridge's endpoint");
    // The other host's bridge may not listen yet. Across namespaces, this host is the
    // first: the bridge's threads start in it, from a thread that entered it.
    let open = || {
        crate::retry::retry("bridge out", CONNECT, || {
            ipclane_zenoh::Bridge::out(name, zenoh::KEY, &config)
        })
    };
    let out = match &namespaces {
        Some(ns) => std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    ns.enter(0);
                    open()
                })
                .join()
                .expect("the bridge out's start")
        }),
        None => open(),
    };
    assert!(out.wait_matched(CONNECT), "the bridge out saw no bridge in");
    let bridged = Bridged {
        publisher,
        _out: out,
        inbound: Some(inbound),
        namespaces,
    };
    (bridged, there)
}

/// Waits until `n` subscribers of the ipclane feed `name` are there.
fn await_subscribers(name: &str, n: usize) {
    crate::retry::await_ready(&format!("{n} subscribers of {name}"), CONNECT, || {
        ipclane::subscribers(name).map_or(0, |s| s.len()) >= n
    });
}

/// What one subscriber received, matched with the send times.
struct Heard {
    /// Its one-way latencies.
    latencies: Latencies,
    /// Messages it received.
    received: u64,
    /// Messages it never saw.
    missed: u64,
    /// Of those, the ones it was told it missed, on a feed that tells.
    announced: Option<u64>,
    /// Its CPU time from its first message to the stop, in percent of that time.
    cpu_percent: f64,
}

/// Collects a subscriber: waits for it to end, reads its times file (and removes it)
/// and its report.
///
/// # Panics
///
/// When it failed, reported a message never sent, or was told of another number of
/// missed messages than it missed.
fn hear(peer: peer::Peer, file: &Path, sent: &[u64], feed: Feed) -> Heard {
    let lines = peer.finish();
    let times = read_times(file);
    let _ = std::fs::remove_file(file);
    let mut latencies = Latencies::new();
    for (seq, at) in &times {
        let sent_at = usize::try_from(*seq)
            .ok()
            .and_then(|i| sent.get(i))
            .unwrap_or_else(|| panic!("a subscriber reported message {seq} of {}", sent.len()));
        latencies.record_ns(at.saturating_sub(*sent_at));
    }
    let published = sent.len() as u64;
    let received = times.len() as u64;
    let missed = published - received;
    let after_last = published - times.last().map_or(0, |(seq, _)| seq + 1);
    let announced = reported(&lines, "told").map(|told| {
        let [all, tail] = told[..] else {
            panic!("{} subscriber: told {told:?}", feed.label());
        };
        // The tail holds the stops it missed too, at most all but the last.
        if tail < after_last || tail > after_last + STOPS as u64 - 1 {
            let error = Integrity::Misreported {
                expected: published - after_last,
                got: STOP,
                told: tail,
            };
            panic!("{} subscriber: {error}", feed.label());
        }
        all - (tail - after_last)
    });
    let number = |key: &str| {
        reported(&lines, key)
            .and_then(|v| v.first().copied())
            .unwrap_or_else(|| panic!("{} subscriber: no {key} reported", feed.label()))
    };
    Heard {
        latencies,
        received,
        missed,
        announced,
        cpu_percent: number("cpu") as f64 * 100.0 / number("wall").max(1) as f64,
    }
}

/// The numbers a peer reported on its line `<key> <n>...`, if it did.
fn reported(lines: &[String], key: &str) -> Option<Vec<u64>> {
    let line = lines
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))?;
    Some(
        line.split(' ')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{key} {line}")))
            .collect(),
    )
}

/// The row of a fan-out: the publisher's figures and its subscribers'.
fn row(fan: &Fan, paced: &Paced, heard: &[Heard]) -> FanoutRow {
    let mut latencies = Latencies::new();
    for h in heard {
        latencies.merge(&h.latencies);
    }
    let published = paced.sent.len() as u64;
    let wall = paced.wall.max(Duration::from_nanos(1));
    let percent = |d: Duration| d.as_secs_f64() * 100.0 / wall.as_secs_f64();
    let cpus: Vec<f64> = heard.iter().map(|h| h.cpu_percent).collect();
    let announced: Option<Vec<u64>> = heard.iter().map(|h| h.announced).collect();
    FanoutRow {
        transport: fan.feed.label().to_owned(),
        family: fan.feed.family(),
        wait: fan.wait.map(|p| p.id().to_owned()),
        subscribers: fan.subscribers,
        size: fan.len,
        rate: fan.rate,
        published,
        achieved_per_sec: published as f64 / wall.as_secs_f64(),
        pacing: paced.pacing,
        latency: percentiles(&latencies),
        worst_p99_ns: heard
            .iter()
            .map(|h| h.latencies.quantile(0.99).as_nanos() as f64)
            .fold(0.0, f64::max),
        delivered_per_sec: heard.iter().map(|h| h.received).sum::<u64>() as f64
            / wall.as_secs_f64(),
        subscriber_cpu_mean_percent: cpus.iter().sum::<f64>() / cpus.len().max(1) as f64,
        subscriber_cpu_max_percent: cpus.iter().copied().fold(0.0, f64::max),
        publisher_in_send_percent: percent(paced.in_send),
        publisher_cpu_percent: percent(paced.cpu_excluding_spin),
        write_mean_ns: paced.in_send.as_nanos() as f64 / published.max(1) as f64,
        write_p99_ns: paced.writes.quantile(0.99).as_nanos() as f64,
        missed: heard.iter().map(|h| h.missed).sum(),
        worst_missed: heard.iter().map(|h| h.missed).max().unwrap_or(0),
        announced: announced.map(|a| a.iter().sum()),
        floor: FloorSpan::default(),
    }
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
