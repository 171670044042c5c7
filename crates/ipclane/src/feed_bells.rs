//! Waking a feed's async subscribers: the table of their doorbells.
//!
//! A broadcast ring does not know its readers (they only read it), so an async
//! subscriber, which cannot sleep on the ring's futex, must make its doorbell known where
//! the publisher finds it: the named segment `<feed>.bells`
//! (`/dev/shm/ipclane.<feed>.bells`, kind [`BELLS_KIND`]), which the publisher makes
//! with its feed and removes with it. It holds [`ENTRIES`] words, one per async
//! subscriber:
//!
//! ```text
//! 0                    free
//! token << 2           taken by the subscriber whose bell is the Unix datagram socket
//!                      bound to the abstract address "ipclane.bell.<token, hex>"
//! token << 2 | 1       ... which is parked: awaiting its bell
//! token << 2 | 1 | 2   ... and rung since it parked
//! ```
//!
//! A subscriber binds its socket first (to a random token), then takes a free entry (or
//! one whose socket is gone: a sender is refused there, so its subscriber died) with a
//! compare-and-swap. It marks the entry parked before it arms its wait on the ring, and
//! unparked (and not rung) after it disarmed: the ring's writer rings its doorbell, a
//! [`Ringer`], once per arming of any async reader (the ring's one `rung` flag, see
//! `ipclane_queue::wait`), and the ringer marks every parked entry not yet rung as rung
//! and sends one byte, `MSG_DONTWAIT`, to its address. The loom model
//! `broadcast_two_async_readers_are_both_rung` checks this protocol, rung bit included.
//!
//! The rung bit bounds what the ringer's rings hold: a parked subscriber that does not
//! await (its receive was cancelled) keeps at most one ring queued, so the rings the
//! publisher's socket has sent and nobody has read yet (charged to its send buffer until
//! read) stay below [`ENTRIES`], and a ring is never refused for a full buffer. An entry
//! whose address refuses a ring (its subscriber died) is freed by the ringer.
//!
//! What a ring costs the publisher: one `sendto` per parked async subscriber, once per
//! re-arm, never per message while they keep up. What a hostile process of the same
//! user can do here, it can do to the feed itself (any process of the user can write a
//! named segment): entries are read once and only ever name an address of the form
//! above, and a subscriber whose entry was taken from it is told so when it next parks;
//! a ring lost anyway is made good by the subscriber's backstop (its wait ends once a
//! second to look). Abstract addresses belong to a network namespace: an async
//! subscriber and its publisher share one (blocking subscribers need not).

use std::os::fd::OwnedFd;
#[cfg(feature = "tokio")]
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::Error;
use crate::queue::Doorbell;
use crate::segment::{Kind, Segment};

/// The kind of a feed's table of bells.
pub const BELLS_KIND: Kind = Kind::from_names(
    "ipclane/feed-bells",
    "v1: 128 u64 entries @0: 0 free, token<<2 taken, |1 parked, |2 rung; abstract ipclane.bell.<token>",
);

/// Async subscribers a feed takes at once.
pub(crate) const ENTRIES: usize = 128;

/// A parked entry's bit.
const PARKED: u64 = 1;

/// The bit of a parked entry rung since it parked.
const RUNG: u64 = 2;

/// The token of an entry's `word`.
fn token_of(word: u64) -> u64 {
    word >> 2
}

/// The name of the table of the feed `feed`.
fn table_name(feed: &str) -> String {
    format!("{feed}.bells")
}

/// The abstract address of the bell of `token` (formatted on the stack: the ringer
/// names one per parked subscriber).
fn address(token: u64) -> Result<SocketAddrUnix, Errno> {
    use std::io::Write;
    let mut name = [0u8; 32];
    let mut at = &mut name[..];
    write!(at, "ipclane.bell.{token:x}").map_err(|_| Errno::NAMETOOLONG)?;
    let len = 32 - at.len();
    SocketAddrUnix::new_abstract_name(&name[..len])
}

/// A non-blocking, close-on-exec Unix datagram socket.
fn datagram_socket() -> Result<OwnedFd, Error> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::Io {
        op: "socket(AF_UNIX, SOCK_DGRAM) for a feed's doorbell",
        source: e.into(),
    })
}

/// The entries of `table`.
fn entries(table: &Segment) -> Result<&[AtomicU64], Error> {
    table
        .region()
        .atomics::<AtomicU64>(0, ENTRIES)
        .map_err(|e| Error::protocol(format!("feed bell table {}: {e}", table.name())))
}

/// Creates the table of the feed `feed` (a dead publisher's is taken over, as its feed
/// is), and the ringer the feed's writer rings.
pub(crate) fn create_table(feed: &str) -> Result<Ringer, Error> {
    let table = Segment::named(&table_name(feed))
        .size(ENTRIES * size_of::<u64>())
        .kind(BELLS_KIND)
        .exclusive(false)
        .initialize_with(|region| Ok(region.fill(0, ENTRIES * size_of::<u64>(), 0)?))
        .create()?;
    entries(&table)?;
    Ok(Ringer {
        table,
        socket: datagram_socket()?,
    })
}

/// The doorbell of a feed's writer: rings every parked async subscriber.
#[derive(Debug)]
pub(crate) struct Ringer {
    table: Segment,
    /// Unbound: it only sends.
    socket: OwnedFd,
}

