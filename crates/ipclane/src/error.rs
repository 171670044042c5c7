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

    /// From the shared-memory segment layer.
    #[error(transparent)]
    Segment(#[from] crate::segment::SegmentError),

    /// From the shared-memory queues.
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),

    /// From the Unix-socket layer.
    #[error(transparent)]
    Uds(#[from] crate::uds::UdsError),
}

impl Error {
    /// The [`io::ErrorKind`] that best describes this error (the layer's own for a
    /// layer's error).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::InvalidUrl { .. } => io::ErrorKind::InvalidInput,
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

    #[test]
    fn a_layer_error_keeps_its_message_and_kind() {
        let err = Error::from(crate::queue::QueueError::Timeout);
        assert_eq!(
            err.to_string(),
            crate::queue::QueueError::Timeout.to_string()
        );
        assert_eq!(err.io_kind(), io::ErrorKind::TimedOut);
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
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
