//! The `Segment` handle: a mapped, validated, possibly owned shared-memory segment.

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

use memmap2::MmapRaw;

use crate::header::{self, Header};
use crate::{Backing, Claim, CreatorInfo, Kind, Region, SegmentError, locks, sys};

/// Where a segment's name lives, so that its owner can remove it.
#[derive(Debug)]
pub(crate) enum Place {
    /// `file` in the directory `dir` (an `O_PATH` descriptor, immune to `chdir`).
    Path { dir: OwnedFd, file: OsString },
    /// No name anywhere: memfd, or a received descriptor.
    Anonymous,
}

/// A mapped shared-memory segment.
///
/// A `Segment` is made by a [`SegmentBuilder`](crate::SegmentBuilder): [`Segment::named`] (POSIX shared memory in
/// `/dev/shm`), [`Segment::anonymous`] (memfd), [`Segment::at_path`] (a file on a tmpfs or
/// hugetlbfs mount) or [`Segment::from_fd`] (a descriptor received from a peer).
///
/// The memory it gives access to is the *user region* ([`region`](Self::region)): `len()`
/// bytes, aligned to at least 128 bytes (a page in practice), zeroed at creation, and
/// shared with every other handle on the same segment in any process.
///
/// # Ownership
///
/// The handle that created a segment is its owner ([`is_owner`](Self::is_owner)): when it
/// is dropped, it removes the segment's name, unless told to [persist](Self::set_persistent).
/// Handles made by opening never remove the name on drop. Memory stays mapped for every
/// handle until that handle is dropped, name or not.
///
/// # Liveness
///
/// Each handle holds an open-file-description lock on its segment that the kernel releases
/// when the handle is dropped or its process dies, even by `SIGKILL`. So any process can
/// ask whether the owner is alive ([`owner_alive`](Self::owner_alive)) and how many handles
/// are attached ([`attached`](Self::attached)) without trusting PIDs, and protocols built on
/// a segment can detect a dead peer with [`claim`](Self::claim) and
/// [`is_claimed`](Self::is_claimed).
#[derive(Debug)]
pub struct Segment {
    pub(crate) map: MmapRaw,
    /// Holds this handle's slot lock (and the owner lock when owner): closing it releases them.
    pub(crate) fd: OwnedFd,
    pub(crate) place: Place,
    pub(crate) backing: Backing,
    pub(crate) name: String,
    pub(crate) display: String,
    pub(crate) header: Header,
    pub(crate) owner: bool,
    pub(crate) persistent: bool,
}

impl Segment {
    /// The name the segment was made with: the shm name without prefix, the path of a
    /// file-backed segment, or the memfd name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name used in error messages and listings: `/dev/shm/ipclane.<name>`, the file
    /// path, or `memfd:<name>`.
    pub fn display_name(&self) -> &str {
        &self.display
    }

    /// The file path of a named or file-backed segment.
    pub fn path(&self) -> Option<PathBuf> {
        match self.backing {
            Backing::Shm | Backing::File => Some(PathBuf::from(&self.display)),
            Backing::Memfd => None,
        }
    }

    /// The kind of memory behind the segment.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// The kind tag and layout hash the creator recorded.
    pub fn kind(&self) -> Kind {
        self.header.kind
    }

    /// Who created the segment, and when (diagnostic).
    pub fn creator(&self) -> &CreatorInfo {
        &self.header.creator
    }

    /// Length of the user region in bytes.
    pub fn len(&self) -> usize {
        // The header was validated to fit a mapping of usize bytes.
        self.header.user_len as usize
    }

    /// Whether the user region is empty (never, for a valid segment).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the whole segment in bytes: header, padding and user region, rounded up to
    /// the filesystem's page size.
    pub fn total_size(&self) -> u64 {
        self.header.total_size
    }

    /// The first byte of the user region.
    ///
    /// Other processes may write this memory at any time: never turn it into `&[u8]` or
    /// `&mut [u8]`. Prefer [`region`](Self::region).
    pub fn as_ptr(&self) -> *mut u8 {
        self.region().as_ptr()
    }

