//! Liveness through open-file-description (OFD) byte-range locks.
//!
//! An OFD lock belongs to an open file description, not to a process id, and the kernel
//! releases it when the last descriptor of that description is closed, including when the
//! process holding it dies. So "is somebody holding this byte?" answers "is that handle
//! alive?" without PIDs, and PID reuse cannot fool it.
//!
//! The lock map (offsets in the file's lock space; they never touch the data, since the
//! locks are advisory and only ipclane takes them):
//!
//! ```text
//! byte 0                               owner: write-locked by the creating handle
//! bytes 2 .. 2 + 65536                 handle slots: one write-locked byte per live handle
//! byte 2^31                            builder: write-locked by the creating handle until
//!                                      the header's state is READY or FAILED
//! bytes 2^32 .. 2^32 + 2^32            claims: Segment::claim(i) write-locks 2^32 + i
//! ```
//!
//! Byte 1 stays unused so that the owner byte and the owner's slot, held by the same open
//! file description, are never adjacent and never merged by the kernel into one lock.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Byte of the owner lock.
pub(crate) const OWNER: u64 = 0;
/// First byte of the handle slots.
pub(crate) const SLOT_BASE: u64 = 2;
/// Number of handle slots: the most handles one segment can have attached.
pub(crate) const MAX_HANDLES: u64 = 1 << 16;
/// Byte of the builder lock: held by the creating handle from before the segment's name
/// appears until its state is final (READY or FAILED). Openers wait for a header that is
/// not ready only while it is held, so a header nobody is building fails at once.
pub(crate) const BUILDER: u64 = 1 << 31;
/// First byte of the claims.
pub(crate) const CLAIM_BASE: u64 = 1 << 32;

fn flock(kind: libc::c_short, start: u64, len: u64) -> libc::flock {
    // SAFETY: libc::flock is a plain C struct of integers, for which all-zero is valid;
    // l_pid must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    // Offsets of the lock map stay below 2^33, far inside off_t.
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    fl
}

fn fcntl_flock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
    // SAFETY: fd is a valid open descriptor for the duration of the call (borrowed) and
    // fl points to a properly initialised flock struct that the kernel may read and, for
    // F_OFD_GETLK, overwrite.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Takes a write lock on `len` bytes at `start` without waiting.
