//! A fan-out's subscriber process: receives until the stop, checking every message
//! whole and its sequence number rising, and writes each message's receive time to the
//! file it was given. On ipclane pub/sub it also checks that every gap in the sequence
//! numbers is exactly what the ring told it it missed (`Lagged { missed }`).
//!
//! It reports, for [`Peer::finish`](crate::peer::Peer::finish): `cpu <ns>` and
//! `wall <ns>`, its process's CPU time and the wall time from its first message to the
//! stop; on ipclane pub/sub, `told <all> <after the last message>`, the messages it was
//! told it missed in all and after the last message it received (that tail holds the
//! stops it missed too, which the publisher tells apart).

use std::io::Write;
use std::time::Instant;

use ipclane::Subscriber;

use super::drive::{STOP, cpu_ns};
use super::feed::{CONNECT, DEFAULT_WAIT, Feed, Preset, SLOTS};
use super::link::{self, Rx};
use super::peers::iceoryx2::{self, Delivery, Waiting};
use super::peers::zenoh;
use super::transport::Transport;
use crate::endpoint::{self, Recv};
use crate::integrity::{self, Integrity};
use crate::peer;

/// The peer role of a subscriber: `<feed> <address> <len> <times file> <wait>`, where
/// `<wait>` is a [`Preset`] id or [`DEFAULT_WAIT`].
pub const SUBSCRIBE: &str = "compare-subscribe";

/// A subscriber's end of a feed.
enum Subscription {
    /// ipclane pub/sub, counting the messages the ring says were missed.
    Shm {
        /// The subscriber (boxed: it is large beside a boxed end).
        subscriber: Box<Subscriber>,
        /// Messages `Lagged` said were missed, in all.
        told: u64,
        /// Whether that is all it misses (not behind a bridge, see [`Feed::tells`]).
        tells: bool,
    },
    /// Any other feed, which says nothing of what it drops.
    Other(Rx),
}

impl Subscription {
    /// Copies the next message into `buf` and returns its length, counting on the way
    /// what a lagged subscriber is told it missed.
    ///
    /// # Panics
    ///
    /// When the subscriber fails.
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        match self {
            Subscription::Shm {
                subscriber, told, ..
            } => loop {
                match subscriber.recv_into(buf) {
                    Ok(n) => return n,
                    Err(ipclane::Error::Lagged { missed }) => *told += missed,
                    Err(e) => panic!("subscriber: {e}"),
                }
            },
            Subscription::Other(rx) => rx.recv(buf),
        }
    }

    /// Messages it was told it missed, in all; `None` on a feed that does not tell.
    fn told(&self) -> Option<u64> {
        match self {
            Subscription::Shm {
                told, tells: true, ..
            } => Some(*told),
            Subscription::Shm { tells: false, .. } => None,
            Subscription::Other(_) => None,
        }
    }
}

/// What a subscriber received, up to the stop.
struct Received {
    /// Each message's sequence number and receive time.
    times: Vec<(u64, u64)>,
    /// When the first message came (the stop's time when none did).
    first: Instant,
    /// Messages it was told it missed after the last one it received (the stops
    /// included), when the feed tells.
    told_after_last: Option<u64>,
}

/// Plays a subscriber (the role [`SUBSCRIBE`]).
///
/// # Panics
///
/// When a message is not whole, not in order, or missing where the feed said nothing
/// (or something else) was missed.
pub fn subscribe(args: &[String]) {
    let (feed, address, file) = (Feed::parse(&args[0]), &args[1], &args[3]);
    let len: usize = args[2].parse().expect("a message length");
    let preset = (args[4] != DEFAULT_WAIT).then(|| Preset::parse(&args[4]));
    let mut subscription = match feed {
        Feed::IpclaneShm | Feed::Bridged => {
            let mut subscriber =
                crate::retry::retry(&format!("subscribe to {address}"), CONNECT, || {
                    Subscriber::open(address)
                });
            if let Some(preset) = preset {
                subscriber.set_wait_strategy(preset.strategy());
            }
            Subscription::Shm {
                subscriber: Box::new(subscriber),
                told: 0,
                tells: feed.tells(),
            }
        }
        Feed::IpclaneUnix => Subscription::Other(link::dial(Transport::Unix, address, len).1),
        Feed::Iceoryx2 => Subscription::Other(iceoryx2::subscriber(
            address,
            Waiting::Event,
            Delivery::Lossy,
            SLOTS,
        )),
        Feed::Zenoh => Subscription::Other(Box::new(zenoh::ZenohRecv::new(address))),
    };
    let mut cpu0 = None;
    let received = receive_until_stop(&mut subscription, len, feed.lossless(), || {
        cpu0 = Some(cpu_ns());
    })
    .unwrap_or_else(|e| panic!("{} subscriber: {e}", feed.label()));
    let cpu = cpu_ns() - cpu0.unwrap_or_else(cpu_ns);
    peer::report(format!("cpu {cpu}"));
    peer::report(format!("wall {}", received.first.elapsed().as_nanos()));
    if let (Some(told), Some(after)) = (subscription.told(), received.told_after_last) {
        peer::report(format!("told {told} {after}"));
    }
    write_times(file, &received.times);
}

/// Receives until the stop; calls `first` when the first message has come.
///
/// # Errors
///
/// When a message is not whole, or its number is not above the one before, or (on a
/// `lossless` feed) not the one right after it, or (on a feed that tells) further on
/// than it was told.
fn receive_until_stop(
    subscription: &mut Subscription,
    len: usize,
    lossless: bool,
    mut first: impl FnMut(),
) -> Result<Received, Integrity> {
    let mut buf = vec![0u8; len];
    let mut times = Vec::new();
    let mut next = 0;
    let mut started = None;
    let mut told_before = 0;
    loop {
        let n = subscription.recv(&mut buf);
        let at = endpoint::now_ns();
        if started.is_none() {
            first();
            started = Some(Instant::now());
        }
        let message = &buf[..n];
        let seq = integrity::seq_of(message).ok_or(Integrity::Length {
            expected: len,
            got: n,
        })?;
        integrity::check(message, seq)?;
        let told = subscription.told().map(|all| all - told_before);
        if seq == STOP {
            return Ok(Received {
                times,
                first: started.unwrap_or_else(Instant::now),
                told_after_last: told,
            });
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
        if let Some(told) = told.filter(|&told| told != seq - next) {
            return Err(Integrity::Misreported {
                expected: next,
                got: seq,
                told,
            });
        }
        told_before = subscription.told().unwrap_or(0);
        next = seq + 1;
        times.push((seq, at));
    }
}

/// Writes `(sequence number, receive time)` pairs to `file`, 16 bytes each.
///
/// # Panics
///
/// When it cannot.
fn write_times(file: &str, times: &[(u64, u64)]) {
    let mut out = Vec::with_capacity(times.len() * 16);
    for (seq, at) in times {
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
    }
    std::fs::File::create(file)
        .and_then(|mut f| f.write_all(&out))
        .unwrap_or_else(|e| panic!("write {file}: {e}"));
}