impl Doorbell for Ringer {
    fn ring(&self) {
        let Ok(entries) = entries(&self.table) else {
            return;
        };
        for entry in entries {
            // Acquire: pairs with the subscriber's Release marking itself parked, which
            // comes before it arms (see the module docs).
            let word = entry.load(Ordering::Acquire);
            if word & (PARKED | RUNG) != PARKED {
                continue;
            }
            // Rung once per parking. A word that changed since the load is a subscriber
            // that unparked: it looks again before it parks anew.
            let rung = word | RUNG;
            if entry
                .compare_exchange(word, rung, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let Ok(to) = address(token_of(word)) else {
                continue;
            };
            // Refused: nobody is bound there, its subscriber died parked. (A bell full of
            // rings from elsewhere is awake anyway.)
            let sent = rustix::net::sendto(&self.socket, &[1], SendFlags::DONTWAIT, &to);
            if let Err(Errno::CONNREFUSED) = sent {
                let _ = entry.compare_exchange(rung, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

/// An async subscriber's place in its feed's table, and its bell: the socket bound to
/// its entry's address. Freed on drop.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct Spot {
    table: Segment,
    index: usize,
    token: u64,
    bell: OwnedFd,
    /// `feed NAME`, for errors.
    at: String,
}

#[cfg(feature = "tokio")]
impl Spot {
    /// Binds a bell and takes an entry in the table of the feed `feed`.
    ///
    /// # Errors
    ///
    /// [`Error::Segment`] when the feed has no table (a publisher of an earlier version),
    /// [`Error::Protocol`] when its [`ENTRIES`] entries are all taken by live
    /// subscribers, [`Error::Io`] when no socket can be made or bound.
    pub(crate) fn take(feed: &str) -> Result<Self, Error> {
        let at = format!("feed {feed}");
        let table = Segment::named(&table_name(feed))
            .kind(BELLS_KIND)
            .open()
            .map_err(|e| Error::from(e).at(&at))?;
        let (bell, token) = bind_bell()?;
        let words = entries(&table)?;
        // Free entries first; then those whose subscriber died.
        let taken = (0..ENTRIES)
            .find(|&i| claim(&words[i], 0, token))
            .or_else(|| {
                (0..ENTRIES).find(|&i| {
                    let word = words[i].load(Ordering::Acquire);
                    word != 0 && !bell_lives(&bell, token_of(word)) && claim(&words[i], word, token)
                })
            });
        let Some(index) = taken else {
            return Err(Error::protocol(format!(
                "{at} has {ENTRIES} async subscribers already (its table of bells is full)"
            )));
        };
        Ok(Self {
            table,
            index,
            token,
            bell,
            at,
        })
    }

    /// The bell to await (non-blocking).
    pub(crate) fn bell(&self) -> BorrowedFd<'_> {
        self.bell.as_fd()
    }

    fn entry(&self) -> Result<&AtomicU64, Error> {
        Ok(&entries(&self.table)?[self.index])
    }

    /// Marks the entry parked: call before arming the wait.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] when another process took the entry.
    pub(crate) fn park(&self) -> Result<(), Error> {
        let mine = self.token << 2;
        match self.entry()?.compare_exchange(
            mine,
            mine | PARKED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            // Still parked: a wait that was cancelled goes on.
            Err(word) if word & !(PARKED | RUNG) == mine => Ok(()),
            Err(word) => Err(Error::protocol(format!(
                "{}: entry {} of its table of bells was taken from this subscriber \
                 (it holds {word:#x}): another process wrote the table",
                self.at, self.index
            ))),
        }
    }

    /// Marks the entry no longer parked (nor rung): call after disarming.
    pub(crate) fn unpark(&self) {
        self.set_from_mine(self.token << 2);
    }

    /// Sets the entry, if it is still this subscriber's, to `to`.
    fn set_from_mine(&self, to: u64) {
        let mine = self.token << 2;
        if let Ok(entry) = self.entry() {
            let _ = entry.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word & !(PARKED | RUNG) == mine).then_some(to)
            });
        }
    }
}

#[cfg(feature = "tokio")]
impl Drop for Spot {
    fn drop(&mut self) {
        self.set_from_mine(0);
    }
}

/// Takes `entry` from `from` for `token`.
#[cfg(feature = "tokio")]
fn claim(entry: &AtomicU64, from: u64, token: u64) -> bool {
    entry
        .compare_exchange(from, token << 2, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Whether a socket is bound at the address of `token`: an empty datagram is refused
/// where none is (it would only wake a live one for nothing).
#[cfg(feature = "tokio")]
fn bell_lives(socket: &OwnedFd, token: u64) -> bool {
    match address(token) {
        Ok(to) => !matches!(
            rustix::net::sendto(socket, &[], SendFlags::DONTWAIT, &to),
            Err(Errno::CONNREFUSED | Errno::NOENT)
        ),
        Err(_) => false,
    }
}

/// A bell bound to a free abstract address, and its token: random (from the standard
/// library's randomly seeded hasher), so a process that reuses a dead one's id does not
/// reuse its addresses; bound first, so an address taken by anybody is skipped.
#[cfg(feature = "tokio")]
fn bind_bell() -> Result<(OwnedFd, u64), Error> {
    use std::hash::{BuildHasher, Hasher};
    let socket = datagram_socket()?;
    for _ in 0..1024 {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        // 62 bits, never 0 (a taken entry is never 0).
        let token = (random >> 2) | 1;
        let to = address(token).map_err(|e| Error::Io {
            op: "name a feed's doorbell",
            source: e.into(),
        })?;
        match rustix::net::bind(&socket, &to) {
            Ok(()) => return Ok((socket, token)),
            Err(Errno::ADDRINUSE) => continue,
            Err(e) => {
                return Err(Error::Io {
                    op: "bind a feed's doorbell to its abstract address",
                    source: e.into(),
                });
            }
        }
    }
    Err(Error::Io {
        op: "bind a feed's doorbell to its abstract address",
        source: Errno::ADDRINUSE.into(),
    })
}
