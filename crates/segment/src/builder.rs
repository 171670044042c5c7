//! The consuming builder that creates or opens a segment.

use std::time::Duration;

use crate::config::{Config, InitError, Initializer};
use crate::location::Location;
use crate::{Kind, Region, Segment, SegmentError, create, open};

/// Creates or opens a [`Segment`]; made by [`Segment::named`], [`Segment::anonymous`],
/// [`Segment::at_path`] or [`Segment::from_fd`], ended by [`create`](Self::create),
/// [`open`](Self::open) or [`open_or_create`](Self::open_or_create).
///
/// Settings that only matter when creating (mode, initialiser, persistence) are ignored
/// by `open`; settings that describe the contents ([`size`](Self::size),
/// [`kind`](Self::kind)) are written by `create` and checked by `open`.
///
/// # Examples
///
/// ```
/// use ipclane_segment::{Kind, Segment};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// const COUNTER: Kind = Kind::from_names("example/counter", "u64 at offset 0");
/// let name = format!("doc-builder-{}", std::process::id());
///
/// let created = Segment::named(&name)
///     .size(4096)
///     .kind(COUNTER)
///     .initialize_with(|region| {
///         region.atomic::<AtomicU64>(0)?.store(41, Ordering::Relaxed);
///         Ok(())
///     })
///     .create()?;
///
/// let opened = Segment::named(&name).kind(COUNTER).open()?;
/// opened.region().atomic::<AtomicU64>(0)?.fetch_add(1, Ordering::Relaxed);
/// assert_eq!(created.region().atomic::<AtomicU64>(0)?.load(Ordering::Relaxed), 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SegmentBuilder {
    location: Result<Location, SegmentError>,
    config: Config,
    init: Option<Initializer>,
}

impl std::fmt::Debug for SegmentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentBuilder")
            .field("location", &self.location)
            .field("config", &self.config)
            .field("init", &self.init.as_ref().map(|_| "FnOnce(Region)"))
            .finish()
    }
}

impl SegmentBuilder {
    pub(crate) fn new(location: Result<Location, SegmentError>) -> Self {
        Self {
            location,
            config: Config {
                size: None,
                mode: 0o600,
                exclusive: true,
                persist: false,
                prefault: false,
                mlock: false,
                kind: None,
                init_timeout: Duration::from_secs(2),
                require_seals: true,
            },
            init: None,
        }
    }

    /// Length of the user region in bytes. Required to create; when set on open, the
    /// segment must have exactly this length ([`SegmentError::Incompatible`] otherwise).
    pub fn size(mut self, bytes: usize) -> Self {
        self.config.size = Some(bytes);
        self
    }

    /// Permission bits of a created segment's file; default `0o600` (`0o666` for an
    /// [anonymous](Segment::anonymous) one, which only holders of its descriptor reach).
    /// Applied exactly, whatever the process umask.
    pub fn mode(mut self, mode: u32) -> Self {
        self.config.mode = mode & 0o7777;
        self
    }

