//! Plain-old-data messages (feature `pod`): a value of a type whose bytes are its value
//! ([zerocopy](https://docs.rs/zerocopy)'s `IntoBytes` to send, `FromBytes` to
//! receive: no padding, every bit pattern valid) is sent as its bytes, without encoding,
//! and received by copying a message of exactly its size into a value, so what a peer
//! writes can never make an invalid one. Both ends must use the same type; a message of
//! another size is [`Error::Decode`]. Declared ([`PublishOptions::message_type`],
//! [`SubscribeOptions::message_type`], [`Options::message_type`]), the type is checked
//! when a subscriber subscribes or an `shm:` client connects: a peer built with another
//! `T` is refused with [`Error::WrongMessageType`] before any message is misread, and a
//! call with another type than the declared one is refused too.
//!
//! [`PublishOptions::message_type`]: crate::PublishOptions::message_type
//! [`SubscribeOptions::message_type`]: crate::SubscribeOptions::message_type
//! [`Options::message_type`]: crate::Options::message_type
//!
//! ```
//! use zerocopy::{FromBytes, Immutable, IntoBytes};
//!
//! #[derive(FromBytes, IntoBytes, Immutable, Debug, PartialEq, Clone, Copy)]
//! #[repr(C)]
//! struct Quote { bid: i64, ask: i64, instrument: u32, size: u32 }
//!
//! let feed = format!("pod-doc-{}", std::process::id());
//! let mut publisher = ipclane::Publisher::create(&feed, Default::default())?;
//! let mut subscriber = ipclane::Subscriber::open(&feed)?;
//! let quote = Quote { bid: 100, ask: 101, instrument: 7, size: 300 };
//! publisher.publish_pod(&quote)?;
//! assert_eq!(subscriber.recv_pod::<Quote>()?, quote);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::message_type::check_call;
use crate::{Error, MessageType, Publisher, Receiver, Sender, Subscriber};

/// A message of `len` bytes that is not a `T`.
fn wrong_size<T>(len: usize) -> Error {
    Error::Decode {
        what: std::any::type_name::<T>(),
        len,
        reason: format!(
            "a {} is {} bytes",
            std::any::type_name::<T>(),
            size_of::<T>()
        ),
    }
}

/// Receives one message of `from` into `value` with `recv_into` (which copies a message
/// into a slice and says how long it was, leaving a longer one next); a longer message
/// is then taken with `recv_len` (which says how long it was) and refused.
fn recv_value<R, T: FromBytes + IntoBytes>(
    from: &mut R,
    value: &mut T,
    recv_into: fn(&mut R, &mut [u8]) -> Result<usize, Error>,
    recv_len: fn(&mut R) -> Result<usize, Error>,
) -> Result<(), Error> {
    match recv_into(from, value.as_mut_bytes()) {
        Ok(len) if len == size_of::<T>() => Ok(()),
        Ok(len) => Err(wrong_size::<T>(len)),
        Err(Error::BufferTooSmall { .. }) => Err(wrong_size::<T>(recv_len(from)?)),
        Err(e) => Err(e),
    }
}

impl Sender {
    /// Sends `value`'s bytes as one message ([`send`](Self::send)), without encoding.
    ///
    /// # Errors
    ///
    /// Those of [`send`](Self::send).
    pub fn send_pod<T: IntoBytes + Immutable>(&mut self, value: &T) -> Result<(), Error> {
        self.check_message_type(MessageType::of::<T>())?;
        self.send(value.as_bytes())
    }
}

impl Receiver {
    /// The next message, as a new `T`, waiting for it as long as needed (see
    /// [`recv_pod_into`](Self::recv_pod_into), which spares the zeroing and the move of
    /// a large `T`).
    ///
    /// # Errors
    ///
    /// Those of [`recv_pod_into`](Self::recv_pod_into).
    pub fn recv_pod<T: FromBytes + IntoBytes>(&mut self) -> Result<T, Error> {
        let mut value = T::new_zeroed();
        self.recv_pod_into(&mut value)?;
        Ok(value)
    }

