//! What can go wrong when bridging, each naming what it concerns.

use std::path::PathBuf;

/// An error of the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key expression Zenoh does not accept (or, for an outbound bridge, one with
    /// wildcards: a publisher needs one key).
    #[error("invalid key expression {keyexpr:?}: {reason}")]
    InvalidKeyExpr {
        /// The key expression given.
        keyexpr: String,
        /// Why it was refused.
        reason: String,
    },

    /// A Zenoh configuration that could not be read or does not hold.
    #[error("invalid Zenoh configuration{}: {reason}", at.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    Config {
        /// The file it came from, if any.
        at: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },

    /// The Zenoh session could not be opened: an endpoint to connect to did not answer
    /// within the connect timeout, or one to listen on could not be bound.
    #[error("could not open a Zenoh session (connect to [{}], listen on [{}]): {reason}", connect.join(", "), listen.join(", "))]
    Open {
        /// The endpoints it was to connect to.
        connect: Vec<String>,
        /// The endpoints it was to listen on.
        listen: Vec<String>,
        /// What Zenoh said.
        reason: String,
    },

    /// A Zenoh call on an open session failed.
    #[error("Zenoh: {op} on {keyexpr}: {reason}")]
    Zenoh {
        /// What was being done.
        op: &'static str,
        /// The key expression concerned.
        keyexpr: String,
        /// What Zenoh said.
        reason: String,
    },

    /// A sample that is not a bridged record (another writer on the key expression, or a
    /// corrupted one).
    #[error("a sample of {len} bytes is not a bridged record: {reason}")]
    Frame {
        /// The sample's length.
        len: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The local side: a feed that cannot be made or read.
    #[error(transparent)]
    Ipclane(#[from] ipclane::Error),

    /// The bridge's thread or runtime could not be started.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}
