//! The hybrid transport, `shm:`: connections are made over a Unix socket, and messages
//! then move through shared memory only.
//!
//! # Handshake (version 1)
//!
//! 1. The client connects to the server's Unix socket and sends its hello: the bytes
//!    `IPCL`, the handshake version, three zero bytes.
//! 2. The server's listener has already checked the client's credentials against its
//!    access policy (same user by default) and closed the connection of a refused
//!    client, who then reads the end of the stream: [`Error::Refused`].
//! 3. The server creates two sealed memfd segments, each holding an SPSC ring, one per
//!    direction, and replies `IPCL`, its version and a status byte (0: accepted), with
//!    the two descriptors attached (`SCM_RIGHTS`): first the client-to-server ring, then
//!    the server-to-client one. A hello of another version gets status 1 and no
//!    descriptors, so a future layout is refused cleanly on both sides; a server that
//!    could not make the rings answers status 3, with none.
//! 4. The client attaches its producer and consumer, then sends `IPCL`, its version,
//!    status 2 ("attached"). The server, attached since step 3, waits for this before the
//!    connection is its: a client that died before attaching would leave sides nobody
//!    will take. The socket stays open for the connection's life.
//!
//! The whole handshake is bounded by the handshake timeout, on both sides, so a peer that
//! trickles its bytes cannot stretch it. A listener runs the handshakes of up to 64
//! clients at once (`wire.rs` decides, without I/O, what each client's bytes call for;
//! `accepting.rs` drives them from one `poll(2)`): a client that is silent, slow or
//! sends garbage holds up nobody else, and a flood of them costs the server at most 64
//! sockets and pairs of rings while the rest wait in the backlog.
//!
//! # Messages
//!
//! A message shorter than the ring's largest record (`max_record_len`, half the ring less
//! a cache line) is one record, its bytes and nothing else. A longer one is
//! carried in fragments: records of exactly the largest size, then one shorter (possibly
//! empty) that ends it. A record's length alone thus says whether more follow, and the
//! common message costs nothing over the bare ring.
//!
//! # Peer death
//!
//! Each ring side holds a segment claim that the kernel releases when its process dies.
//! A blocking call therefore finds a dead peer within the wait strategy's liveness
//! period (10 ms by default), and a call that is not waiting finds it at its next look.
//! The segments have no name: the kernel frees them with the last descriptor and
//! mapping, so nothing is left in `/dev/shm` after any crash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::liveness::Liveness;
use crate::queue::{Consumer, Producer, QueueError, Segment, WaitStats, WriteGuard};
use crate::reassembly::Reassembly;
use crate::{Error, Options};

mod accepting;
#[cfg(feature = "tokio")]
mod async_wait;
mod bell;
mod connecting;
mod control;
#[cfg(feature = "tokio")]
mod own_bells;
mod wire;

use bell::Which;
use control::{PeerBell, Shared};

#[cfg(feature = "tokio")]
pub(crate) use accepting::{MAX_HANDSHAKES, Pending, Step};
#[cfg(feature = "tokio")]
pub(crate) use bell::Look;
#[cfg(feature = "tokio")]
pub(crate) use control::Shared as ConnectionShared;
#[cfg(feature = "tokio")]
pub(crate) use own_bells::{OwnBells, drain};

pub(crate) use accepting::Handshakes;
pub(crate) use connecting::connect;
pub use wire::HANDSHAKE_VERSION;

/// The sending half: the producer of this side's outgoing ring.
#[derive(Debug)]
pub(crate) struct ShmSender {
    producer: Producer<Segment>,
    /// When `try_send` last asked whether the receiver lives.
    liveness: Liveness,
    control: Arc<Shared>,
}

impl control::Half for ShmSender {
    fn control(&self) -> &Shared {
        &self.control
    }

    fn close_side(&mut self) {
        self.producer.close();
    }
}