    /// Whether `create` must fail when the name exists (default `true`).
    ///
    /// With `false`, `create` removes an existing file under the name *only if it is
    /// proven to be a stale segment of the caller*, exactly as [`gc`](crate::gc) decides:
    /// a regular file owned by the effective user id, with a valid ipclane header, whose
    /// owner is dead and which is not persistent. Then it creates a new one. Anything else
    /// under the name (a live segment, a file that is not a segment, another user's
    /// segment) is left untouched and gives [`SegmentError::AlreadyExists`]. An existing
    /// file is never reused or written to.
    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.config.exclusive = exclusive;
        self
    }

    /// Whether a created segment outlives its owner (default `false`); see
    /// [`Segment::set_persistent`].
    pub fn persist(mut self, persist: bool) -> Self {
        self.config.persist = persist;
        self
    }

    /// Fault in every page when mapping (`MAP_POPULATE`), so first touches do not page
    /// fault later. Default `false`.
    pub fn prefault(mut self, prefault: bool) -> Self {
        self.config.prefault = prefault;
        self
    }

    /// Lock the mapping in RAM (`mlock`), so it is never swapped. Default `false`. Subject
    /// to `RLIMIT_MEMLOCK` unless the process has `CAP_IPC_LOCK`.
    pub fn mlock(mut self, mlock: bool) -> Self {
        self.config.mlock = mlock;
        self
    }

    /// The kind to record when creating, and to require when opening
    /// ([`SegmentError::Incompatible`] if the segment records another).
    pub fn kind(mut self, kind: Kind) -> Self {
        self.config.kind = Some(kind);
        self
    }

    /// How long `open` waits for a segment whose creator is alive and still building it
    /// (default 2 s). Nothing else is waited for: a segment whose creator died unfinished
    /// fails at once with [`SegmentError::NotInitialized`], and a header that can never
    /// become valid (a file shorter than a header, a size that disagrees with the header,
    /// a bad magic or checksum, a header that nobody is building) fails at once with
    /// [`SegmentError::Corrupted`].
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.config.init_timeout = timeout;
        self
    }

    /// For [`Segment::from_fd`]: require a memfd sealed against shrinking and growing
    /// (default `true`). Without seals, the process that sent the descriptor can truncate
    /// the file and make our accesses fault with `SIGBUS`; only turn this off for a peer
    /// you trust.
    pub fn require_seals(mut self, require: bool) -> Self {
        self.config.require_seals = require;
        self
    }

    /// Builds the contents of a newly created segment before anyone can open it: `open`
    /// in other processes waits until `init` has returned `Ok`. If it fails, the segment
    /// is removed, waiting openers get [`SegmentError::NotInitialized`], and `create`
    /// returns [`SegmentError::InitFailed`]. Not called when an existing segment is opened.
    pub fn initialize_with<F>(mut self, init: F) -> Self
    where
        F: for<'a> FnOnce(Region<'a>) -> Result<(), InitError> + Send + 'static,
    {
        self.init = Some(Box::new(init));
        self
    }

    /// Creates the segment.
    ///
    /// The file is built and locked before its name appears; the name appears atomically
    /// (an existing name is never replaced or written to); the user region is zeroed,
    /// given to the initialiser, then published.
    ///
    /// # Errors
    ///
    /// [`SegmentError::AlreadyExists`], [`SegmentError::NoSpace`] (the filesystem is out
    /// of space or inodes), [`SegmentError::InvalidName`], [`SegmentError::InvalidConfig`] (no size,
    /// or a received descriptor), [`SegmentError::PermissionDenied`],
    /// [`SegmentError::InitFailed`], or another OS error.
    pub fn create(self) -> Result<Segment, SegmentError> {
        create::create(self.location?, &self.config, self.init)
    }

    /// Opens an existing segment and validates it: file type, file size, magic, version,
    /// checksum, sizes and, when set, [`kind`](Self::kind) and [`size`](Self::size). Waits
    /// up to [`init_timeout`](Self::init_timeout) for a segment its creator is still
    /// building, and for nothing else.
    ///
    /// Nothing but a regular file is ever opened for real: the name (never followed if it
    /// is a symbolic link), or a descriptor given to [`Segment::from_fd`], is examined
    /// with `fstat` first, so a FIFO, a device or a terminal is refused without being
    /// opened, and no open in this crate can give the process a controlling terminal
    /// (`O_NOCTTY`).
    ///
    /// # Errors
    ///
    /// [`SegmentError::NotFound`], [`SegmentError::NotInitialized`],
    /// [`SegmentError::Incompatible`], [`SegmentError::Corrupted`] (also: not a regular
    /// file, or an unsealed memfd),
    /// [`SegmentError::PermissionDenied`], [`SegmentError::InvalidName`], or another OS
    /// error. An anonymous segment cannot be opened by name
    /// ([`SegmentError::InvalidConfig`]): pass its descriptor to [`Segment::from_fd`].
    pub fn open(self) -> Result<Segment, SegmentError> {
        open::open(self.location?, &self.config)
    }

    /// Opens the segment if it exists, otherwise creates it; safe when several processes
    /// race to do so (exactly one creates, the others open what it built).
    /// [`Segment::is_owner`] tells which happened.
    ///
    /// # Errors
    ///
    /// Those of [`open`](Self::open) and [`create`](Self::create).
    pub fn open_or_create(self) -> Result<Segment, SegmentError> {
        let location = self.location?;
        match location {
            Location::Path(named) => {
                // A racing creator can make create fail after open found nothing, and a
                // racing owner can remove the name between them; a few rounds settle it.
                let mut init = self.init;
                let mut rounds = 0;
                loop {
                    match open::open_path(&named, &self.config) {
                        Err(SegmentError::NotFound { .. }) => {}
                        other => return other,
                    }
                    match create::create_path(&named, &self.config, &mut init) {
                        Err(SegmentError::AlreadyExists { .. }) if rounds < 8 => rounds += 1,
                        other => return other,
                    }
                }
            }
            Location::Memfd { .. } => create::create(location, &self.config, self.init),
            Location::Fd { .. } => open::open(location, &self.config),
        }
    }
}

