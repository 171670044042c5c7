//! Typed messages (feature `serde`): values of a type that implements serde's traits,
//! each one message, encoded with [postcard](https://docs.rs/postcard) (compact, no
//! schema, a documented and stable wire format), over any connection or feed.
//!
//! Decoding is checked: a message that is not a `T` in postcard's format, or that has
//! bytes left over after one, is [`Error::Decode`] naming the type, never a panic; that
//! message is dropped and the next receive goes on. Both ends must use the same type:
//! nothing in the message says which it is.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Order { id: u64, symbol: String, qty: i32 }
//!
//! let dir = std::env::temp_dir().join(format!("ipclane-typed-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let url = format!("shm://{}", dir.join("orders.sock").display());
//! let listener = ipclane::listen(&url)?;
//! let client = std::thread::spawn(move || -> Result<(), ipclane::Error> {
//!     let (mut orders, _) = ipclane::connect(&url)?.typed::<Order>();
//!     orders.send(&Order { id: 1, symbol: "ACME".into(), qty: -5 })
//! });
//! let (_, mut orders) = listener.accept()?.typed::<Order>();
//! assert_eq!(orders.recv()?, Order { id: 1, symbol: "ACME".into(), qty: -5 });
//! client.join().unwrap()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Connection, Error, Publisher, Receiver, Sender, Subscriber};

/// Encodes `value` into `buf` (emptied first), which keeps its memory for the next.
fn encode<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
    let mut out = std::mem::take(buf);
    out.clear();
    *buf = postcard::to_extend(value, out).map_err(|e| Error::Encode {
        what: std::any::type_name::<T>(),
        reason: e.to_string(),
    })?;
    Ok(())
}

/// Decodes one whole `T` from `msg`: bytes left over are an error too (a message of
/// another type that happened to start like a `T`).
fn decode<T: DeserializeOwned>(msg: &[u8]) -> Result<T, Error> {
    let failed = |reason: String| Error::Decode {
        what: std::any::type_name::<T>(),
        len: msg.len(),
        reason,
    };
    match postcard::take_from_bytes::<T>(msg) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(failed(format!("{} bytes left over", rest.len()))),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Sends values of `T` over a connection's [`Sender`], one message each.
#[derive(Debug)]
pub struct TypedSender<T: ?Sized> {
    sender: Sender,
    /// The encoding, reused: no allocation per message once it has grown.
    buf: Vec<u8>,
    _type: PhantomData<fn(&T)>,
}

impl<T: Serialize + ?Sized> TypedSender<T> {
    /// Sends values of `T` through `sender`.
    pub fn new(sender: Sender) -> Self {
        Self {
            sender,
            buf: Vec::new(),
            _type: PhantomData,
        }
    }

    /// Sends `value` ([`Sender::send`]).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when serde cannot encode it (nothing is sent), then those of
    /// [`Sender::send`] ([`Error::MessageTooLarge`] for an encoding over the maximum).
    pub fn send(&mut self, value: &T) -> Result<(), Error> {
        encode(value, &mut self.buf)?;
        self.sender.send(&self.buf)
    }

    /// Sends `value` if there is room now ([`Sender::try_send`]): `false`, nothing sent,
    /// when there is none.
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send).
    pub fn try_send(&mut self, value: &T) -> Result<bool, Error> {
        encode(value, &mut self.buf)?;
        self.sender.try_send(&self.buf)
    }

    /// The sender underneath, for bytes of its own.
    pub fn into_inner(self) -> Sender {
        self.sender
    }
}

/// Receives values of `T` from a connection's [`Receiver`], one message each.
#[derive(Debug)]
pub struct TypedReceiver<T> {
    receiver: Receiver,
    /// Where each message is received, reused.
    buf: BytesMut,
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedReceiver<T> {
    /// Receives values of `T` through `receiver`.
    pub fn new(receiver: Receiver) -> Self {
        Self {
            receiver,
            buf: BytesMut::new(),
            _type: PhantomData,
        }
    }

    /// The next value, waiting for it as long as needed ([`Receiver::recv`]).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] for a message that is not a `T` (it is dropped: call again for
    /// the next), then those of [`Receiver::recv`].
    pub fn recv(&mut self) -> Result<T, Error> {
        let len = self.receiver.recv_into(&mut self.buf)?;
        decode(&self.buf[..len])
    }

    /// The next value if one is there, without waiting ([`Receiver::try_recv`]).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<T>, Error> {
        self.receiver
            .try_recv()?
            .map(|msg| decode(&msg))
            .transpose()
    }

