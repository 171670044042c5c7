//! Finding named segments: the `ipclane.*` entries of `/dev/shm` and what they hold.
//! Removing the stale ones is [`gc`](crate::gc)'s job.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::header::{self, Fault, Header};
use crate::location::{SHM_DIR, SHM_PREFIX};
use crate::{CreatorInfo, Kind, SegmentError, locks, sys};

/// What [`list`] knows about one named segment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment's name (without the `ipclane.` prefix), as [`Segment::named`](crate::Segment::named) takes it.
    pub name: String,
    /// The file in `/dev/shm`.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Permission bits of the file.
    pub mode: u32,
    /// Owner user id of the file.
    pub uid: u32,
    /// Whether the owning handle is alive; `None` when the file could not be opened.
    pub owner_alive: Option<bool>,
    /// Live handles attached; `None` when the file could not be opened.
    pub attached: Option<usize>,
    /// What the header says.
    pub state: SegmentState,
}

/// The state of a listed segment, from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentState {
    /// Initialised and valid.
    Ready {
        /// Kind tag and layout hash.
        kind: Kind,
        /// Length of the user region in bytes.
        len: u64,
        /// Whether it is meant to outlive its owner (gc leaves it alone).
        persistent: bool,
        /// Who created it (diagnostic).
        creator: CreatorInfo,
    },
    /// Its creator has not finished building it (or died doing so).
    Initializing,
    /// Its creator's initialiser failed.
    Failed,
    /// Not a valid segment of this layout version.
    Invalid {
        /// What failed validation.
        reason: String,
    },
    /// The file could not be opened or read.
    Unreadable {
        /// The OS error.
        reason: String,
    },
}

/// Lists every named ipclane segment (every `/dev/shm/ipclane.*` file), with its state,
/// whether its owner is alive and how many handles are attached.
///
/// Never fails because of one bad entry: a file that cannot be read or is not a valid
/// segment is listed with that state.
///
/// # Errors
///
/// [`SegmentError::Io`] when `/dev/shm` itself cannot be read.
///
/// # Examples
///
/// ```
/// let name = format!("doc-list-{}", std::process::id());
/// let seg = ipclane_segment::Segment::named(&name).size(64).create()?;
/// let listed = ipclane_segment::list()?;
/// let me = listed.iter().find(|info| info.name == name).expect("listed");
/// assert_eq!(me.owner_alive, Some(true));
/// assert_eq!(me.attached, Some(1));
/// # drop(seg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list() -> Result<Vec<SegmentInfo>, SegmentError> {
    let dir = shm_dir()?;
    let mut out = Vec::new();
    for (name, file) in entries()? {
        out.push(inspect(dir.as_fd(), name, &file));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(crate) fn shm_dir() -> Result<OwnedFd, SegmentError> {
    rustix::fs::open(
        SHM_DIR,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SegmentError::os_fn(SHM_DIR, "open directory"))
}

/// The `(name, file name)` of every `ipclane.*` entry of `/dev/shm`.
pub(crate) fn entries() -> Result<Vec<(String, std::ffi::OsString)>, SegmentError> {
    let read =
        std::fs::read_dir(SHM_DIR).map_err(SegmentError::os_fn(SHM_DIR, "read directory"))?;
    let mut out = Vec::new();
    for entry in read {
        let file = entry
            .map_err(SegmentError::os_fn(SHM_DIR, "read directory"))?
            .file_name();
        if let Some(name) = file.as_bytes().strip_prefix(SHM_PREFIX.as_bytes()) {
            out.push((String::from_utf8_lossy(name).into_owned(), file.clone()));
        }
    }
    Ok(out)
}

/// Describes the entry `file` of `dir`.
fn inspect(dir: BorrowedFd<'_>, name: String, file: &OsStr) -> SegmentInfo {
    let path = PathBuf::from(SHM_DIR).join(file);
    let mut info = SegmentInfo {
        name,
        path,
        file_size: 0,
        mode: 0,
        uid: 0,
        owner_alive: None,
        attached: None,
        state: SegmentState::Unreadable {
            reason: String::new(),
        },
    };
    if let Ok(st) = rustix::fs::statat(dir, file, AtFlags::SYMLINK_NOFOLLOW) {
        info.file_size = u64::try_from(st.st_size).unwrap_or(0);
        info.mode = st.st_mode & 0o7777;
        info.uid = st.st_uid;
    }
    let fd = match sys::open_regular_at(dir, file, false) {
        Ok(Ok((fd, _))) => fd,
        Ok(Err(file_type)) => {
            info.state = SegmentState::Invalid {
                reason: format!("{}, not a regular file", sys::describe(file_type)),
            };
            return info;
        }
        Err(e) => {
            info.state = SegmentState::Unreadable {
                reason: e.to_string(),
            };
            return info;
        }
    };
    match probe(&fd) {
        Ok((alive, attached, state)) => {
            info.owner_alive = Some(alive);
            info.attached = Some(attached);
            info.state = state;
        }
        Err(e) => {
            info.state = SegmentState::Unreadable {
                reason: e.to_string(),
            }
        }
    }
    info
}

/// Liveness, attached handles and header state of an open segment file.
fn probe(fd: &OwnedFd) -> io::Result<(bool, usize, SegmentState)> {
    let alive = locks::owner_alive(fd.as_fd())?;
    let attached = locks::attached(fd.as_fd())?;
    Ok((alive, attached, header_state(fd)?))
}

/// The state the header of `fd` describes.
fn header_state(fd: &OwnedFd) -> io::Result<SegmentState> {
    let (bytes, size) = crate::open::read_header(fd)?;
    Ok(state_of(header::parse(&bytes, size)))
}

/// The state a parsed header describes.
fn state_of(parsed: Result<Header, Fault>) -> SegmentState {
    match parsed {
        Ok(h) => SegmentState::Ready {
            kind: h.kind,
            len: h.user_len,
            persistent: h.flags & header::FLAG_PERSISTENT != 0,
            creator: h.creator,
        },
        Err(Fault::Building | Fault::Unwritten) => SegmentState::Initializing,
        Err(Fault::Failed) => SegmentState::Failed,
        Err(fault) => SegmentState::Invalid {
            reason: fault.to_string(),
        },
    }
}
