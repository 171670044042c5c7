//! The facade's one error type: each layer's error, and what the facade itself refuses.

use std::io;

/// An error from ipclane: one of a layer's errors, carried whole, or one the facade
/// itself reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL that does not follow the grammar of `docs/urls.md`.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// [`Options`](crate::Options) that cannot work, refused before any socket exists.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// Which setting, and why.
        reason: String,
    },

    /// The peer closed the connection, or died: every message it sent before was
    /// received.
    #[error("the peer{} disconnected", at_suffix(at))]
    Disconnected {
        /// Where: the connection's URL, or `feed NAME` (`None` where no call knew it).
        at: Option<String>,
    },

    /// A timed call gave up (nothing was lost: the next call continues).
    #[error("timed out{}", at_suffix(at).replace(" at ", " on "))]
    Timeout {
        /// Where, as for [`Disconnected`](Self::Disconnected).
        at: Option<String>,
    },

    /// A message over the connection's maximum, refused before anything was sent.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    MessageTooLarge {
        /// Length of the message.
        len: usize,
        /// The connection's maximum message size.
        max: usize,
    },

    /// A message longer than the buffer given to receive it: it stays next, whole, for a
    /// larger buffer or for a call that returns it (`recv`).
    #[error("message of {len} bytes does not fit the {capacity}-byte buffer (it stays next)")]
    BufferTooSmall {
        /// Length of the message (on a transport that carries it in fragments: at least
        /// this, counted so far).
        len: usize,
        /// Size of the buffer.
        capacity: usize,
    },

    /// A subscriber fell more than the feed's ring behind: `missed` messages were
    /// overwritten before it got to them. Its next receive continues with the oldest
    /// message still there.
    #[error("lagged behind the publisher: {missed} messages missed")]
    Lagged {
        /// Messages lost to this subscriber.
        missed: u64,
    },

    /// No memory for an allocation of `bytes` bytes for a message received (a process
    /// under `RLIMIT_AS` or a cgroup limit receiving a large one): nothing was lost, the
    /// message stays next for a later receive once memory is free. Close the connection
    /// to give it up.
    #[error("no memory for an allocation of {bytes} bytes for a message received (it stays next)")]
    OutOfMemory {
        /// The allocation that failed.
        bytes: usize,
    },

    /// A message that is not a `what` (feature `serde` or `pod`): of another type, or not
    /// from an ipclane peer of the same program. The message was dropped; the next
    /// receive goes on.
    #[error("a message of {len} bytes is not a {what}: {reason}")]
    Decode {
        /// The type expected.
        what: &'static str,
        /// The message's length.
        len: usize,
        /// What did not fit.
        reason: String,
    },

    /// A peer, or a call, of another message type than the one declared
    /// ([`MessageType`](crate::MessageType)): a typed subscriber of a feed that declares
    /// another type (at subscribe), a typed `shm:` connection whose server declared
    /// another (at connect), or a `publish_pod` / `recv_pod` of a type other than the
    /// handle's. Nothing was sent or taken.
    #[error("{at} carries {}, not the {expected} declared here", found.as_deref().unwrap_or("another message type"))]
    WrongMessageType {
        /// The feed, connection or handle.
        at: String,
        /// The type declared here.
        expected: String,
        /// What the other side declared, where it says.
        found: Option<String>,
    },

    /// A value serde could not encode (feature `serde`); nothing was sent.
    #[error("a {what} could not be encoded: {reason}")]
    Encode {
        /// Its type.
        what: &'static str,
        /// Why.
        reason: String,
    },

    /// The other end refused the connection during the handshake.
    #[error("connection to {url} refused: {reason}")]
    Refused {
        /// Where the connection went.
        url: String,
        /// Why.
        reason: String,
    },

    /// The peer broke ipclane's message format (a fragment without its flag, a message
    /// over the maximum): it is not an ipclane peer, or a hostile one. Close the
    /// connection.
    #[error("protocol violation by the peer: {reason}")]
    Protocol {
        /// What it did.
        reason: String,
    },

    /// From the shared-memory segment layer.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),

    /// From the shared-memory queues (but the outcomes this type has variants for).
    #[error(transparent)]
    Queue(crate::queue::QueueError),

    /// From the Unix-socket layer (but the outcomes this type has variants for).
    #[error(transparent)]
    Uds(crate::uds::UdsError),

    /// An OS error that no layer reported (a TCP socket's, `poll`, the handshake's
    /// socket), with what was being done.
    #[error("{op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The outcomes every transport shares get this type's own variants, whichever layer
