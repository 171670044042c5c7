//! Errors of the socket layer.

use std::io;
use std::path::PathBuf;

use crate::PeerCredentials;

/// An error from framing, a message socket, a listener, credentials or fd passing.
///
/// The variants a caller acts on are their own: a peer that went away is
/// [`Disconnected`](Self::Disconnected), never an OS error to decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UdsError {
    /// A frame or message is larger than allowed: the codec's maximum frame length, or
    /// what the socket can carry in one message (`SO_SNDBUF` minus 32 bytes, the limit
    /// Linux applies). Detected before any allocation or send.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Length of the frame (from its header, when decoding).
        len: u64,
        /// The limit.
        max: u64,
    },

    /// The stream ended inside a frame.
    #[error("stream ended inside a frame: got {received} of {expected} bytes of its {part}")]
    Truncated {
        /// `"length header"` or `"payload"`.
        part: &'static str,
        /// Bytes of that part received before the end.
        received: u64,
        /// Bytes that part needed.
        expected: u64,
    },

    /// A message was larger than the receive buffer; the kernel discarded the rest, so
    /// the message is reported instead of returned short.
    #[error("message of {len} bytes was truncated to the {capacity}-byte receive buffer")]
    MessageTruncated {
        /// Length of the message as sent.
        len: usize,
        /// Size of the buffer it was received into.
        capacity: usize,
    },

    /// A frame is longer than the buffer it was to be read into; it stays next, whole,
    /// for a larger buffer or for `read_frame`.
    #[error("frame of {len} bytes does not fit the {capacity}-byte buffer (it stays next)")]
    BufferTooSmall {
        /// Length of the frame.
        len: usize,
        /// Size of the buffer.
        capacity: usize,
    },

    /// An empty message on a `SOCK_SEQPACKET` socket, which a receiver using plain
    /// `recv(2)` cannot tell from the peer closing the connection, or empty data carrying
    /// descriptors.
    #[error("cannot send an empty message here: the receiver would take it for end-of-stream")]
    EmptyMessage,

    /// A datagram socket was shut down for reading (`shutdown(SHUT_RD)`): no message
    /// will arrive.
    #[error("the socket is shut down for reading")]
    ReadShutdown,

    /// The socket's read or write timeout (`set_read_timeout`, `set_write_timeout`)
    /// expired; nothing was lost, the call may be made again.
    #[error("{op} timed out")]
    Timeout {
        /// The operation (`"recv"`, `"send"`, ...).
        op: &'static str,
    },

    /// The peer closed the connection or died (`EPIPE`, `ECONNRESET`).
    #[error("the peer disconnected")]
    Disconnected,

    /// The address is taken by a listening socket.
    #[error("address {addr} is in use")]
    AddrInUse {
        /// The address.
        addr: String,
    },

    /// Something other than a socket is at the path; it is left untouched and never
    /// followed.
    #[error("{path:?} is a {found}, not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
        /// What is there (`"regular file"`, `"symbolic link"`, ...).
        found: &'static str,
    },

    /// The socket file did not get the requested permissions: the umask or a default ACL
    /// of the directory removed some, and no private umask was available for the bind
    /// (see [`ListenerBuilder::mode`](crate::ListenerBuilder::mode)). The file was removed;
    /// its mode is never widened afterwards through the path.
    #[error("socket file {path:?} was created with mode {actual:03o}, not {requested:03o}")]
    ModeNotApplied {
        /// The path.
        path: PathBuf,
        /// The mode asked for.
        requested: u32,
        /// The mode the file was created with.
        actual: u32,
    },

    /// The address cannot be a Unix socket address.
    #[error("invalid socket address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// The directory of a socket path does not exist: binding creates the socket file,
    /// never its directory.
    #[error("directory {dir:?} of socket {addr} does not exist")]
    NoSuchDirectory {
        /// The socket's address.
        addr: String,
        /// The directory that is missing (or one of its ancestors).
        dir: std::path::PathBuf,
    },

    /// Nothing listens at the address (`ENOENT`, `ECONNREFUSED` on connecting): no socket
    /// there, or nobody accepting on it.
    #[error("nothing listens at {addr}")]
    NotListening {
        /// The address.
        addr: String,
    },

    /// The caller may not use the address (`EACCES`, `EPERM`).
    #[error("permission denied for {addr}")]
    PermissionDenied {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The listener's access policy refused the peer; its connection was closed.
    #[error("peer pid {} uid {} gid {} refused by the access policy", .credentials.pid, .credentials.uid, .credentials.gid)]
    PeerRejected {
        /// Who the peer was.
        credentials: PeerCredentials,
    },

    /// The ancillary data did not fit (`MSG_CTRUNC`); every descriptor that arrived was
    /// closed.
    #[error(
        "ancillary data was truncated (descriptors beyond what this process may open, or than were expected); the descriptors received were closed"
    )]
    ControlTruncated,

    /// No memory for a receive buffer of `bytes` bytes: the frame stays in progress,
    /// nothing of it is lost, and a later receive goes on once memory is free (or close
    /// the connection).
    #[error("no memory for a receive buffer of {bytes} bytes (the frame stays in progress)")]
    OutOfMemory {
        /// The buffer's size.
        bytes: usize,
    },

    /// More descriptors arrived than the caller accepts; all of them were closed.
    #[error("{received} descriptors received, at most {max} accepted; all were closed")]
    TooManyFds {
        /// Descriptors received.
        received: usize,
        /// Descriptors accepted.
        max: usize,
    },

    /// Any other OS error.
    #[error("{op} failed")]
    Io {
        /// The operation (`"recv"`, `"sendmsg"`, `"bind"`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl UdsError {
    /// Maps an OS error of a data transfer: a gone peer is [`UdsError::Disconnected`]; on
    /// these blocking sockets, "try again" is an expired read or write timeout,
    /// [`UdsError::Timeout`].
    pub(crate) fn transfer(op: &'static str, err: impl Into<io::Error>) -> Self {
        use rustix::io::Errno;
        let source = err.into();
        match source.raw_os_error().map(Errno::from_raw_os_error) {
            Some(Errno::PIPE | Errno::CONNRESET) => Self::Disconnected,
            Some(Errno::AGAIN) => Self::Timeout { op },
            _ => Self::Io { op, source },
        }
    }

    /// Maps an OS error of connecting to `addr`: nothing there, or nobody accepting, is
    /// [`UdsError::NotListening`].
    pub(crate) fn connecting(addr: &str, err: impl Into<io::Error>) -> Self {
        let source = err.into();
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => Self::NotListening {
                addr: addr.to_owned(),
            },
            _ => Self::at(addr, "connect", source),
        }
    }

    /// Maps an OS error of operation `op` (binding, listening, the socket file and its
    /// directory) on address `addr`: a missing path there is the directory's absence,
    /// [`UdsError::NoSuchDirectory`] (binding creates the socket file, never its
    /// directory), not a listener's.
    pub(crate) fn at(addr: &str, op: &'static str, err: impl Into<io::Error>) -> Self {
        let source = err.into();
        let addr = addr.to_owned();
        match source.kind() {
            io::ErrorKind::AddrInUse => Self::AddrInUse { addr },
            io::ErrorKind::NotFound => {
                let dir = match std::path::Path::new(&addr).parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => std::path::PathBuf::from("."),
                };
                Self::NoSuchDirectory { addr, dir }
            }
            io::ErrorKind::PermissionDenied => Self::PermissionDenied { addr, source },
            _ => Self::Io { op, source },
        }
    }

    /// The [`io::ErrorKind`] that best describes this error.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::TooLarge { .. } | Self::Truncated { .. } | Self::MessageTruncated { .. } => {
                io::ErrorKind::InvalidData
            }
            Self::ControlTruncated | Self::TooManyFds { .. } => io::ErrorKind::InvalidData,
            Self::OutOfMemory { .. } => io::ErrorKind::OutOfMemory,
            Self::EmptyMessage | Self::InvalidAddress { .. } | Self::BufferTooSmall { .. } => {
                io::ErrorKind::InvalidInput
            }
            Self::Disconnected => io::ErrorKind::BrokenPipe,
            Self::Timeout { .. } => io::ErrorKind::TimedOut,
            Self::ReadShutdown => io::ErrorKind::NotConnected,
            Self::AddrInUse { .. } => io::ErrorKind::AddrInUse,
            Self::NotASocket { .. } => io::ErrorKind::AlreadyExists,
            Self::ModeNotApplied { .. } => io::ErrorKind::Other,
            Self::NotListening { .. } => io::ErrorKind::ConnectionRefused,
            Self::NoSuchDirectory { .. } => io::ErrorKind::NotFound,
            Self::PermissionDenied { .. } | Self::PeerRejected { .. } => {
                io::ErrorKind::PermissionDenied
            }
            Self::Io { source, .. } => source.kind(),
        }
    }
}

impl From<UdsError> for io::Error {
    fn from(err: UdsError) -> Self {
        io::Error::new(err.io_kind(), err)
    }
}