    /// The next message, copied out of the transport into `value` (the hot path: one
    /// copy, as [`recv_into_slice`](Self::recv_into_slice) of as many bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] for a message of another size than a `T` (it is dropped: call
    /// again for the next; `value` may hold part of it), then those of
    /// [`recv_into_slice`](Receiver::recv_into_slice).
    pub fn recv_pod_into<T: FromBytes + IntoBytes>(&mut self, value: &mut T) -> Result<(), Error> {
        self.check_message_type(MessageType::of::<T>())?;
        recv_value(self, value, Receiver::recv_into_slice, |r| {
            Ok(r.recv()?.len())
        })
    }
}

impl Publisher {
    /// Publishes `value`'s bytes as one message ([`publish`](Self::publish)).
    ///
    /// # Errors
    ///
    /// Those of [`publish`](Self::publish).
    pub fn publish_pod<T: IntoBytes + Immutable>(&mut self, value: &T) -> Result<(), Error> {
        let at = || format!("the publisher of feed {}", self.name());
        check_call(at, self.message_type(), MessageType::of::<T>())?;
        self.publish(value.as_bytes())
    }
}

impl Subscriber {
    /// The next message, as a new `T` (see [`recv_pod_into`](Self::recv_pod_into)).
    ///
    /// # Errors
    ///
    /// Those of [`recv_pod_into`](Self::recv_pod_into).
    pub fn recv_pod<T: FromBytes + IntoBytes>(&mut self) -> Result<T, Error> {
        let mut value = T::new_zeroed();
        self.recv_pod_into(&mut value)?;
        Ok(value)
    }

    /// The next message, copied into `value` ([`recv_into`](Subscriber::recv_into)).
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] for a message of another size than a `T` (dropped), then those
    /// of [`recv_into`](Subscriber::recv_into) ([`Error::Lagged`] says how many were
    /// missed).
    pub fn recv_pod_into<T: FromBytes + IntoBytes>(&mut self, value: &mut T) -> Result<(), Error> {
        let at = || format!("the subscriber of feed {}", self.name());
        check_call(at, self.message_type(), MessageType::of::<T>())?;
        recv_value(self, value, Subscriber::recv_into, |s| Ok(s.recv()?.len()))
    }
}

#[cfg(feature = "tokio")]
impl crate::tokio::Subscriber {
    /// The next message, as a new `T`, awaited (see
    /// [`recv_pod_into`](Self::recv_pod_into)). Cancel-safe.
    ///
    /// # Errors
    ///
    /// Those of [`recv_pod_into`](Self::recv_pod_into).
    pub async fn recv_pod<T: FromBytes + IntoBytes>(&mut self) -> Result<T, Error> {
        let mut value = T::new_zeroed();
        self.recv_pod_into(&mut value).await?;
        Ok(value)
    }

    /// The next message, awaited and copied into `value`
    /// ([`recv_into`](crate::tokio::Subscriber::recv_into)). Cancel-safe: a future
    /// dropped before it completed took no message.
    ///
    /// # Errors
    ///
    /// [`Error::WrongMessageType`] for a `T` other than the declared type,
    /// [`Error::Decode`] for a message of another size than a `T` (dropped), then those
    /// of `recv_into`.
    pub async fn recv_pod_into<T: FromBytes + IntoBytes>(
        &mut self,
        value: &mut T,
    ) -> Result<(), Error> {
        let at = || format!("the subscriber of feed {}", self.name());
        check_call(at, self.message_type(), MessageType::of::<T>())?;
        match self.recv_into(value.as_mut_bytes()).await {
            Ok(len) if len == size_of::<T>() => Ok(()),
            Ok(len) => Err(wrong_size::<T>(len)),
            // Longer than a `T`: taken whole (it is there: no wait), and refused.
            Err(Error::BufferTooSmall { .. }) => Err(wrong_size::<T>(self.recv().await?.len())),
            Err(e) => Err(e),
        }
    }
}
