//! Opening a segment: attach, wait for initialisation, validate, map.
//!
//! Everything in the file is untrusted. The header is first read with `pread` (which cannot
//! fault, whatever the file's size), validated against `fstat`, and only then is the file
//! mapped; the mapped header is read again and must match what was validated.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FileType, Mode, OFlags, SealFlags};
use rustix::io::Errno;

use crate::builder::Config;
use crate::header::{self, Fault, HEADER_LEN, Header, RawHeader};
use crate::location::{Location, NamedFile};
use crate::segment::Place;
use crate::{Backing, Segment, SegmentError, locks, sys};

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
    // O_NONBLOCK: a FIFO squatting the name must not block us; O_NOFOLLOW: never follow a
    // symbolic link planted at the name.
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(&dirfd, &named.file, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => {
            return Err(SegmentError::corrupt(
                &display,
                "the name is a symbolic link",
            ));
        }
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
    // A description of our own: the sender's locks live on the description it sent, and
    // ours must not merge with them.
    let fd = sys::reopen(received.as_fd(), true).map_err(SegmentError::os_fn(&name, "reopen"))?;
    drop(received);
    let backing = match rustix::fs::fcntl_get_seals(&fd) {
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
    attach_and_map(fd, Place::Anonymous, backing, name.clone(), name, config)
}

/// Takes a handle slot for the open file description of `fd`.
pub(crate) fn attach(fd: &OwnedFd, display: &str) -> Result<(), SegmentError> {
    match locks::attach(fd.as_fd()) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(SegmentError::Io {
            name: display.to_owned(),
            op: "attach",
            source: std::io::Error::other(format!(
                "all {} handle slots are taken",
                locks::MAX_HANDLES
            )),
        }),
        Err(e) => Err(SegmentError::os(display, "lock", e)),
    }
}

/// Maps `len` bytes of `fd` read-write and shared, honouring `prefault` and `mlock`.
pub(crate) fn map(
    fd: &OwnedFd,
    len: u64,
    config: &Config,
    display: &str,
) -> Result<MmapRaw, SegmentError> {
    let len = usize::try_from(len)
        .map_err(|_| SegmentError::corrupt(display, "larger than the address space"))?;
    let mut options = MmapOptions::new();
    options.len(len);
    if config.prefault {
        options.populate();
    }
    let map = options
        .map_raw(fd)
        .map_err(SegmentError::os_fn(display, "mmap"))?;
    if config.mlock {
        // SAFETY: the range is exactly the mapping just created, which stays mapped until
        // `map` is dropped (munmap also unlocks it); mlock does not touch the contents.
        unsafe { rustix::mm::mlock(map.as_mut_ptr().cast(), map.len()) }
            .map_err(SegmentError::os_fn(display, "mlock"))?;
    }
    Ok(map)
}

fn attach_and_map(
    fd: OwnedFd,
    place: Place,
    backing: Backing,
    name: String,
    display: String,
    config: &Config,
) -> Result<Segment, SegmentError> {
    let st = rustix::fs::fstat(&fd).map_err(SegmentError::os_fn(&display, "fstat"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(SegmentError::corrupt(&display, "not a regular file"));
    }
    attach(&fd, &display)?;
    let header = wait_ready(&fd, config, &display)?;
    check_expectations(&header, config, &display)?;
    let map = map(&fd, header.total_size, config, &display)?;
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

/// Reads the header from the file until it is ready, the creator is found dead, or the
/// timeout passes.
fn wait_ready(fd: &OwnedFd, config: &Config, display: &str) -> Result<Header, SegmentError> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(20);
    loop {
        let (bytes, size) = read_header(fd).map_err(SegmentError::os_fn(display, "read header"))?;
        let fault = match header::parse(&bytes, size) {
            Ok(header) => return Ok(header),
            Err(fault) => fault,
        };
        let not_initialized = |reason: String| SegmentError::NotInitialized {
            name: display.to_owned(),
            reason,
        };
        match fault {
            Fault::Corrupt(reason) => return Err(SegmentError::corrupt(display, reason)),
            Fault::Incompatible {
                what,
                expected,
                found,
            } => {
                return Err(SegmentError::Incompatible {
                    name: display.to_owned(),
                    what,
                    expected,
                    found,
                });
            }
            Fault::Failed => {
                return Err(not_initialized(
                    "its creator failed to initialize it".into(),
                ));
            }
            Fault::Short(_) | Fault::Building => {}
        }
        // Still being built, or abandoned: only a live owner can still finish it.
        let owner_alive =
            locks::owner_alive(fd.as_fd()).map_err(SegmentError::os_fn(display, "lock query"))?;
        if !owner_alive {
            return Err(match fault {
                Fault::Short(size) => SegmentError::corrupt(
                    display,
                    format!("the file is {size} bytes, shorter than the {HEADER_LEN}-byte header"),
                ),
                _ => not_initialized("its creator exited before finishing it".into()),
            });
        }
        let waited = started.elapsed();
        if waited >= config.init_timeout {
            return Err(not_initialized(format!(
                "its creator is alive but did not finish it within {:?}",
                config.init_timeout
            )));
        }
        std::thread::sleep(pause.min(config.init_timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Reads the header bytes and the file size. A file shorter than the header gives its
/// size and zeroes for the missing bytes.
fn read_header(fd: &OwnedFd) -> std::io::Result<(RawHeader, u64)> {
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
