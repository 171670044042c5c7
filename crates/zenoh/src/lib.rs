//! Beyond one machine: ipclane's shared-memory feeds bridged to [Zenoh](https://zenoh.io).
//!
//! A feed ([`ipclane::Publisher`]) fans out to the processes of one host through shared
//! memory. When some of its readers move to other hosts, a [`Bridge`] carries it there
//! through Zenoh, the Rust-native distributed pub/sub engine (peer to peer or through
//! routers, over TCP or Unix sockets here), and the readers stay ipclane subscribers:
//!
//! ```text
//!  host A                                         host B
//!  publisher ──shm──▶ Bridge::out ══ Zenoh ══▶ Bridge::inbound ──shm──▶ subscribers
//!                └──shm──▶ local subscribers
//! ```
//!
//! - [`Bridge::out`] reads the feed (one reader among its subscribers) and publishes each
//!   record on a Zenoh key, in order, behind a [`Header`] that says which run of the
//!   publisher wrote it, its sequence number, and how many records the bridge missed just
//!   before it (the local `Lagged { missed }`, carried across, never hidden). Zenoh's
//!   congestion control blocks rather than drops: a slow network laps the bridge, which is
//!   counted, instead of losing records silently on the way.
//! - [`Bridge::inbound`] subscribes to a key expression and publishes each record into a
//!   local feed: its subscribers read at shared-memory speed, and the feed crosses the
//!   network once per host, not once per reader. It counts the records that never came
//!   (gaps in the sequence numbers), drops duplicates, and notices a publisher restart.
//! - A plain Zenoh subscriber on another host reads the same samples, and
//!   [`Header::decode`] tells it what it missed.
//!
//! Both directions survive the other side: the outbound bridge waits for a feed that is
//! not there yet and reattaches when its publisher restarts; Zenoh reconnects to an
//! endpoint that went away; each says so through `tracing`. The `ipclane-bridge` command
//! (`ipclane bridge`) runs one from the command line.
//!
//! See the example on [`Bridge`], [`Config`] for the session (a peer without multicast
//! scouting unless asked), and [`frame`] for the wire format.

#![forbid(unsafe_code)]

mod bridge;
mod config;
mod error;
pub mod frame;
mod inbound;
mod outbound;
mod session;
mod stats;
mod task;

pub use bridge::{Bridge, Direction};
pub use config::{Config, DEFAULT_CONNECT_TIMEOUT, Mode, TRANSPORTS};
pub use error::Error;
pub use frame::{HEADER_LEN, Header, Source};
pub use inbound::InOptions;
pub use outbound::OutOptions;
pub use stats::Stats;

/// Zenoh, the version this crate is built with (for [`Config::from_zenoh`]).
pub use zenoh;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