///
/// Returns `Ok(false)` when another open file description holds a conflicting lock.
/// `fd` must be open for writing.
pub(crate) fn try_lock(fd: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<bool> {
    let mut fl = flock(libc::F_WRLCK as libc::c_short, start, len);
    match fcntl_flock(fd, libc::F_OFD_SETLK, &mut fl) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases the lock of this open file description on `len` bytes at `start`.
pub(crate) fn unlock(fd: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<()> {
    let mut fl = flock(libc::F_UNLCK as libc::c_short, start, len);
    fcntl_flock(fd, libc::F_OFD_SETLK, &mut fl)
}

/// Finds a lock held by another open file description on `[start, end)`.
///
/// Returns the range `[lock_start, lock_end)` of one such lock (which one, the kernel
/// decides), or `None` when the range is free.
pub(crate) fn find(fd: BorrowedFd<'_>, start: u64, end: u64) -> io::Result<Option<(u64, u64)>> {
    let mut fl = flock(libc::F_WRLCK as libc::c_short, start, end - start);
    fcntl_flock(fd, libc::F_OFD_GETLK, &mut fl)?;
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    let lock_start = u64::try_from(fl.l_start).unwrap_or(0);
    let lock_end = match u64::try_from(fl.l_len) {
        Ok(0) | Err(_) => u64::MAX, // 0 means "to the end of the lock space"
        Ok(len) => lock_start.saturating_add(len),
    };
    Ok(Some((lock_start, lock_end)))
}

/// Whether another open file description holds any lock on `[start, end)`.
pub(crate) fn is_held(fd: BorrowedFd<'_>, start: u64, end: u64) -> io::Result<bool> {
    Ok(find(fd, start, end)?.is_some())
}

/// Counts the locks held by other open file descriptions on `[start, end)`.
///
/// `F_OFD_GETLK` reports one conflicting lock at a time and not necessarily the lowest,
/// so the range is split around each lock found and both sides are searched again:
/// `2n + 1` calls for `n` locks.
pub(crate) fn count(fd: BorrowedFd<'_>, start: u64, end: u64) -> io::Result<usize> {
    let mut pending = vec![(start, end)];
    let mut found = 0;
    while let Some((lo, hi)) = pending.pop() {
        if lo >= hi {
            continue;
        }
        if let Some((s, e)) = find(fd, lo, hi)? {
            found += 1;
            pending.push((lo, s.max(lo)));
            pending.push((e.min(hi), hi));
        }
    }
    Ok(found)
}

/// Takes a free handle slot for the open file description of `fd` (open for writing).
///
/// Returns the slot's byte, or `None` when all [`MAX_HANDLES`] slots are taken. The
/// search starts at a point derived from the process id, so processes attaching at the
/// same time rarely try the same slots.
pub(crate) fn attach(fd: BorrowedFd<'_>) -> io::Result<Option<u64>> {
    let pid = u64::from(
        rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs(),
    );
    let first = pid.wrapping_mul(0x9e37_79b9_7f4a_7c15) % MAX_HANDLES;
    for i in 0..MAX_HANDLES {
        let byte = SLOT_BASE + (first + i) % MAX_HANDLES;
        if try_lock(fd, byte, 1)? {
            return Ok(Some(byte));
        }
    }
    Ok(None)
}

/// Counts the live handles attached to the file (through a descriptor `fd` that holds no
/// slot itself).
pub(crate) fn attached(fd: BorrowedFd<'_>) -> io::Result<usize> {
    count(fd, SLOT_BASE, SLOT_BASE + MAX_HANDLES)
}

/// Whether the owner lock is held (through a descriptor that does not hold it itself).
pub(crate) fn owner_alive(fd: BorrowedFd<'_>) -> io::Result<bool> {
    is_held(fd, OWNER, OWNER + 1)
}

/// Whether a creator is still building the segment: the builder lock is held (through a
/// descriptor that does not hold it itself).
pub(crate) fn building(fd: BorrowedFd<'_>) -> io::Result<bool> {
    is_held(fd, BUILDER, BUILDER + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn two_descriptions() -> (std::fs::File, std::fs::File) {
        let path = std::env::temp_dir().join(format!(
            "ipclane-locks-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let a = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let b = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        (a, b)
    }

    #[test]
    fn locks_conflict_between_descriptions_and_release_on_close() {
        let (a, b) = two_descriptions();
        assert!(try_lock(a.as_fd(), 5, 1).unwrap());
        assert!(!try_lock(b.as_fd(), 5, 1).unwrap());
        assert!(is_held(b.as_fd(), 0, 10).unwrap());
        assert!(
            !is_held(a.as_fd(), 0, 10).unwrap(),
            "own locks do not conflict"
        );
        assert!(
            try_lock(a.as_fd(), 5, 1).unwrap(),
            "re-locking one's own byte succeeds"
        );
        drop(a);
        assert!(try_lock(b.as_fd(), 5, 1).unwrap(), "closing releases");
    }

    #[test]
    fn the_builder_lock_is_seen_until_unlocked() {
        let (creator, opener) = two_descriptions();
        assert!(try_lock(creator.as_fd(), OWNER, 1).unwrap());
        assert!(try_lock(creator.as_fd(), BUILDER, 1).unwrap());
        assert!(building(opener.as_fd()).unwrap());
        unlock(creator.as_fd(), BUILDER, 1).unwrap();
        assert!(!building(opener.as_fd()).unwrap());
        assert!(owner_alive(opener.as_fd()).unwrap(), "the owner lock stays");
    }

    #[test]
    fn count_finds_every_lock_in_any_order() {
        let (a, probe) = two_descriptions();
        let holders: Vec<_> = (0..7)
            .map(|_| {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(format!("/proc/self/fd/{}", a.as_raw_fd()))
                    .unwrap()
            })
            .collect();
        for (i, h) in holders.iter().enumerate().rev() {
            assert!(try_lock(h.as_fd(), SLOT_BASE + (i as u64) * 3, 1).unwrap());
        }
        assert_eq!(attached(probe.as_fd()).unwrap(), 7);
        drop(holders);
        assert_eq!(attached(probe.as_fd()).unwrap(), 0);
    }

    #[test]
    fn attach_takes_distinct_slots() {
        let (a, b) = two_descriptions();
        let sa = attach(a.as_fd()).unwrap().unwrap();
        let sb = attach(b.as_fd()).unwrap().unwrap();
        assert_ne!(sa, sb);
        assert!((SLOT_BASE..SLOT_BASE + MAX_HANDLES).contains(&sa));
    }
}