    /// The user region, with bounds- and alignment-checked access.
    pub fn region(&self) -> Region<'_> {
        // The header was validated: user_offset + user_len <= total_size == map.len().
        self.whole()
            .slice(self.header.user_offset as usize, self.len())
            .expect("validated user region lies inside the mapping")
    }

    /// The whole mapping, header included.
    pub(crate) fn whole(&self) -> Region<'_> {
        let ptr = NonNull::new(self.map.as_mut_ptr()).expect("mmap never returns null");
        // SAFETY: the mapping is map.len() bytes, readable and writable, and lives as long
        // as `self`, which the returned region borrows. Nothing in this crate creates a
        // reference to its bytes as plain data.
        unsafe { Region::from_raw_parts(ptr, self.map.len()) }
    }

    /// Whether this handle created the segment and so removes its name on drop.
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Whether the segment is marked to outlive its owner.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Marks the segment to outlive its owner (`true`), or not (`false`).
    ///
    /// A persistent segment's name is not removed when its owner is dropped, and
    /// [`gc`](crate::gc) leaves it alone after the owner has gone; remove it with
    /// [`unlink`](Self::unlink). The mark is stored in the header, so every process sees it.
    pub fn set_persistent(&mut self, persistent: bool) {
        let flags = header::flags(self.whole());
        // Relaxed: the flag guards no other data; gc and list read it on its own.
        if persistent {
            flags.fetch_or(header::FLAG_PERSISTENT, Ordering::Relaxed);
        } else {
            flags.fetch_and(!header::FLAG_PERSISTENT, Ordering::Relaxed);
        }
        self.persistent = persistent;
    }

    /// Removes the segment's name now, if it still names this segment.
    ///
    /// Handles that have the segment open keep using it; new `open`s fail with
    /// [`SegmentError::NotFound`]. Any handle may do this, not only the owner.
    ///
    /// # Errors
    ///
    /// [`SegmentError::NotFound`] when the name is gone or names another segment now
    /// (an anonymous segment has no name), or an OS error.
    #[doc(alias = "shm_unlink")]
    pub fn unlink(&mut self) -> Result<(), SegmentError> {
        let removed = match &self.place {
            Place::Path { dir, file } => sys::unlink_if_same(dir.as_fd(), file, self.fd.as_fd())
                .map_err(|e| SegmentError::os(&self.display, "unlink", e))?,
            Place::Anonymous => false,
        };
        if removed {
            Ok(())
        } else {
            Err(SegmentError::NotFound {
                name: self.display.clone(),
            })
        }
    }

    /// Whether the owning handle is still alive (in this or any process).
    ///
    /// # Errors
    ///
    /// An OS error from reopening the segment or querying its locks.
    pub fn owner_alive(&self) -> Result<bool, SegmentError> {
        self.query(locks::owner_alive)
    }

    /// The number of live handles on this segment in all processes, this one included.
    ///
    /// # Errors
    ///
    /// An OS error from reopening the segment or querying its locks.
    pub fn attached(&self) -> Result<usize, SegmentError> {
        self.query(locks::attached)
    }

    /// Takes claim `index`: a liveness token that at most one live handle holds at a time
    /// and that the kernel releases when the returned [`Claim`] is dropped or its process
    /// dies. Protocols use claims to own a role (the producer of a queue, say) and to
    /// detect that the peer holding a role has died: a claim of a dead process can be
    /// taken again at once, and only then.
    ///
    /// # Errors
    ///
    /// [`SegmentError::AlreadyClaimed`] when a live handle (in any process, this one included)
    /// holds the claim, or an OS error.
    pub fn claim(&self, index: u32) -> Result<Claim, SegmentError> {
        let fd = sys::reopen(self.fd.as_fd(), true)
            .map_err(|e| SegmentError::os(&self.display, "reopen", e))?;
        let byte = locks::CLAIM_BASE + u64::from(index);
        if locks::try_lock(fd.as_fd(), byte, 1)
            .map_err(|e| SegmentError::os(&self.display, "lock", e))?
        {
            Ok(Claim::new(fd, index))
        } else {
            Err(SegmentError::AlreadyClaimed {
                name: self.display.clone(),
                index,
            })
        }
    }

    /// Whether claim `index` is held by a live handle (in any process, this one included).
    ///
    /// # Errors
    ///
    /// An OS error from reopening the segment or querying its locks.
    pub fn is_claimed(&self, index: u32) -> Result<bool, SegmentError> {
        let byte = locks::CLAIM_BASE + u64::from(index);
        self.query(|fd| locks::is_held(fd, byte, byte + 1))
    }

    /// Runs a lock query through a fresh open file description, which holds no lock and
    /// so sees every lock, this handle's included.
    fn query<T>(
        &self,
        f: impl FnOnce(BorrowedFd<'_>) -> std::io::Result<T>,
    ) -> Result<T, SegmentError> {
        let probe = sys::reopen(self.fd.as_fd(), false)
            .map_err(|e| SegmentError::os(&self.display, "reopen", e))?;
        f(probe.as_fd()).map_err(|e| SegmentError::os(&self.display, "lock query", e))
    }
}

impl AsFd for Segment {
    /// The segment's descriptor, for example to pass an anonymous segment to another
    /// process with `SCM_RIGHTS`; the receiver opens it with [`Segment::from_fd`].
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.owner
            && !self.persistent
            && let Place::Path { dir, file } = &self.place
        {
            // The name is removed only if it still names this segment, so a segment
            // created later under the same name is never touched. Errors cannot be
            // reported from drop; the worst case is a name that gc() removes later.
            let _ = sys::unlink_if_same(dir.as_fd(), file, self.fd.as_fd());
        }
        // Then `map` is unmapped and `fd` closed, which releases this handle's locks.
    }
}