impl ShmSender {
    fn new(mut producer: Producer<Segment>, control: Arc<Shared>, options: &Options) -> Self {
        producer.set_wait_strategy(options.wait_strategy);
        producer.set_doorbell(PeerBell::doorbell(control.clone(), Which::Data));
        // The handshake is over: the peer attached its side, so a side it marks free
        // later is a lie, not a peer yet to come (which a blocked send would wait for).
        producer.note_consumer_attached();
        Self {
            producer,
            liveness: Liveness::new(options.wait_strategy.liveness_period),
            control,
        }
    }

    /// Sends `msg`, waiting for room for its first fragment within `first` (`None`:
    /// forever; zero: not at all) and as long as needed for the others, since a message
    /// half sent cannot be taken back. `false` when the first fragment found no room.
    pub(crate) fn send_within(
        &mut self,
        msg: &[u8],
        first: Option<Duration>,
    ) -> Result<bool, Error> {
        control::checked(self, |tx| tx.push_fragments(msg, first))
    }

    fn push_fragments(&mut self, msg: &[u8], first: Option<Duration>) -> Result<bool, Error> {
        // The length was checked against the connection's maximum by the Sender.
        let room = self.producer.max_record_len();
        // Full records while more follow, then the rest (shorter than a full one, maybe
        // empty): see the module docs.
        let full = msg.len() / room;
        let mut first = Some(first);
        for i in 0..=full {
            let fragment = &msg[i * room..((i + 1) * room).min(msg.len())];
            let pushed = match first.take() {
                Some(Some(d)) if d.is_zero() => self.producer.try_push(fragment),
                Some(Some(d)) => self.producer.push_timeout(fragment, d),
                Some(None) | None => self.producer.push_blocking(fragment),
            };
            match pushed {
                Ok(()) => {}
                // A killed receiver never closes its side: a send that never waits asks.
                Err(QueueError::Full)
                    if i == 0 && self.liveness.due() && !self.producer.is_consumer_alive()? =>
                {
                    return Err(Error::DISCONNECTED);
                }
                Err(QueueError::Full | QueueError::Timeout) if i == 0 => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

impl ShmSender {
    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.producer.wait_stats()
    }

    /// A ring record for a whole message of `len` bytes, when one record holds it
    /// (`None`: it needs fragments), waiting for room as long as needed.
    pub(crate) fn reserve_whole(
        &mut self,
        len: usize,
    ) -> Result<Option<WriteGuard<'_, Segment>>, Error> {
        if len >= self.producer.max_record_len() {
            return Ok(None);
        }
        // The sends' `checked`, by hand, since the guard borrows the producer: a breach
        // found here closes this side at the next call (the borrow checker cannot yet see
        // that the producer is free again when the reservation failed).
        if self.control.is_broken() {
            self.producer.close();
            return Err(Error::DISCONNECTED);
        }
        self.producer.reserve_blocking(len).map(Some).map_err(|e| {
            let err = Error::from(e);
            self.control.close_if_breach(&err);
            err
        })
    }
}

/// How long a receive may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Not at all.
    Never,
    /// As long as spinning pays, not asleep (an async receive, which then awaits).
    #[cfg(feature = "tokio")]
    Spin,
    /// As long as needed.
    Forever,
    /// Until then.
    Until(Instant),
}

/// The receiving half: the consumer of this side's incoming ring, and the message being
/// reassembled.
#[derive(Debug)]
pub(crate) struct ShmReceiver {
    consumer: Consumer<Segment>,
    /// When `try_recv` last asked whether the sender lives.
    liveness: Liveness,
    message: Reassembly,
    control: Arc<Shared>,
}

impl control::Half for ShmReceiver {
    fn control(&self) -> &Shared {
        &self.control
    }

