//! Creating a segment: build the file, lock it, reserve it, write the header, publish.
//!
//! For a file in a directory the new file is made with `O_TMPFILE`, so it has no name while
//! it is sized and locked; `linkat` then gives it its name atomically (`EEXIST` if the name
//! is taken, so an existing or squatted name is never reused or written to). From the
//! moment the name exists the owner lock is held, so `gc` can never mistake a segment under
//! construction for a dead one, and so is the builder lock, which tells openers that the
//! header is still being built and is released once the state is final. Filesystems
//! without `O_TMPFILE` fall back to `O_CREAT | O_EXCL | O_NOFOLLOW`, where the locks
//! follow the name by a few microseconds.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use rustix::fs::{AtFlags, MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;

use crate::config::{Config, Initializer};
use crate::header::{self, CreatorInfo, HEADER_LEN, Header, USER_OFFSET};
use crate::location::{Location, NamedFile};
use crate::segment::Place;
use crate::{Backing, Kind, Segment, SegmentError, gc, locks, mapping, sys};

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
            // A memfd lives on the kernel's internal tmpfs: its allocation unit is a page.
            let sizes = Sizes::new(config, rustix::param::page_size() as u64, &display)?;
            let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
            let fd = rustix::fs::memfd_create(name, flags)
                .map_err(SegmentError::os_fn(&display, "memfd_create"))?;
            let fresh = Fresh {
                backing: Backing::Memfd,
                name: name.clone(),
                display,
                place: Place::Anonymous,
            };
            publish(build(fd, fresh, config, sizes, true)?, init)
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
    // The file is made in `dirfd`, so it has the allocation unit of the directory's
    // filesystem (fstatfs works on an O_PATH descriptor).
    let unit =
        sys::allocation_unit(dirfd.as_fd()).map_err(SegmentError::os_fn(&display, "fstatfs"))?;
    let sizes = Sizes::new(config, unit, &display)?;
    // Out of space or inodes at any step of making the file is NoSpace.
    let creating = |op| SegmentError::creating::<Errno>(&display, op, sizes.total);
    let fresh = || -> Result<Fresh, SegmentError> {
        Ok(Fresh {
            backing: *backing,
            name: name.clone(),
            display: display.clone(),
            place: Place::Path {
                // Close-on-exec like every descriptor of this crate: a program this
                // process runs must not inherit it (dup(2) would clear the flag).
                dir: rustix::io::fcntl_dupfd_cloexec(&dirfd, 0)
                    .map_err(os("fcntl(F_DUPFD_CLOEXEC)"))?,
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
            OFlags::TMPFILE | OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            mode,
        ) {
            Ok(fd) => {
                let segment = build(fd, fresh()?, config, sizes, false)?;
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
                    Err(e) => return Err(creating("linkat")(e)),
                }
            }
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                let flags = OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::RDWR
                    | OFlags::NOFOLLOW
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC;
                match rustix::fs::openat(&dirfd, file, flags, mode) {
                    Ok(fd) => {
                        let named = rustix::io::fcntl_dupfd_cloexec(&fd, 0)
                            .map_err(os("fcntl(F_DUPFD_CLOEXEC)"))?;
                        let segment =
                            build(fd, fresh()?, config, sizes, false).inspect_err(|_| {
                                // Best effort: the failure being reported matters more.
                                let _ = sys::unlink_if_same(dirfd.as_fd(), file, named.as_fd());
                            })?;
                        return publish(segment, init.take());
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(creating("open")(e)),
                }
            }
            Err(e) => return Err(creating("open O_TMPFILE")(e)),
        }
        // The name is taken. Only a proven stale segment of ours is ever removed.
        let reclaimed = may_reclaim
            && gc::remove_if_stale(dirfd.as_fd(), file, false, false)
                .map_err(SegmentError::os_fn(&display, "reclaim"))?
                == gc::Verdict::Removed;
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

/// The sizes of a segment to create: the user region and the whole file.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Length of the user region.
    user: usize,
    /// Size of the file: header page and user region, rounded up to the allocation unit.
    total: u64,
}

impl Sizes {
    /// Checks the configured size and computes the file size for allocation `unit`.
    fn new(config: &Config, unit: u64, display: &str) -> Result<Self, SegmentError> {
        let invalid = |reason: String| SegmentError::InvalidConfig {
            name: display.to_owned(),
            reason,
        };
        let user = config
            .size
            .ok_or_else(|| invalid("no size given: call .size(bytes) to create".into()))?;
        if user == 0 {
            return Err(invalid("size must be at least 1 byte".into()));
        }
        let total = (user as u64)
            .checked_add(USER_OFFSET)
            .and_then(|t| t.checked_next_multiple_of(unit))
            .filter(|&t| usize::try_from(t).is_ok() && i64::try_from(t).is_ok())
            .ok_or_else(|| invalid(format!("size {user} is too large")))?;
        Ok(Self { user, total })
    }
}

/// Turns a new, empty file into an owned, locked, sized and mapped segment whose header
/// says it is being built. The creator holds the owner and builder locks from here on
/// ([`publish`] releases the builder lock).
fn build(
    fd: OwnedFd,
    fresh: Fresh,
    config: &Config,
    sizes: Sizes,
    memfd: bool,
) -> Result<Segment, SegmentError> {
    let display = fresh.display.as_str();
    let Sizes { user: size, total } = sizes;
    // Exact permissions: the mode given to open() was filtered through the umask.
    rustix::fs::fchmod(&fd, Mode::from_bits_truncate(config.mode))
        .map_err(SegmentError::os_fn(display, "fchmod"))?;
    let lock =
        |byte| locks::try_lock(fd.as_fd(), byte, 1).map_err(SegmentError::os_fn(display, "lock"));
    if !lock(locks::OWNER)? || !lock(locks::BUILDER)? {
        // Only possible on the O_EXCL fallback, when someone locked the brand-new file.
        return Err(SegmentError::AlreadyExists {
            name: display.to_owned(),
        });
    }
    mapping::attach(&fd, display)?;
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
        sys::reserve(fd.as_fd(), total).map_err(SegmentError::creating(
            display,
            "fallocate",
            total,
        ))?;
    }
    let map = mapping::map(&fd, total, config, display)?;
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
        // Best effort: the initialiser's failure matters more, and the owner's drop
        // (which releases every lock of the segment) follows at once.
        let _ = release_builder(&segment);
        return Err(SegmentError::InitFailed {
            name: segment.display.clone(),
            source,
        });
    }
    // Release pairs with the Acquire load of the state in header::load (openers): the
    // header and everything the initialiser wrote happen-before an opener that sees READY.
    header::state(segment.whole()).store(header::STATE_READY, Ordering::Release);
    release_builder(&segment)?;
    Ok(segment)
}

/// Releases the builder lock once the state is final (READY or FAILED): openers stop
/// waiting for the header and take it as it is. The state was stored before, so an opener
/// that finds the lock free and reads the header again sees the final state.
fn release_builder(segment: &Segment) -> Result<(), SegmentError> {
    locks::unlock(segment.fd.as_fd(), locks::BUILDER, 1)
        .map_err(|e| SegmentError::os(&segment.display, "unlock", e))
}
