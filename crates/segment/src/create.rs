//! Creating a segment: build the file, lock it, reserve it, write the header, publish.
//!
//! For a file in a directory the new file is made with `O_TMPFILE`, so it has no name while
//! it is sized and locked; `linkat` then gives it its name atomically (`EEXIST` if the name
//! is taken, so an existing or squatted name is never reused or written to). From the
//! moment the name exists the owner lock is held, so `gc` can never mistake a segment under
//! construction for a dead one. Filesystems without `O_TMPFILE` fall back to
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, where the owner lock follows the name by a few
//! microseconds.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use rustix::fs::{AtFlags, MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;

use crate::builder::{Config, Initializer};
use crate::header::{self, CreatorInfo, HEADER_LEN, Header, USER_OFFSET};
use crate::location::{Location, NamedFile};
use crate::segment::Place;
use crate::{Backing, Kind, Segment, SegmentError, locks, open, registry, sys};

/// Creates a segment at `location`.
pub(crate) fn create(
    location: Location,
    config: &Config,
    mut init: Option<Initializer>,
) -> Result<Segment, SegmentError> {
    match &location {
        Location::Path(named) => create_path(named, config, &mut init),
        Location::Memfd { name } => {
            let display = location.display();
            let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
            let fd = rustix::fs::memfd_create(name, flags)
                .map_err(SegmentError::os_fn(&display, "memfd_create"))?;
            let fresh = Fresh {
                backing: Backing::Memfd,
                name: name.clone(),
                display,
                place: Place::Anonymous,
            };
            publish(build(fd, fresh, config, true)?, init)
        }
        Location::Fd { name, .. } => Err(SegmentError::InvalidConfig {
            name: name.clone(),
            reason: "a received descriptor can only be opened, not created".into(),
        }),
    }
}

/// Creates a segment in a directory; `init` is taken only if this call creates it.
pub(crate) fn create_path(
    named: &NamedFile,
    config: &Config,
    init: &mut Option<Initializer>,
) -> Result<Segment, SegmentError> {
    let NamedFile {
        backing,
        name,
        file,
        ..
    } = named;
    let display = named.display();
    let os = |op| SegmentError::os_fn::<Errno>(&display, op);
    let dirfd = named.open_dir()?;
    let fresh = || -> Result<Fresh, SegmentError> {
        Ok(Fresh {
            backing: *backing,
            name: name.clone(),
            display: display.clone(),
            place: Place::Path {
                dir: rustix::io::dup(&dirfd).map_err(os("dup"))?,
                file: file.clone(),
            },
        })
    };
    let mode = Mode::from_bits_truncate(config.mode);
    // A stale segment in the way is removed at most once, and only when not exclusive.
    let mut may_reclaim = !config.exclusive;
    loop {
        match rustix::fs::openat(
            &dirfd,
            ".",
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            mode,
        ) {
            Ok(fd) => {
                let segment = build(fd, fresh()?, config, false)?;
                let proc_path = format!("/proc/self/fd/{}", segment.fd.as_raw_fd());
                match rustix::fs::linkat(
                    rustix::fs::CWD,
                    &proc_path,
                    &dirfd,
                    file,
                    AtFlags::SYMLINK_FOLLOW,
                ) {
                    Ok(()) => return publish(segment, init.take()),
                    Err(Errno::EXIST) => {} // `segment` has no name; dropping it frees it.
                    Err(e) => return Err(os("linkat")(e)),
                }
            }
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                let flags = OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::RDWR
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                match rustix::fs::openat(&dirfd, file, flags, mode) {
                    Ok(fd) => {
                        let named = rustix::io::dup(&fd).map_err(os("dup"))?;
                        let segment = build(fd, fresh()?, config, false).inspect_err(|_| {
                            // Best effort: the failure being reported matters more.
                            let _ = sys::unlink_if_same(dirfd.as_fd(), file, named.as_fd());
                        })?;
                        return publish(segment, init.take());
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(os("open")(e)),
                }
            }
            Err(e) => return Err(os("open O_TMPFILE")(e)),
        }
        // The name is taken.
        let reclaimed = may_reclaim
            && registry::remove_if_stale(dirfd.as_fd(), file)
                .map_err(SegmentError::os_fn(&display, "reclaim"))?;
        if !reclaimed {
            return Err(SegmentError::AlreadyExists { name: display });
        }
        may_reclaim = false;
    }
}

