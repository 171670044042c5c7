//! Opening a segment: attach, wait for initialisation, validate, map.
//!
//! Everything in the file is untrusted. The header is first read with `pread` (which cannot
//! fault, whatever the file's size), validated against `fstat`, and only then is the file
//! mapped; the mapped header is read again and must match what was validated.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::fs::{FileType, OFlags, SealFlags};
use rustix::io::Errno;

use crate::config::Config;
use crate::header::{self, Fault, HEADER_LEN, Header, RawHeader};
use crate::location::{Location, NamedFile};
use crate::segment::Place;
use crate::{Backing, Segment, SegmentError, locks, mapping, sys};

/// Opens the segment at `location`.
pub(crate) fn open(location: Location, config: &Config) -> Result<Segment, SegmentError> {
    match location {
        Location::Path(named) => open_path(&named, config),
        Location::Memfd { name } => Err(SegmentError::InvalidConfig {
            name: format!("memfd:{name}"),
            reason:
                "an anonymous segment has no name to open: pass its descriptor to Segment::from_fd"
                    .into(),
        }),
        Location::Fd { fd, name } => open_fd(fd, name, config),
    }
}

/// Opens a segment in a directory.
pub(crate) fn open_path(named: &NamedFile, config: &Config) -> Result<Segment, SegmentError> {
    let display = named.display();
    let dirfd = named.open_dir()?;
    // Only a regular file is ever opened for real: a symbolic link planted at the name is
    // not followed, and a FIFO, a device or a terminal is refused before anything opens it.
    let fd = match sys::open_regular_at(dirfd.as_fd(), &named.file, true) {
        Ok(Ok((fd, _))) => fd,
        Ok(Err(file_type)) => return Err(not_regular(&display, "the name", file_type)),
        Err(e) => return Err(SegmentError::os(&display, "open", e)),
    };
    let place = Place::Path {
        dir: dirfd,
        file: named.file.clone(),
    };
    attach_and_map(
        fd,
        place,
        named.backing,
        named.name.clone(),
        display,
        config,
    )
}

/// Opens a segment from a received descriptor.
fn open_fd(received: OwnedFd, name: String, config: &Config) -> Result<Segment, SegmentError> {
    // What the descriptor is, asked of the descriptor itself, before anything reopens or
    // maps it: reopening a terminal, a FIFO or a device can have effects of its own (a
    // terminal could become our controlling terminal).
    match sys::regular(received.as_fd()) {
        Ok(Ok(_)) => {}
        Ok(Err(file_type)) => return Err(not_regular(&name, "the descriptor", file_type)),
        Err(e) => return Err(SegmentError::os(&name, "fstat", e)),
    }
    // What the sender could do with it: the reopen below goes through /proc with *our*
    // rights, so a read-only or O_PATH descriptor would come back writable. A segment is
    // written by every side, so only a descriptor its sender could write is taken.
    let access =
        rustix::fs::fcntl_getfl(&received).map_err(SegmentError::os_fn(&name, "F_GETFL"))?;
    if access.contains(OFlags::PATH) || access & OFlags::ACCMODE != OFlags::RDWR {
        return Err(SegmentError::PermissionDenied {
            name,
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the descriptor was not opened for reading and writing; reopening it would \
                 grant more than its sender had",
            ),
        });
    }
    let backing = match rustix::fs::fcntl_get_seals(&received) {
        Ok(seals) if seals.contains(SealFlags::SHRINK | SealFlags::GROW) => Backing::Memfd,
        _ if !config.require_seals => Backing::File,
        Ok(_) => {
            return Err(SegmentError::corrupt(
                &name,
                "the memfd is not sealed against shrinking and growing, so its sender could truncate it under us",
            ));
        }
        Err(_) => {
            return Err(SegmentError::corrupt(
                &name,
                "the descriptor is not a sealed memfd (see SegmentBuilder::require_seals)",
            ));
        }
    };
    // A description of our own: the sender's locks live on the description it sent, and
    // ours must not merge with them.
    let fd = sys::reopen(received.as_fd(), true).map_err(SegmentError::os_fn(&name, "reopen"))?;
    drop(received);
    attach_and_map(fd, Place::Anonymous, backing, name.clone(), name, config)
}

/// The error for `what` (the name, the descriptor) of `display` being a `file_type`
/// that is not a regular file.
fn not_regular(display: &str, what: &str, file_type: FileType) -> SegmentError {
    SegmentError::corrupt(
        display,
        format!("{what} is {}, not a regular file", sys::describe(file_type)),
    )
}

