//! An async connection: the blocking connection's halves, each registered with tokio's
//! reactor.

use bytes::Bytes;

use super::{Receiver, Sender};
use crate::shm::OwnBells;
use crate::uds::PeerCredentials;
use crate::{Error, Url};

/// A connection, awaited: messages both ways, with their boundaries and order kept, as
/// the blocking [`Connection`](crate::Connection) has them (and with its peer, which
/// may be blocking or async). [`split`](Self::split) gives its two halves, for two
/// tasks.
#[derive(Debug)]
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
    peer: Option<PeerCredentials>,
    url: Url,
}

/// The error for halves the front end cannot take (never one of its own connections').
pub(super) fn unserved() -> Error {
    Error::InvalidOptions {
        reason: "a connection whose halves are not both of one transport".into(),
    }
}

impl Connection {
    /// The async form of a blocking connection. On shared memory it makes this side's
    /// bells and sends the peer its ends (see `shm/bell.rs`).
    pub(super) fn from_blocking(conn: crate::Connection) -> Result<Self, Error> {
        let (sender, receiver, peer, url) = conn.into_parts();
        let (name, max_message_len) = (sender.url().clone(), sender.max_message_len());
        let (sender, receiver) = match (sender.into_shm(), receiver.into_shm()) {
            (Ok(tx), Ok(rx)) => {
                let bells = OwnBells::make_and_send(tx.shared()).map_err(|e| e.at(&name))?;
                (
                    Sender::shm(tx, bells.room, name.clone(), max_message_len)?,
                    Receiver::shm(rx, bells.data, name)?,
                )
            }
            (Err(tx), Err(rx)) => (Sender::new(tx)?, Receiver::new(rx)?),
            // A connection's halves share one transport.
            _ => return Err(unserved()),
        };
        Ok(Self {
            sender,
            receiver,
            peer,
            url,
        })
    }

    /// Its two halves, for two tasks (both directions work at once).
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender {
        &mut self.sender
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver {
        &mut self.receiver
    }

    /// Sends `msg` ([`Sender::send`]; cancel-safe).
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send`].
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.sender.send(msg).await
    }

    /// Receives the next message ([`Receiver::recv`]; cancel-safe).
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::recv`].
    pub async fn recv(&mut self) -> Result<Bytes, Error> {
        self.receiver.recv().await
    }

    /// Who the peer is, on every local transport (`None` over TCP), as the kernel tells.
    pub fn peer_credentials(&self) -> Option<&PeerCredentials> {
        self.peer.as_ref()
    }

    /// The address of the connection (for an accepted one, the listener's).
    pub fn url(&self) -> &Url {
        &self.url
    }
}