/// What a new segment is called and where its name lives.
struct Fresh {
    backing: Backing,
    name: String,
    display: String,
    place: Place,
}

/// Turns a new, empty file into an owned, locked, sized and mapped segment whose header
/// says it is being built.
fn build(fd: OwnedFd, fresh: Fresh, config: &Config, memfd: bool) -> Result<Segment, SegmentError> {
    let display = fresh.display.as_str();
    let invalid = |reason: String| SegmentError::InvalidConfig {
        name: display.to_owned(),
        reason,
    };
    let size = config
        .size
        .ok_or_else(|| invalid("no size given: call .size(bytes) to create".into()))?;
    if size == 0 {
        return Err(invalid("size must be at least 1 byte".into()));
    }
    // Exact permissions: the mode given to open() was filtered through the umask.
    rustix::fs::fchmod(&fd, Mode::from_bits_truncate(config.mode))
        .map_err(SegmentError::os_fn(display, "fchmod"))?;
    if !locks::try_lock(fd.as_fd(), locks::OWNER, 1)
        .map_err(SegmentError::os_fn(display, "lock"))?
    {
        // Only possible on the O_EXCL fallback, when someone locked the brand-new file.
        return Err(SegmentError::AlreadyExists {
            name: display.to_owned(),
        });
    }
    open::attach(&fd, display)?;
    let unit = sys::allocation_unit(fd.as_fd()).map_err(SegmentError::os_fn(display, "fstatfs"))?;
    let total = (size as u64)
        .checked_add(USER_OFFSET)
        .and_then(|t| t.checked_next_multiple_of(unit))
        .filter(|&t| usize::try_from(t).is_ok() && i64::try_from(t).is_ok())
        .ok_or_else(|| invalid(format!("size {size} is too large")))?;
    if memfd {
        // A memfd lives on the kernel's internal tmpfs, which has no size limit: there is
        // no full filesystem to detect, and reserving would only allocate all the memory
        // now (an oversized request would meet the OOM killer instead of an error).
        rustix::fs::ftruncate(&fd, total).map_err(SegmentError::os_fn(display, "ftruncate"))?;
        // The memfd can never change size again, so no peer can make us SIGBUS; F_SEAL_SEAL
        // stops anyone from adding or removing seals later.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(SegmentError::os_fn(display, "F_ADD_SEALS"))?;
    } else {
        sys::reserve(fd.as_fd(), total).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSPC) => SegmentError::NoSpace {
                name: display.to_owned(),
                size: total,
            },
            _ => SegmentError::os(display, "fallocate", e),
        })?;
    }
    let map = open::map(&fd, total, config, display)?;
    let header = Header {
        total_size: total,
        user_offset: USER_OFFSET,
        user_len: size as u64,
        kind: config.kind.unwrap_or(Kind::UNTYPED),
        flags: if config.persist {
            header::FLAG_PERSISTENT
        } else {
            0
        },
        creator: CreatorInfo::current(),
    };
    let segment = Segment {
        map,
        fd,
        place: fresh.place,
        backing: fresh.backing,
        name: fresh.name,
        display: fresh.display,
        header,
        owner: true,
        persistent: config.persist,
    };
    debug_assert!(segment.whole().len() >= HEADER_LEN);
    header::store(segment.whole(), &header::encode(&segment.header));
    Ok(segment)
}

/// Runs the initialiser and publishes the segment (state READY), or marks it failed.
fn publish(mut segment: Segment, init: Option<Initializer>) -> Result<Segment, SegmentError> {
    if let Some(init) = init
        && let Err(source) = init(segment.region())
    {
        // Release: openers waiting on the state see FAILED and stop waiting; the owner's
        // drop then removes the name (never kept, even if persistence was asked for).
        header::state(segment.whole()).store(header::STATE_FAILED, Ordering::Release);
        segment.persistent = false;
        return Err(SegmentError::InitFailed {
            name: segment.display.clone(),
            source,
        });
    }
    // Release pairs with the Acquire load of the state in header::load (openers): the
    // header and everything the initialiser wrote happen-before an opener that sees READY.
    header::state(segment.whole()).store(header::STATE_READY, Ordering::Release);
    Ok(segment)
}
