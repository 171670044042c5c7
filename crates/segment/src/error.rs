//! Errors of segment operations.

use std::io;

/// An error from creating, opening, inspecting or removing a segment.
///
/// Every variant names the segment it concerns (`name`): the path of a named or
/// file-backed segment (`/dev/shm/ipclane.feed`), or `memfd:<name>` for an anonymous one.
/// The errnos a caller acts on are mapped to their own variants; any other OS error is
/// [`SegmentError::Io`] with the operation that failed and the OS error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// No segment exists under this name (`ENOENT`).
    #[error("segment {name} not found")]
    NotFound {
        /// The segment.
        name: String,
    },

    /// An exclusive create found the name taken (`EEXIST`); the existing segment is untouched.
    #[error("segment {name} already exists")]
    AlreadyExists {
        /// The segment.
        name: String,
    },

    /// The caller may not open or create this segment (`EACCES`, `EPERM`).
    #[error("permission denied for segment {name}")]
    PermissionDenied {
        /// The segment.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The name cannot be a segment name (empty, contains `/` or NUL, too long).
    #[error("invalid segment name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name, as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The filesystem cannot hold a segment of this size: it is out of space or out of
    /// inodes, or the user's quota is exhausted (`ENOSPC`, `EDQUOT` when making, naming or
    /// reserving its file).
    #[error(
        "no space for segment {name} of {size} bytes (the filesystem is out of space or inodes)"
    )]
    NoSpace {
        /// The segment.
        name: String,
        /// Total size in bytes that could not be reserved (header included).
        size: u64,
    },

    /// The segment exists but its creator never finished building it: it died, it
    /// reported a failure, or it did not finish within the open timeout.
    #[error("segment {name} is not initialized: {reason}")]
    NotInitialized {
        /// The segment.
        name: String,
        /// Why it is considered uninitialised.
        reason: String,
    },

    /// The segment is valid but does not match what the caller expects: another layout
    /// version, kind tag, layout hash or size.
    #[error("segment {name} is incompatible: {what} is {found:#x}, expected {expected:#x}")]
    Incompatible {
        /// The segment.
        name: String,
        /// The field that differs (`"layout version"`, `"kind tag"`, `"layout hash"`, ...).
        what: &'static str,
        /// The value the caller expected.
        expected: u64,
        /// The value found in the segment.
        found: u64,
    },

    /// The file is not a valid segment: too short, wrong magic, inconsistent sizes, a
    /// bad checksum, not a regular file, or an unsealed memfd.
    #[error("segment {name} is corrupt: {reason}")]
    Corrupted {
        /// The segment.
        name: String,
        /// What failed validation.
        reason: String,
    },

    /// The builder was given settings that cannot work (no size, zero size, create on a
    /// received file descriptor, ...).
    #[error("invalid configuration for segment {name}: {reason}")]
    InvalidConfig {
        /// The segment.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The initialiser given to the builder failed; the new segment was removed.
    #[error("initializer of segment {name} failed")]
    InitFailed {
        /// The segment.
        name: String,
        /// The initialiser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },

    /// A liveness claim is already held by another live handle.
    #[error("claim {index} on segment {name} is held by another live handle")]
    AlreadyClaimed {
        /// The segment.
        name: String,
        /// The claim index.
        index: u32,
    },

    /// Any other OS error.
    #[error("{op} failed for segment {name}")]
    Io {
        /// The segment.
        name: String,
        /// The operation that failed (`"mmap"`, `"fallocate"`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl SegmentError {
    /// Maps an OS error of operation `op` on segment `name` to the variant a caller acts on.
    pub(crate) fn os(name: &str, op: &'static str, err: impl Into<io::Error>) -> Self {
        let source: io::Error = err.into();
        let name = name.to_owned();
        match source.raw_os_error() {
            Some(libc::ENOENT) => Self::NotFound { name },
            Some(libc::EEXIST) => Self::AlreadyExists { name },
            Some(libc::EACCES | libc::EPERM) => Self::PermissionDenied { name, source },
            Some(libc::ENAMETOOLONG) => Self::InvalidName {
                name,
                reason: "the system rejects the name as too long",
            },
            _ => Self::Io { name, op, source },
        }
    }

    /// A closure for `map_err` that maps an OS error of `op` while creating the segment
    /// `name` of `size` bytes: like [`Self::os`], and `ENOSPC` or `EDQUOT` (out of space,
    /// of inodes or of quota) is [`SegmentError::NoSpace`].
    pub(crate) fn creating<'a, E: Into<io::Error>>(
        name: &'a str,
        op: &'static str,
        size: u64,
    ) -> impl FnOnce(E) -> Self + 'a {
        move |e| {
            let source: io::Error = e.into();
            match source.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT) => Self::NoSpace {
                    name: name.to_owned(),
                    size,
                },
                _ => Self::os(name, op, source),
            }
        }
    }

    /// A closure for `map_err` that maps an OS error of `op` on `name` with [`Self::os`].
    pub(crate) fn os_fn<'a, E: Into<io::Error>>(
        name: &'a str,
        op: &'static str,
    ) -> impl FnOnce(E) -> Self + 'a {
        move |e| Self::os(name, op, e)
    }

    /// A [`SegmentError::Corrupted`] for `name`.
    pub(crate) fn corrupt(name: &str, reason: impl Into<String>) -> Self {
        Self::Corrupted {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// The [`io::ErrorKind`] that best describes this error.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Self::NotFound { .. } => io::ErrorKind::NotFound,
            Self::AlreadyExists { .. } | Self::AlreadyClaimed { .. } => {
                io::ErrorKind::AlreadyExists
            }
            Self::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            Self::InvalidName { .. } | Self::InvalidConfig { .. } => io::ErrorKind::InvalidInput,
            Self::NoSpace { .. } => io::ErrorKind::StorageFull,
            Self::NotInitialized { .. } => io::ErrorKind::TimedOut,
            Self::Incompatible { .. } | Self::Corrupted { .. } => io::ErrorKind::InvalidData,
            Self::InitFailed { .. } => io::ErrorKind::Other,
            Self::Io { source, .. } => source.kind(),
        }
    }
}

impl From<SegmentError> for io::Error {
    fn from(err: SegmentError) -> Self {
        io::Error::new(err.io_kind(), err)
    }
}

/// An out-of-bounds or misaligned access through a [`Region`](crate::Region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// `offset + len` does not fit in the region.
    #[error("access of {len} bytes at offset {offset} is outside the region of {region_len} bytes")]
    OutOfBounds {
        /// Requested offset.
        offset: usize,
        /// Requested length.
        len: usize,
        /// Length of the region.
        region_len: usize,
    },
    /// The address at `offset` is not aligned to `align`.
    #[error("offset {offset} is not aligned to {align} bytes")]
    Misaligned {
        /// Requested offset.
        offset: usize,
        /// Required alignment.
        align: usize,
    },
}