/// reported them: a peer gone is [`Error::Disconnected`] on shared memory and on sockets.
impl From<crate::queue::QueueError> for Error {
    fn from(err: crate::queue::QueueError) -> Self {
        use crate::queue::QueueError;
        match err {
            QueueError::Disconnected => Self::DISCONNECTED,
            QueueError::Timeout => Self::TIMEOUT,
            QueueError::TooLarge { len, max } => Self::MessageTooLarge { len, max },
            QueueError::Lagged { missed } => Self::Lagged { missed },
            QueueError::BufferTooSmall { len, capacity } => Self::BufferTooSmall { len, capacity },
            QueueError::Segment(e) => Self::Segment(e),
            other => Self::Queue(other),
        }
    }
}

/// See the `QueueError` conversion.
impl From<crate::uds::UdsError> for Error {
    fn from(err: crate::uds::UdsError) -> Self {
        use crate::uds::UdsError;
        match err {
            UdsError::Disconnected => Self::DISCONNECTED,
            UdsError::Timeout { .. } => Self::TIMEOUT,
            UdsError::BufferTooSmall { len, capacity } => Self::BufferTooSmall { len, capacity },
            UdsError::OutOfMemory { bytes } => Self::OutOfMemory { bytes },
            UdsError::TooLarge { len, max } => Self::MessageTooLarge {
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max: usize::try_from(max).unwrap_or(usize::MAX),
            },
            other => Self::Uds(other),
        }
    }
}

/// " at WHERE", or nothing.
fn at_suffix(at: &Option<String>) -> String {
    at.as_ref().map_or(String::new(), |at| format!(" at {at}"))
}

impl Error {
    /// A peer gone, not yet said where.
    pub(crate) const DISCONNECTED: Self = Self::Disconnected { at: None };

    /// A timeout, not yet said where.
    pub(crate) const TIMEOUT: Self = Self::Timeout { at: None };

    /// This error, saying where it happened when it is one that needs it (a peer gone, a
    /// timeout) and does not say yet.
    pub(crate) fn at(self, place: &str) -> Self {
        match self {
            Self::Disconnected { at: None } => Self::Disconnected {
                at: Some(place.to_owned()),
            },
            Self::Timeout { at: None } => Self::Timeout {
                at: Some(place.to_owned()),
            },
            other => other,
        }
    }

    /// The handshake with `url` refused, for `reason`.
    pub(crate) fn refused(url: &str, reason: impl Into<String>) -> Self {
        Self::Refused {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::Protocol {
            reason: reason.into(),
        }
    }

    /// The OS error number behind this error, from whichever layer it came (`EMFILE`
    /// when the process is out of descriptors, say, which [`io_kind`](Self::io_kind)
    /// cannot tell: `std` has no kind for it); `None` when no OS error is kept (none
    /// failed, or a variant that names the outcome stands for it: `Disconnected` for
    /// `EPIPE`, a segment's `NoSpace` for `ENOSPC`).
    pub fn raw_os_error(&self) -> Option<i32> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = next {
            if let Some(code) = err
                .downcast_ref::<io::Error>()
                .and_then(io::Error::raw_os_error)
            {
                return Some(code);
            }
            next = err.source();
        }
        None
    }

