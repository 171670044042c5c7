//! Small wrappers over the system calls the lifecycle code needs.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{AtFlags, FallocateFlags, FileType, Mode, OFlags, Stat};

/// Flags of every open of an existing file in this crate, besides the access mode:
/// `O_NOCTTY`, so that no open ever makes a terminal our controlling terminal;
/// `O_NONBLOCK`, so that a FIFO, or a file under a lease, cannot make us wait;
/// `O_CLOEXEC`.
const OPEN_FLAGS: OFlags = OFlags::NOCTTY
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Opens a new open file description of the file behind `fd`, through
/// `/proc/self/fd/N`. Locks taken through it are independent of those of `fd`.
///
/// Callers make sure that `fd` is a regular file first ([`regular`]): opening a device
/// can have effects of its own.
pub(crate) fn reopen(fd: BorrowedFd<'_>, write: bool) -> io::Result<OwnedFd> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(rustix::fs::open(path, access | OPEN_FLAGS, Mode::empty())?)
}

/// The status of the file behind `fd` if it is a regular file, or what it is instead.
/// Asks the descriptor itself (`fstat`), without opening anything.
pub(crate) fn regular(fd: BorrowedFd<'_>) -> io::Result<Result<Stat, FileType>> {
    let st = rustix::fs::fstat(fd)?;
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(st),
        other => Err(other),
    })
}

/// An `O_PATH | O_NOFOLLOW` descriptor of `dir/file`: it opens nothing (no device driver,
/// no FIFO, no terminal is involved), and a symbolic link is looked at, not followed. Good
/// for `fstat` ([`regular`]) and, once the file is known to be regular, [`reopen`].
pub(crate) fn look_at(dir: BorrowedFd<'_>, file: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(dir, file, flags, Mode::empty())?)
}

/// Opens `dir/file` if, and only if, it is a regular file; otherwise returns what it is.
///
/// The name is looked at ([`look_at`]) and checked with `fstat` first; only a regular
/// file is then opened for real, through `/proc/self/fd`, which reaches exactly the file
/// that was checked.
pub(crate) fn open_regular_at(
    dir: BorrowedFd<'_>,
    file: &OsStr,
    write: bool,
) -> io::Result<Result<(OwnedFd, Stat), FileType>> {
    let path = look_at(dir, file)?;
    Ok(match regular(path.as_fd())? {
        Ok(st) => Ok((reopen(path.as_fd(), write)?, st)),
        Err(other) => Err(other),
    })
}

/// What a file of type `ft` is, for error messages ("a FIFO").
pub(crate) fn describe(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// An `O_PATH` descriptor of the directory `path`, for the `*at` calls (immune to a later
/// `chdir` or rename of a parent).
pub(crate) fn open_dir(path: impl AsRef<std::path::Path>) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path.as_ref(), flags, Mode::empty())?)
}

/// Whether two stats describe the same file.
pub(crate) fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Removes `dir/file` if, and only if, it is still the file behind `fd`.
///
/// Returns whether it removed it. Never follows a symbolic link at `dir/file`.
pub(crate) fn unlink_if_same(
    dir: BorrowedFd<'_>,
    file: &OsStr,
    fd: BorrowedFd<'_>,
) -> io::Result<bool> {
    let ours = rustix::fs::fstat(fd)?;
    let named = match rustix::fs::statat(dir, file, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if !same_file(&ours, &named) {
        return Ok(false);
    }
    match rustix::fs::unlinkat(dir, file, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Gives the file `len` bytes, reserving the memory with `fallocate` where the filesystem
/// supports it, so that running out of space is an `ENOSPC` error now rather than a
/// `SIGBUS` on first touch.
pub(crate) fn reserve(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    match rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            Ok(rustix::fs::ftruncate(fd, len)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// The allocation unit of the filesystem holding `fd`: the page size on tmpfs, the huge
/// page size on hugetlbfs. File sizes are rounded up to it.
pub(crate) fn allocation_unit(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let page = rustix::param::page_size() as u64;
    let block = u64::try_from(rustix::fs::fstatfs(fd)?.f_bsize).unwrap_or(page);
    Ok(if block.is_power_of_two() {
        block.max(page)
    } else {
        page
    })
}
