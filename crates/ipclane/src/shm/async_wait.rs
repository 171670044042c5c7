//! What the tokio front end asks of a shared-memory connection's halves: arm and disarm
//! their async waits, send their bells, look without sleeping (after a spin), and tell
//! a peer gone once its socket closed. The waiting itself is `ipclane::tokio`'s.

use std::sync::Arc;

use bytes::Bytes;

use super::control::{self, Shared};
use super::{ShmReceiver, ShmSender, Wait};
use crate::Error;
use crate::queue::QueueError;

impl ShmReceiver {
    /// The connection's shared part (its socket, the peer's bells).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.control
    }

    /// The next message, spinning for it as long as that pays; `None` where a blocking
    /// receive would sleep (what arrived of it stays).
    pub(crate) fn recv_spinning(&mut self) -> Result<Option<Bytes>, Error> {
        control::checked(self, |rx| {
            Ok(rx.fill(Wait::Spin)?.then(|| rx.message.take()))
        })
    }

    /// Arms the async wait for data: the peer's next message rings this side's bell.
    pub(crate) fn arm_async(&mut self) {
        self.consumer.arm_async();
    }

    /// Disarms it.
    pub(crate) fn disarm_async(&mut self) {
        self.consumer.disarm_async();
    }

    /// The connection's socket closed: the next look asks whether the sender lives.
    pub(crate) fn peer_socket_closed(&mut self) {
        self.liveness.ask_next();
    }
}

impl ShmSender {
    /// The connection's shared part.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.control
    }

    /// Pushes the fragments of `msg` from fragment `next` on while the ring has room,
    /// without waiting; `next` is then the first not pushed. `true` once all are.
    pub(crate) fn push_now(&mut self, msg: &[u8], next: &mut usize) -> Result<bool, Error> {
        control::checked(self, |tx| {
            // Fragments as the blocking sender cuts them (see the module docs of `shm`).
            let room = tx.producer.max_record_len();
            let last = msg.len() / room;
            while *next <= last {
                let fragment = &msg[*next * room..((*next + 1) * room).min(msg.len())];
                match tx.producer.try_push(fragment) {
                    Ok(()) => *next += 1,
                    // A killed receiver never closes its side: a push that finds no
                    // room asks, once per liveness period.
                    Err(QueueError::Full)
                        if tx.liveness.due() && !tx.producer.is_consumer_alive()? =>
                    {
                        return Err(Error::DISCONNECTED);
                    }
                    Err(QueueError::Full) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(true)
        })
    }

    /// Arms the async wait for room: the peer's next release rings this side's bell.
    pub(crate) fn arm_async(&mut self) {
        self.producer.arm_async();
    }

    /// Disarms it.
    pub(crate) fn disarm_async(&mut self) {
        self.producer.disarm_async();
    }

    /// The connection's socket closed: the next send that finds no room asks whether
    /// the receiver lives.
    pub(crate) fn peer_socket_closed(&mut self) {
        self.liveness.ask_next();
    }
}