    /// The [`io::ErrorKind`] that best describes this error (the layer's own for a
    /// layer's error).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::InvalidUrl { .. }
            | Self::InvalidOptions { .. }
            | Self::MessageTooLarge { .. }
            | Self::BufferTooSmall { .. } => io::ErrorKind::InvalidInput,
            Self::Disconnected { .. } => io::ErrorKind::BrokenPipe,
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
            Self::Refused { .. } => io::ErrorKind::ConnectionRefused,
            Self::OutOfMemory { .. } => io::ErrorKind::OutOfMemory,
            Self::Protocol { .. } | Self::Lagged { .. } | Self::Decode { .. } => {
                io::ErrorKind::InvalidData
            }
            Self::Encode { .. } => io::ErrorKind::InvalidInput,
            Self::WrongMessageType { .. } => io::ErrorKind::InvalidData,
            Self::Io { source, .. } => source.kind(),
            Self::Segment(e) => e.io_kind(),
            Self::Queue(e) => e.io_kind(),
            Self::Uds(e) => e.io_kind(),
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        io::Error::new(err.io_kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueError;
    use crate::uds::UdsError;

    #[test]
    fn a_layer_error_keeps_its_message_and_kind() {
        let layer = QueueError::Corrupted {
            reason: "a bad header".into(),
        };
        let message = layer.to_string();
        let err = Error::from(layer);
        assert_eq!(err.to_string(), message);
        assert_eq!(err.io_kind(), io::ErrorKind::InvalidData);
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn the_shared_outcomes_are_the_same_from_every_layer() {
        for err in [
            Error::from(QueueError::Disconnected),
            Error::from(UdsError::Disconnected),
        ] {
            assert!(matches!(err, Error::Disconnected { at: None }));
            assert_eq!(err.io_kind(), io::ErrorKind::BrokenPipe);
        }
        for err in [
            Error::from(QueueError::Timeout),
            Error::from(UdsError::Timeout { op: "recv" }),
        ] {
            assert!(matches!(err, Error::Timeout { at: None }));
            assert_eq!(err.io_kind(), io::ErrorKind::TimedOut);
        }
        for err in [
            Error::from(QueueError::TooLarge { len: 9, max: 8 }),
            Error::from(UdsError::TooLarge { len: 9, max: 8 }),
        ] {
            assert!(matches!(err, Error::MessageTooLarge { len: 9, max: 8 }));
        }
        assert!(matches!(
            Error::from(QueueError::Lagged { missed: 3 }),
            Error::Lagged { missed: 3 }
        ));
    }

    #[test]
    fn the_os_error_is_found_through_every_layer() {
        let emfile = || io::Error::from_raw_os_error(24);
        for err in [
            Error::Io {
                op: "accept a TCP connection",
                source: emfile(),
            },
            Error::from(UdsError::Io {
                op: "accept",
                source: emfile(),
            }),
        ] {
            assert_eq!(err.raw_os_error(), Some(24), "{err}");
        }
        assert_eq!(Error::DISCONNECTED.raw_os_error(), None);
        assert_eq!(
            Error::from(UdsError::OutOfMemory { bytes: 9 }).io_kind(),
            io::ErrorKind::OutOfMemory
        );
    }

    #[test]
    fn a_peer_gone_or_a_timeout_says_where() {
        let err = Error::DISCONNECTED.at("unix:///run/app.sock");
        assert_eq!(
            err.to_string(),
            "the peer at unix:///run/app.sock disconnected"
        );
        let err = Error::TIMEOUT.at("feed quotes");
        assert_eq!(err.to_string(), "timed out on feed quotes");
        assert_eq!(Error::DISCONNECTED.to_string(), "the peer disconnected");
        // Where it is already said, it stays.
        let err = Error::DISCONNECTED.at("a").at("b");
        assert!(err.to_string().contains(" a "), "{err}");
    }

    #[test]
    fn an_invalid_url_is_invalid_input_naming_the_url() {
        let err = "nope".parse::<crate::Url>().unwrap_err();
        assert_eq!(err.io_kind(), io::ErrorKind::InvalidInput);
        assert!(
            err.to_string().starts_with("invalid URL \"nope\": "),
            "{err}"
        );
    }
}