/// The ways to start building a segment. They live beside the builder, so that the
/// segment itself knows nothing of how it is made.
impl Segment {
    /// A builder for the named POSIX shared-memory segment `name`, visible as
    /// `/dev/shm/ipclane.<name>`.
    ///
    /// `name` must be non-empty, at most 247 bytes, without `/` or NUL; otherwise the
    /// builder's `create`/`open` return [`SegmentError::InvalidName`].
    #[doc(alias = "shm_open")]
    pub fn named(name: &str) -> SegmentBuilder {
        SegmentBuilder::new(Location::shm(name))
    }

    /// A builder for an anonymous segment backed by a memfd called `name` (the name only
    /// shows in `/proc/PID/fd`). It can be shared by `fork` or by passing its descriptor
    /// ([`AsFd`](std::os::fd::AsFd)) over a Unix socket, and the kernel frees it with its last descriptor,
    /// so it can never leak. It is sealed against shrinking and growing once sized
    /// (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`), so no process that gets the
    /// descriptor can truncate it and make a mapping fault with `SIGBUS`.
    ///
    /// This is the backing to use when the peer is not trusted; it is built like a named
    /// segment, initialiser and kind included:
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ipclane_segment::{Kind, Segment};
    ///
    /// const RING: Kind = Kind::from_names("example/ring", "u64 head at 0");
    /// let seg = Segment::anonymous("ring")
    ///     .size(1 << 16)
    ///     .kind(RING)
    ///     .initialize_with(|region| {
    ///         region.atomic::<AtomicU64>(0)?.store(1, Ordering::Relaxed);
    ///         Ok(())
    ///     })
    ///     .create()?;
    /// // Hand `seg.as_fd()` to the peer (SCM_RIGHTS); it opens it with Segment::from_fd.
    /// let peer = Segment::from_fd(seg.as_fd().try_clone_to_owned()?).kind(RING).open()?;
    /// assert_eq!(peer.region().atomic::<AtomicU64>(0)?.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Its file mode is `0o666` unless [`mode`](SegmentBuilder::mode) says otherwise: the
    /// descriptor is the capability. A memfd has no name, so only a process that holds
    /// its descriptor (or may ptrace one that does) can reach it through `/proc`; and
    /// [`Segment::from_fd`] reopens it there with the receiving process's own rights, so
    /// under `0o600` a peer of another user that was handed the descriptor could not open
    /// it. Passing the descriptor therefore grants read and write, whatever its open
    /// mode: a receiver can reopen even a read-only one read-write through `/proc`.
    #[doc(alias = "memfd_create")]
    pub fn anonymous(name: &str) -> SegmentBuilder {
        let mut builder = SegmentBuilder::new(Location::memfd(name));
        // Not 0o600 as for a named file: from_fd's reopen checks the mode against the
        // receiver, and a receiver of another user (a shm: client that an access policy
        // admits) was refused its rings (issue 13, crates/ipclane/tests/access.rs).
        builder.config.mode = 0o666;
        builder
    }

    /// A builder for a segment in the file at `path`, normally on a tmpfs or hugetlbfs
    /// mount (a file on disk works but pays for write-back).
    pub fn at_path(path: impl AsRef<std::path::Path>) -> SegmentBuilder {
        SegmentBuilder::new(Location::file(path.as_ref()))
    }

    /// A builder that opens the segment behind a descriptor received from elsewhere (an
    /// anonymous segment's memfd passed with `SCM_RIGHTS`, or inherited through `fork`).
    ///
    /// The descriptor is examined before anything reopens or maps it: it must be a
    /// regular file (a terminal, FIFO, socket, directory or device is
    /// [`SegmentError::Corrupted`], and never becomes our controlling terminal), and by
    /// default a memfd sealed against shrinking and growing, so that the peer cannot
    /// truncate it under us (`SIGBUS`); see [`SegmentBuilder::require_seals`]. It must
    /// also be open for reading and writing: the segment is reopened with this process's
    /// own rights, so a read-only or `O_PATH` descriptor, which could not write the
    /// segment for its sender, is [`SegmentError::PermissionDenied`] rather than a way to
    /// get it written.
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> SegmentBuilder {
        SegmentBuilder::new(Ok(crate::location::Location::received(fd)))
    }
}
