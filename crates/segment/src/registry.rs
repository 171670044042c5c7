//! Finding named segments and removing the stale ones.
//!
//! A named segment is *stale* when its owner is dead (nobody holds the owner lock) and it is
//! not marked persistent. `gc` proves staleness by taking the owner lock itself: that
//! succeeds only if no owner holds it, and while `gc` holds it no other `gc` can act on the
//! same file. It then removes the name only if the name still refers to that very file, so
//! a segment created again under the same name in the meantime is never touched.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::header::{self, Fault, HEADER_LEN};
use crate::location::{SHM_DIR, SHM_PREFIX};
use crate::{CreatorInfo, Kind, SegmentError, locks};

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

/// What [`gc`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct GcReport {
    /// Names (without prefix) of the segments removed.
    pub removed: Vec<String>,
    /// Names of the segments left in place because an owner is alive or they persist.
    pub kept: Vec<String>,
    /// Segments that could not be examined or removed, with the error.
    pub failed: Vec<(String, SegmentError)>,
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

/// Removes every stale named segment: owner dead and not persistent. A segment with a
/// live owner is never removed, and concurrent `gc` calls (in any processes) are safe.
///
/// Processes that still have a removed segment open keep using it; the memory is freed
/// when the last of them closes it.
///
/// # Errors
///
/// [`SegmentError::Io`] when `/dev/shm` itself cannot be read; errors on single entries go
/// to [`GcReport::failed`].
pub fn gc() -> Result<GcReport, SegmentError> {
    let dir = shm_dir()?;
    let mut report = GcReport::default();
    for (name, file) in entries()? {
        match remove_if_stale(dir.as_fd(), &file) {
            Ok(true) => report.removed.push(name),
            Ok(false) => report.kept.push(name),
            Err(e) => {
                let path = PathBuf::from(SHM_DIR).join(&file).display().to_string();
                report.failed.push((name, SegmentError::os(&path, "gc", e)));
            }
        }
    }
    Ok(report)
}

fn shm_dir() -> Result<OwnedFd, SegmentError> {
    rustix::fs::open(
        SHM_DIR,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(SegmentError::os_fn(SHM_DIR, "open directory"))
}

/// The `(name, file name)` of every `ipclane.*` entry of `/dev/shm`.
fn entries() -> Result<Vec<(String, std::ffi::OsString)>, SegmentError> {
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
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, file, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            info.state = SegmentState::Unreadable {
                reason: io::Error::from(e).to_string(),
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
    let st = rustix::fs::fstat(fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        let state = SegmentState::Invalid {
            reason: "not a regular file".into(),
        };
        return Ok((false, 0, state));
    }
    let alive = locks::owner_alive(fd.as_fd())?;
    let attached = locks::attached(fd.as_fd())?;
    Ok((alive, attached, header_state(fd)?))
}

/// The state the header of `fd` describes.
fn header_state(fd: &OwnedFd) -> io::Result<SegmentState> {
    let size = u64::try_from(rustix::fs::fstat(fd)?.st_size).unwrap_or(0);
    let mut bytes = [0u8; HEADER_LEN];
    let n = rustix::io::pread(fd, &mut bytes[..], 0)?;
    let size = if n < HEADER_LEN {
        size.min(n as u64)
    } else {
        size
    };
    Ok(match header::parse(&bytes, size) {
        Ok(h) => SegmentState::Ready {
            kind: h.kind,
            len: h.user_len,
            persistent: h.flags & header::FLAG_PERSISTENT != 0,
            creator: h.creator,
        },
        Err(Fault::Building) => SegmentState::Initializing,
        Err(Fault::Failed) => SegmentState::Failed,
        Err(Fault::Short(size)) => SegmentState::Invalid {
            reason: format!("the file is {size} bytes, shorter than the {HEADER_LEN}-byte header"),
        },
        Err(Fault::Corrupt(reason)) => SegmentState::Invalid { reason },
        Err(Fault::Incompatible {
            what,
            expected,
            found,
        }) => SegmentState::Invalid {
            reason: format!("{what} is {found:#x}, expected {expected:#x}"),
        },
    })
}

/// Removes `dir/file` if it is a stale segment; returns whether it did.
///
/// Not stale (kept): an owner is alive (or another `gc` is busy with the file), it is
/// persistent, it is not a regular file (a symbolic link is never followed), or the name
/// already names another file.
pub(crate) fn remove_if_stale(dir: BorrowedFd<'_>, file: &OsStr) -> io::Result<bool> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, file, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::LOOP) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Ok(false);
    }
    // Taking the owner lock proves that no owner holds it, and excludes other gc calls
    // (and keeps excluding them until `fd` is closed, after the unlink).
    if !locks::try_lock(fd.as_fd(), locks::OWNER, 1)? {
        return Ok(false);
    }
    if matches!(
        header_state(&fd)?,
        SegmentState::Ready {
            persistent: true,
            ..
        }
    ) {
        return Ok(false);
    }
    crate::sys::unlink_if_same(dir, file, fd.as_fd())
}