    /// The next value, waiting at most `timeout` ([`Receiver::recv_timeout`]).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when none came, then those of [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        decode(&self.receiver.recv_timeout(timeout)?)
    }

    /// The receiver underneath, for bytes of its own.
    pub fn into_inner(self) -> Receiver {
        self.receiver
    }
}

impl Connection {
    /// This connection's halves, sending and receiving values of `T` (both ends must use
    /// the same type).
    pub fn typed<T: Serialize + DeserializeOwned>(self) -> (TypedSender<T>, TypedReceiver<T>) {
        let (tx, rx) = self.split();
        (TypedSender::new(tx), TypedReceiver::new(rx))
    }
}

/// Publishes values of `T` on a feed, one message each.
#[derive(Debug)]
pub struct TypedPublisher<T: ?Sized> {
    publisher: Publisher,
    buf: Vec<u8>,
    _type: PhantomData<fn(&T)>,
}

impl<T: Serialize + ?Sized> TypedPublisher<T> {
    /// Publishes values of `T` through `publisher`.
    pub fn new(publisher: Publisher) -> Self {
        Self {
            publisher,
            buf: Vec::new(),
            _type: PhantomData,
        }
    }

    /// Publishes `value` ([`Publisher::publish`]).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`], then those of [`Publisher::publish`].
    pub fn publish(&mut self, value: &T) -> Result<(), Error> {
        encode(value, &mut self.buf)?;
        self.publisher.publish(&self.buf)
    }

    /// The publisher underneath.
    pub fn into_inner(self) -> Publisher {
        self.publisher
    }
}

/// Receives values of `T` from a feed, one message each.
#[derive(Debug)]
pub struct TypedSubscriber<T> {
    subscriber: Subscriber,
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedSubscriber<T> {
    /// Receives values of `T` through `subscriber`.
    pub fn new(subscriber: Subscriber) -> Self {
        Self {
            subscriber,
            _type: PhantomData,
        }
    }

    /// The next value ([`Subscriber::recv`]).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] for a message that is not a `T` (dropped), then those of
    /// [`Subscriber::recv`] ([`Error::Lagged`] says how many were missed).
    pub fn recv(&mut self) -> Result<T, Error> {
        decode(&self.subscriber.recv()?)
    }

    /// The next value if one is there ([`Subscriber::try_recv`]).
    ///
    /// # Errors
    ///
    /// Those of [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<T>, Error> {
        self.subscriber
            .try_recv()?
            .map(|msg| decode(&msg))
            .transpose()
    }

    /// The next value, waiting at most `timeout` ([`Subscriber::recv_timeout`]).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when none came, then those of [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, Error> {
        decode(&self.subscriber.recv_timeout(timeout)?)
    }

    /// The subscriber underneath.
    pub fn into_inner(self) -> Subscriber {
        self.subscriber
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Quote {
        symbol: String,
        bid: i64,
        sizes: Vec<u32>,
    }

    #[test]
    fn a_value_round_trips_and_other_bytes_are_decode_errors() {
        let quote = Quote {
            symbol: "ACME".into(),
            bid: -12,
            sizes: vec![1, 2, 300],
        };
        let mut buf = Vec::new();
        encode(&quote, &mut buf).unwrap();
        assert_eq!(decode::<Quote>(&buf).unwrap(), quote);
        let mut longer = buf.clone();
        longer.push(0);
        let err = decode::<Quote>(&longer).unwrap_err();
        assert!(err.to_string().contains("1 bytes left over"), "{err}");
        for bad in [&buf[..buf.len() - 1], &[0xff; 16][..], &[]] {
            let err = decode::<Quote>(bad).unwrap_err();
            assert!(
                matches!(err, Error::Decode { what, .. } if what.ends_with("Quote")),
                "{err}"
            );
        }
    }
}