/// Attaches to `fd` (a regular file), waits for its header to be ready, validates and
/// maps it.
fn attach_and_map(
    fd: OwnedFd,
    place: Place,
    backing: Backing,
    name: String,
    display: String,
    config: &Config,
) -> Result<Segment, SegmentError> {
    mapping::attach(&fd, &display)?;
    let header = wait_ready(&fd, config, &display)?;
    check_expectations(&header, config, &display)?;
    let map = mapping::map(&fd, header.total_size, config, &display)?;
    let segment = Segment {
        map,
        fd,
        place,
        backing,
        name,
        display,
        persistent: header.flags & header::FLAG_PERSISTENT != 0,
        header,
        owner: false,
    };
    // The file may have changed between pread and mmap: validate what is mapped, once,
    // and require it to be what was validated before.
    // Only the flags may legitimately change (set_persistent).
    let mapped =
        header::parse(&header::load(segment.whole()), segment.whole().len() as u64).map(|h| {
            Header {
                flags: segment.header.flags,
                ..h
            }
        });
    if mapped.as_ref() != Ok(&segment.header) {
        return Err(SegmentError::corrupt(
            &segment.display,
            "the header changed while the segment was being opened",
        ));
    }
    Ok(segment)
}

/// Checks the caller's expected kind and size.
fn check_expectations(header: &Header, config: &Config, display: &str) -> Result<(), SegmentError> {
    let incompatible = |what, expected, found| SegmentError::Incompatible {
        name: display.to_owned(),
        what,
        expected,
        found,
    };
    if let Some(kind) = config.kind {
        if kind.tag != header.kind.tag {
            return Err(incompatible("kind tag", kind.tag, header.kind.tag));
        }
        if kind.layout_hash != header.kind.layout_hash {
            return Err(incompatible(
                "layout hash",
                kind.layout_hash,
                header.kind.layout_hash,
            ));
        }
    }
    match config.size {
        Some(size) if size as u64 != header.user_len => {
            Err(incompatible("size", size as u64, header.user_len))
        }
        _ => Ok(()),
    }
}

/// Reads the header from the file until it is ready, or fails.
///
/// Only a header that a live creator is still building is waited for (up to the open
/// timeout): one that is shorter than a header or says "building" while the creator
/// holds the builder lock. Any other fault can never go away and fails at once; so does
/// a header in the making that nobody builds any more (its creator died, or the file was
/// truncated or overwritten under a live owner).
fn wait_ready(fd: &OwnedFd, config: &Config, display: &str) -> Result<Header, SegmentError> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(20);
    let mut settled = false;
    loop {
        let (bytes, size) = read_header(fd).map_err(SegmentError::os_fn(display, "read header"))?;
        let fault = match header::parse(&bytes, size) {
            Ok(header) => return Ok(header),
            Err(fault) => fault,
        };
        if settled || !header::in_the_making(&bytes, size) {
            return Err(final_fault(fd, fault, display));
        }
        let building =
            locks::building(fd.as_fd()).map_err(SegmentError::os_fn(display, "lock query"))?;
        if !building {
            // The creator may have published between our read and the lock query: it
            // stores the final state before it releases the builder lock, so one more
            // read sees the header as it will stay.
            settled = true;
            continue;
        }
        let waited = started.elapsed();
        if waited >= config.init_timeout {
            return Err(SegmentError::NotInitialized {
                name: display.to_owned(),
                reason: format!(
                    "its creator is alive but did not finish it within {:?}",
                    config.init_timeout
                ),
            });
        }
        std::thread::sleep(pause.min(config.init_timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// The error for a header fault that will not go away.
fn final_fault(fd: &OwnedFd, fault: Fault, display: &str) -> SegmentError {
    let not_initialized = |reason: &str| SegmentError::NotInitialized {
        name: display.to_owned(),
        reason: reason.to_owned(),
    };
    match fault {
        Fault::Short(_) => SegmentError::corrupt(display, fault.to_string()),
        Fault::Unwritten | Fault::Building => match locks::owner_alive(fd.as_fd()) {
            Ok(false) => not_initialized("its creator exited before finishing it"),
            Ok(true) => SegmentError::corrupt(
                display,
                if fault == Fault::Unwritten {
                    "the header is all zero, but its owner is alive and not building it"
                } else {
                    "the header says the segment is being built, but its owner is alive and not building it"
                },
            ),
            Err(e) => SegmentError::os(display, "lock query", e),
        },
        Fault::Failed => not_initialized(&fault.to_string()),
        Fault::Corrupt(reason) => SegmentError::corrupt(display, reason),
        Fault::Incompatible {
            what,
            expected,
            found,
        } => SegmentError::Incompatible {
            name: display.to_owned(),
            what,
            expected,
            found,
        },
    }
}

/// Reads the header bytes and the file size. A file shorter than the header gives its
/// size and zeroes for the missing bytes.
pub(crate) fn read_header(fd: &OwnedFd) -> std::io::Result<(RawHeader, u64)> {
    let size = u64::try_from(rustix::fs::fstat(fd)?.st_size).unwrap_or(0);
    let mut bytes = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match rustix::io::pread(fd, &mut bytes[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A file that shrank between fstat and pread reads as short.
    Ok((
        bytes,
        if filled < HEADER_LEN {
            size.min(filled as u64)
        } else {
            size
        },
    ))
}
