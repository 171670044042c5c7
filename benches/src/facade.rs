//! The facade's connections as measured transports: an ipclane [`Sender`] and
//! [`Receiver`] over any URL, driven by the same [`endpoint`](crate::endpoint) drivers as
//! every other row (every byte stamped, copied out once and checked).

use std::time::Duration;

use ipclane::queue::WaitStrategy;
use ipclane::{Connection, Options, Receiver, Sender};

use crate::endpoint::{Recv, Send};

/// Bytes of each of a shared-memory connection's two rings in the facade rows: the same
/// as the bare SPSC rows' (queue_targets' `PING_RING`).
pub const RING: usize = 1 << 16;

/// How a row's shared-memory connection waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// Never sleeps ([`WaitStrategy::busy_poll`]).
    BusyPoll,
    /// The default: an adaptive spin, then a futex sleep.
    Blocking,
}

impl Waiting {
    /// Its name in a peer's arguments and in a table.
    pub fn name(self) -> &'static str {
        match self {
            Waiting::BusyPoll => "busy-poll",
            Waiting::Blocking => "blocking",
        }
    }

    /// The waiting a name stands for.
    ///
    /// # Panics
    ///
    /// For an unknown name.
    pub fn parse(name: &str) -> Self {
        [Waiting::BusyPoll, Waiting::Blocking]
            .into_iter()
            .find(|w| w.name() == name)
            .unwrap_or_else(|| panic!("unknown waiting {name}"))
    }

    /// The connection options of a row waiting this way.
    pub fn options(self) -> Options {
        let strategy = match self {
            Waiting::BusyPoll => WaitStrategy::busy_poll(),
            Waiting::Blocking => WaitStrategy::default(),
        };
        Options::default()
            .ring_capacity(RING)
            .wait_strategy(strategy)
    }
}

/// A facade sender as a measured sending end.
#[derive(Debug)]
pub struct FacadeSend(pub Sender);

impl Send for FacadeSend {
    fn send(&mut self, message: &[u8]) {
        self.0.send(message).expect("facade send");
    }
}

/// A facade receiver as a measured receiving end: `recv_into_slice`, one copy, as the
/// layers' rows copy each message out once.
#[derive(Debug)]
pub struct FacadeRecv(pub Receiver);

impl Recv for FacadeRecv {
    fn recv(&mut self, buf: &mut [u8]) -> usize {
        self.0.recv_into_slice(buf).expect("facade receive")
    }

    fn waits(&self) -> u64 {
        0
    }
}

/// The two measured ends of `conn`.
pub fn ends(conn: Connection) -> (FacadeSend, FacadeRecv) {
    let (tx, rx) = conn.split();
    (FacadeSend(tx), FacadeRecv(rx))
}

/// Connects to `url` waiting `waiting`, retrying while the listener is not there yet.
///
/// # Panics
///
/// When it cannot connect within a few seconds.
pub fn dial(url: &str, waiting: Waiting) -> Connection {
    let options = waiting.options();
    crate::retry::retry(
        &format!("connect to {url}"),
        Duration::from_secs(10),
        || options.connect(url),
    )
}
