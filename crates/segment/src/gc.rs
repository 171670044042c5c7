//! Removing stale named segments.
//!
//! A file is removed only once it is proven to be a stale ipclane segment of the caller:
//!
//! 1. it is a regular file: the name is looked at with `O_PATH | O_NOFOLLOW`, which opens
//!    nothing, so a symbolic link, a FIFO or a device under the name is never opened;
//! 2. it belongs to the caller (its owner is the effective user id), unless the caller
//!    asked for every user's ([`GcOptions::all_users`]);
//! 3. no owner holds its owner lock: `gc` takes the lock itself, which succeeds only if no
//!    owner holds it, and while `gc` holds it no other `gc` can act on the same file;
//! 4. its header is a valid ipclane header (magic, version, checksum, sizes), either ready
//!    and not persistent, or never finished by its creator (building or failed);
//! 5. the name still refers to that very file when it is removed, so a segment created
//!    again under the same name in the meantime is never touched.
//!
//! Anything else under an `ipclane.` name (a file that is not a segment, another user's
//! segment) is left alone and reported as skipped, with the reason.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use crate::header::{self, Fault};
use crate::location::SHM_DIR;
use crate::{SegmentError, locks, open, registry, sys};

/// Which stale named segments [`GcOptions::run`] removes; [`gc`] runs the defaults.
///
/// By default only the caller's own segments (files owned by the effective user id) are
/// candidates, even when the caller may remove other users' files (root): a system tool
/// that should clean up after every user says so with [`all_users`](Self::all_users).
///
/// # Examples
///
/// An administration tool that cleans up after every user (not run here: it would remove
/// real stale segments):
///
/// ```no_run
/// use ipclane_segment::GcOptions;
///
/// let report = GcOptions::new().all_users(true).run()?;
/// println!("removed {:?}, skipped {:?}", report.removed, report.skipped);
/// # Ok::<(), ipclane_segment::SegmentError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    all_users: bool,
    dry_run: bool,
}

impl GcOptions {
    /// The defaults: only the caller's own segments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether segments of other users are candidates too (default `false`). Removing
    /// them needs the right to do so (root, or write access to `/dev/shm` without its
    /// sticky bit); the other conditions for removal still apply.
    pub fn all_users(&mut self, all: bool) -> &mut Self {
        self.all_users = all;
        self
    }

    /// Whether to only report (default `false`): [`GcReport::removed`] then lists what a
    /// real run would remove, and nothing is removed.
    pub fn dry_run(&mut self, dry_run: bool) -> &mut Self {
        self.dry_run = dry_run;
        self
    }

    /// Removes every stale named segment these options allow (see [`gc`]).
    ///
    /// # Errors
    ///
    /// [`SegmentError::Io`] when `/dev/shm` itself cannot be read; errors on single
    /// entries go to [`GcReport::failed`].
    pub fn run(&self) -> Result<GcReport, SegmentError> {
        let dir = registry::shm_dir()?;
        let mut report = GcReport::default();
        for (name, file) in registry::entries()? {
            match remove_if_stale(dir.as_fd(), &file, self.all_users, self.dry_run) {
                Ok(Verdict::Removed) => report.removed.push(name),
                Ok(Verdict::Kept) => report.kept.push(name),
                Ok(Verdict::Skipped(reason)) => report.skipped.push((name, reason)),
                Ok(Verdict::Gone) => {}
                Err(e) => {
                    let path = PathBuf::from(SHM_DIR).join(&file).display().to_string();
                    report.failed.push((name, SegmentError::os(&path, "gc", e)));
                }
            }
        }
        Ok(report)
    }
}

/// Removes every stale named segment of the caller: a file in `/dev/shm` owned by the
/// effective user id, with a valid ipclane header, whose owner is dead and which is not
/// persistent (or which its creator never finished). A segment with a live owner, a file
/// that is not an ipclane segment, and another user's segment are never removed;
/// concurrent `gc` calls (in any processes) are safe. [`GcOptions`] can include other
/// users' segments.
///
/// Processes that still have a removed segment open keep using it; the memory is freed
/// when the last of them closes it.
///
/// # Errors
///
/// [`SegmentError::Io`] when `/dev/shm` itself cannot be read; errors on single entries go
/// to [`GcReport::failed`].
pub fn gc() -> Result<GcReport, SegmentError> {
    GcOptions::new().run()
}

/// What [`gc`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct GcReport {
    /// Names (without prefix) of the segments removed (in a dry run: that would be).
    pub removed: Vec<String>,
    /// Names of the segments left in place because an owner is alive (or another `gc` is
    /// busy with them) or they persist.
    pub kept: Vec<String>,
    /// Entries left alone because they are not proven to be segments gc may remove: not a
    /// regular file, not a valid ipclane segment, or another user's. With the reason.
    pub skipped: Vec<(String, String)>,
    /// Segments that could not be examined or removed, with the error.
    pub failed: Vec<(String, SegmentError)>,
}

/// What [`remove_if_stale`] did with one entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It was a stale segment and its name is gone.
    Removed,
    /// A segment with a live owner (or another gc at work on it), or a persistent one.
    Kept,
    /// Not proven to be a segment we may remove; untouched.
    Skipped(String),
    /// The name disappeared, or names another file now; untouched.
    Gone,
}

/// Removes `dir/file` if it is proven to be a stale segment (see the module docs) of the
/// effective user, or of anyone if `all_users`; with `dry_run`, only says it would.
pub(crate) fn remove_if_stale(
    dir: BorrowedFd<'_>,
    file: &OsStr,
    all_users: bool,
    dry_run: bool,
) -> io::Result<Verdict> {
    // Type and owner are checked on a descriptor that opens nothing; only a regular file
    // that we may collect is opened for real.
    let path = match sys::look_at(dir, file) {
        Ok(path) => path,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(Verdict::Gone),
        Err(e) => return Err(e),
    };
    let st = match sys::regular(path.as_fd())? {
        Ok(st) => st,
        Err(file_type) => {
            let reason = format!("{}, not a regular file", sys::describe(file_type));
            return Ok(Verdict::Skipped(reason));
        }
    };
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me && !all_users {
        let reason = format!("owned by user {}, not by the caller ({me})", st.st_uid);
        return Ok(Verdict::Skipped(reason));
    }
    let fd = sys::reopen(path.as_fd(), true)?;
    // Taking the owner lock proves that no owner holds it, and excludes other gc calls
    // (and keeps excluding them until `fd` is closed, after the unlink).
    if !locks::try_lock(fd.as_fd(), locks::OWNER, 1)? {
        return Ok(Verdict::Kept);
    }
    let (bytes, size) = open::read_header(&fd)?;
    match header::parse(&bytes, size) {
        Ok(h) if h.flags & header::FLAG_PERSISTENT != 0 => return Ok(Verdict::Kept),
        // Ready and ownerless, or never finished by a creator that is gone.
        Ok(_) | Err(Fault::Building | Fault::Failed) => {}
        Err(fault) => {
            return Ok(Verdict::Skipped(format!("not an ipclane segment: {fault}")));
        }
    }
    if dry_run {
        return Ok(Verdict::Removed);
    }
    Ok(if sys::unlink_if_same(dir, file, fd.as_fd())? {
        Verdict::Removed
    } else {
        Verdict::Gone
    })
}
