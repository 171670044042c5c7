//! Where a segment lives: its backing, its validated name and how to reach it.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::SegmentError;

/// Directory of POSIX shared-memory objects on Linux (what `shm_open` uses).
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// Prefix of every named segment's file in `/dev/shm`: `Segment::named("feed")` is `/dev/shm/ipclane.feed`.
pub const SHM_PREFIX: &str = "ipclane.";

/// Longest file name Linux accepts (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Longest name `memfd_create` accepts.
const MEMFD_NAME_MAX: usize = 249;

/// The kind of memory behind a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backing {
    /// A named POSIX shared-memory object in `/dev/shm` (`shm_open`).
    Shm,
    /// An anonymous memfd: no name in any filesystem, freed with its last descriptor.
    Memfd,
    /// A file at a path, normally on a tmpfs or hugetlbfs mount.
    File,
}

/// A segment file in a directory: a named segment (`/dev/shm/ipclane.<name>`) or a path.
#[derive(Debug)]
pub(crate) struct NamedFile {
    pub(crate) backing: Backing,
    /// What the user called it: the name without prefix, or the path.
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) file: OsString,
}

impl NamedFile {
    /// The full path, as error messages show it.
    pub(crate) fn display(&self) -> String {
        self.dir.join(&self.file).display().to_string()
    }

    /// An `O_PATH` descriptor of the directory, for the `*at` calls.
    pub(crate) fn open_dir(&self) -> Result<OwnedFd, SegmentError> {
        crate::sys::open_dir(&self.dir)
            .map_err(SegmentError::os_fn(&self.display(), "open directory"))
    }
}

/// A validated place to create or open a segment.
#[derive(Debug)]
pub(crate) enum Location {
    /// A file in a directory.
    Path(NamedFile),
    /// A memfd to create, with its debugging name.
    Memfd { name: String },
    /// A descriptor received from elsewhere (fork, `SCM_RIGHTS`), to open.
    Fd { fd: OwnedFd, name: String },
}

impl Location {
    /// A named shared-memory segment.
    pub(crate) fn shm(name: &str) -> Result<Self, SegmentError> {
        check_name(name, NAME_MAX - SHM_PREFIX.len())?;
        Ok(Self::Path(NamedFile {
            backing: Backing::Shm,
            name: name.to_owned(),
            dir: PathBuf::from(SHM_DIR),
            file: format!("{SHM_PREFIX}{name}").into(),
        }))
    }

    /// A file-backed segment at `path`.
    pub(crate) fn file(path: &Path) -> Result<Self, SegmentError> {
        let shown = path.display().to_string();
        let invalid = |reason| SegmentError::InvalidName {
            name: shown.clone(),
            reason,
        };
        if path.as_os_str().as_bytes().contains(&0) {
            return Err(invalid("a path cannot contain a NUL byte"));
        }
        let file = path
            .file_name()
            .ok_or_else(|| invalid("the path does not end in a file name"))?;
        if path.as_os_str().as_bytes().ends_with(b"/") {
            return Err(invalid("the path does not end in a file name"));
        }
        if file.len() > NAME_MAX {
            return Err(invalid("the file name is longer than 255 bytes"));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Self::Path(NamedFile {
            backing: Backing::File,
            name: shown,
            dir,
            file: file.to_owned(),
        }))
    }

    /// An anonymous memfd segment.
    pub(crate) fn memfd(name: &str) -> Result<Self, SegmentError> {
        check_name(name, MEMFD_NAME_MAX)?;
        Ok(Self::Memfd {
            name: name.to_owned(),
        })
    }

    /// A descriptor received from elsewhere, named after what `/proc/self/fd` shows.
    pub(crate) fn received(fd: OwnedFd) -> Self {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| format!("fd {}", fd.as_raw_fd()));
        let link = link.trim_end_matches(" (deleted)");
        let name = match link.strip_prefix("/memfd:") {
            Some(memfd) => format!("memfd:{memfd}"),
            None => link.to_owned(),
        };
        Self::Fd { fd, name }
    }

    /// How error messages and [`Segment::display_name`](crate::Segment) show this place.
    pub(crate) fn display(&self) -> String {
        match self {
            Self::Path(named) => named.display(),
            Self::Memfd { name } => format!("memfd:{name}"),
            Self::Fd { name, .. } => name.clone(),
        }
    }
}

/// Validates a segment name: non-empty, at most `max` bytes, no `/`, no NUL.
pub(crate) fn check_name(name: &str, max: usize) -> Result<(), SegmentError> {
    let reason = if name.is_empty() {
        "a name cannot be empty"
    } else if name.contains('/') {
        "a name cannot contain '/'"
    } else if name.contains('\0') {
        "a name cannot contain a NUL byte"
    } else if name.len() > max {
        "the name is too long"
    } else if name == "." || name == ".." {
        "a name cannot be '.' or '..'"
    } else {
        return Ok(());
    };
    Err(SegmentError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<Location, SegmentError>) -> &'static str {
        match r {
            Err(SegmentError::InvalidName { reason, .. }) => reason,
            other => panic!("expected InvalidName, got {other:?}"),
        }
    }

    #[test]
    fn shm_names_are_validated() {
        assert!(reason(Location::shm("")).contains("empty"));
        assert!(reason(Location::shm("a/b")).contains("'/'"));
        assert!(reason(Location::shm("a\0b")).contains("NUL"));
        assert!(reason(Location::shm(&"x".repeat(248))).contains("too long"));
        assert!(Location::shm(&"x".repeat(247)).is_ok());
        let loc = Location::shm("feed").unwrap();
        assert_eq!(loc.display(), "/dev/shm/ipclane.feed");
    }

    #[test]
    fn file_paths_are_validated() {
        assert!(reason(Location::file(Path::new("/tmp/"))).contains("file name"));
        assert!(reason(Location::file(Path::new(".."))).contains("file name"));
        let loc = Location::file(Path::new("seg")).unwrap();
        match loc {
            Location::Path(named) => {
                assert_eq!(named.dir, PathBuf::from("."));
                assert_eq!(named.file, OsString::from("seg"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memfd_names_are_validated() {
        assert!(reason(Location::memfd(&"m".repeat(250))).contains("too long"));
        assert_eq!(Location::memfd("m").unwrap().display(), "memfd:m");
    }
}