    fn close_side(&mut self) {
        self.consumer.close();
    }
}

impl ShmReceiver {
    fn new(mut consumer: Consumer<Segment>, control: Arc<Shared>, options: &Options) -> Self {
        consumer.set_wait_strategy(options.wait_strategy);
        consumer.set_doorbell(PeerBell::doorbell(control.clone(), Which::Room));
        // As for the sender: the peer's side attached during the handshake.
        consumer.note_producer_attached();
        Self {
            liveness: Liveness::new(options.wait_strategy.liveness_period),
            consumer,
            message: Reassembly::new(options.max_message_len),
            control,
        }
    }

    pub(crate) fn wait_stats(&self) -> WaitStats {
        self.consumer.wait_stats()
    }

    pub(crate) fn recv(&mut self) -> Result<Bytes, Error> {
        control::checked(self, |rx| {
            rx.fill(Wait::Forever)?;
            Ok(rx.message.take())
        })
    }

    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<Bytes, Error> {
        let wait = Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until);
        control::checked(self, |rx| {
            rx.fill(wait)?;
            Ok(rx.message.take())
        })
    }

    pub(crate) fn try_recv(&mut self) -> Result<Option<Bytes>, Error> {
        control::checked(self, |rx| {
            Ok(rx.fill(Wait::Never)?.then(|| rx.message.take()))
        })
    }

    pub(crate) fn recv_into(&mut self, buf: &mut BytesMut) -> Result<usize, Error> {
        control::checked(self, |rx| {
            rx.fill(Wait::Forever)?;
            Ok(rx.message.take_into(buf))
        })
    }

    /// Straight from the ring into `buf` when the message is one record that fits; a
    /// message that does not fit stays for the next call.
    pub(crate) fn recv_into_slice(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        control::checked(self, |rx| rx.recv_into_slice_unchecked(buf))
    }

    fn recv_into_slice_unchecked(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.message.is_idle() {
            let room = self.consumer.max_record_len();
            let guard = self.consumer.read_blocking()?;
            let len = guard.len();
            if len < room && len <= buf.len() {
                guard.copy_to(&mut buf[..len]);
                guard.release();
                return Ok(len);
            }
            // Fragments, or too long: the guard is dropped unreleased (a peek), and the
            // record is taken with the others.
            drop(guard);
        }
        self.fill(Wait::Forever)?;
        self.message.take_into_slice(buf)
    }

    /// Takes records until a message is whole: `Ok(false)` when `wait` is
    /// [`Wait::Never`] and the next one is not there yet (what arrived stays).
    fn fill(&mut self, wait: Wait) -> Result<bool, Error> {
        let mut sender_dead = false;
        // A record of the ring's largest size says more follow.
        let room = self.consumer.max_record_len();
        while !self.message.is_ready() {
            let guard = match wait {
                Wait::Never => self.consumer.try_read(),
                #[cfg(feature = "tokio")]
                Wait::Spin => self.consumer.read_spin(),
                Wait::Forever => self.consumer.read_blocking(),
                Wait::Until(deadline) => self
                    .consumer
                    .read_timeout(deadline.saturating_duration_since(Instant::now())),
            };
            let failed = match guard {
                Ok(guard) => {
                    let len = guard.len();
                    if len > room {
                        return Err(Error::protocol(format!(
                            "a record of {len} bytes, over the ring's largest of {room}"
                        )));
                    }
                    guard.copy_to(self.message.spare(len)?);
                    guard.release();
                    if len < room {
                        self.message.finish();
                    }
                    continue;
                }
                Err(e) => e,
            };
            match failed {
                QueueError::Empty if sender_dead => return Err(Error::DISCONNECTED),
                // A killed sender never closes its side: a receive that never waits asks,
                // then looks once more (what it published before dying is taken).
                QueueError::Empty
                    if self.liveness.due() && !self.consumer.is_producer_alive()? =>
                {
                    sender_dead = true;
                }
                QueueError::Empty => return Ok(false),
                e => return Err(e.into()),
            }
        }
        Ok(true)
    }
}
