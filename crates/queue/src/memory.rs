//! The memory a queue lives in: a shared-memory segment, or aligned heap memory.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Arc;

use ipclane_segment::{Claim, Kind, Segment, SegmentBuilder};

use crate::QueueError;

/// Alignment every queue layout needs from its memory: a cache-line pair.
pub const ALIGN: usize = 128;

/// Memory that holds one queue: a pointer, a length and optional liveness claims.
///
/// Implemented for [`Segment`] (shared between processes; claims detect a dead peer) and
/// [`HeapMemory`] (one process; threads, tests and loom models).
///
/// # Safety
///
/// Implementors guarantee that `as_ptr()` is aligned to [`ALIGN`], that `len()` bytes from
/// it stay allocated, readable and writable, and never move, for as long as the value
/// lives, and that nothing else in this process turns them into references to plain data.
pub unsafe trait Memory: Send + Sync {
    /// The first byte.
    fn as_ptr(&self) -> NonNull<u8>;

    /// Length in bytes.
    fn len(&self) -> usize;

    /// Whether the length is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes liveness claim `index` for this process; `Ok(None)` when this memory has no
    /// liveness (one process only).
    ///
    /// # Errors
    ///
    /// [`QueueError::AlreadyClaimed`] when a live handle holds it.
    fn claim(&self, index: u32, side: &'static str) -> Result<Option<Claim>, QueueError>;

    /// Whether claim `index` is held by a live handle; `None` when this memory has no
    /// liveness.
    fn is_claimed(&self, index: u32) -> Option<bool>;
}

// SAFETY: a segment's user region is page-aligned (at least ALIGN), stays mapped while the
// Segment lives, and Segment only exposes it through raw pointers and atomics.
unsafe impl Memory for Segment {
    fn as_ptr(&self) -> NonNull<u8> {
        NonNull::new(Segment::as_ptr(self)).expect("a mapping is never null")
    }

    fn len(&self) -> usize {
        Segment::len(self)
    }

    fn claim(&self, index: u32, side: &'static str) -> Result<Option<Claim>, QueueError> {
        match Segment::claim(self, index) {
            Ok(claim) => Ok(Some(claim)),
            Err(ipclane_segment::SegmentError::AlreadyClaimed { .. }) => {
                Err(QueueError::AlreadyClaimed { side })
            }
            Err(e) => Err(e.into()),
        }
    }

    fn is_claimed(&self, index: u32) -> Option<bool> {
        // An error to query counts as "alive": never declare a peer dead without proof.
        Some(Segment::is_claimed(self, index).unwrap_or(true))
    }
}

/// Zeroed, [`ALIGN`]-aligned heap memory for a queue used between threads of one process.
#[derive(Debug)]
pub struct HeapMemory {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: HeapMemory owns its allocation and hands out only a raw pointer; the queue code
// accesses it with atomics and raw copies, which is what makes sharing it sound.
unsafe impl Send for HeapMemory {}
// SAFETY: see Send.
unsafe impl Sync for HeapMemory {}

impl HeapMemory {
    /// `len` zeroed bytes aligned to [`ALIGN`].
    ///
    /// # Panics
    ///
    /// When `len` is zero or too large for the address space, or the allocation fails.
    pub fn new(len: usize) -> Self {
        assert!(len > 0, "HeapMemory needs at least one byte");
        let layout = Layout::from_size_align(len, ALIGN).expect("length fits the address space");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        #[cfg(ipclane_loom)]
        crate::model::register(ptr.as_ptr(), len);
        Self { ptr, layout }
    }
}

impl Drop for HeapMemory {
    fn drop(&mut self) {
        #[cfg(ipclane_loom)]
        crate::model::unregister(self.ptr.as_ptr());
        // SAFETY: allocated in `new` with this very layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

// SAFETY: the allocation is ALIGN-aligned, `layout.size()` bytes, owned until drop, and
// only reached through the raw pointer.
unsafe impl Memory for HeapMemory {
    fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    fn len(&self) -> usize {
        self.layout.size()
    }

    fn claim(&self, _index: u32, _side: &'static str) -> Result<Option<Claim>, QueueError> {
        Ok(None)
    }

    fn is_claimed(&self, _index: u32) -> Option<bool> {
        None
    }
}

/// A segment's user region seen as [`Memory`] while the segment is being initialised
/// (inside `SegmentBuilder::initialize_with`).
#[derive(Debug)]
pub(crate) struct RegionMemory(pub(crate) *mut u8, pub(crate) usize);

// SAFETY: only used inside an initialiser, on the creating thread, for memory the segment
// keeps mapped and page-aligned.
unsafe impl Send for RegionMemory {}
// SAFETY: see Send.
unsafe impl Sync for RegionMemory {}

// SAFETY: the pointer is a segment's page-aligned user region of `.1` bytes, mapped for the
// whole initialiser call.
unsafe impl Memory for RegionMemory {
    fn as_ptr(&self) -> NonNull<u8> {
        NonNull::new(self.0).expect("mapping")
    }
    fn len(&self) -> usize {
        self.1
    }
    fn claim(&self, _: u32, _: &'static str) -> Result<Option<Claim>, QueueError> {
        Ok(None)
    }
    fn is_claimed(&self, _: u32) -> Option<bool> {
        None
    }
}

/// Tells loom that plain bytes starting at `at` are read or written now, so that it
/// checks the access is ordered after the last conflicting one at the same place (see
/// `model::access`); the bytes themselves are copied as usual. Nothing outside loom.
#[inline(always)]
pub(crate) fn model_access(at: NonNull<u8>, write: bool) {
    #[cfg(ipclane_loom)]
    crate::model::access(at.as_ptr(), write);
    #[cfg(not(ipclane_loom))]
    let _ = (at, write);
}

/// Heap memory of `len` bytes holding a structure written by `init`.
pub(crate) fn heap_with(
    len: usize,
    init: impl FnOnce(&HeapMemory) -> Result<(), QueueError>,
) -> Result<Arc<HeapMemory>, QueueError> {
    if len == usize::MAX {
        return Err(QueueError::layout(
            "structure too large for the address space",
        ));
    }
    let memory = HeapMemory::new(len);
    init(&memory)?;
    Ok(Arc::new(memory))
}

/// Creates the named segment `name` of `len` bytes and `kind`, holding a structure
/// written by `init` before anyone can open it; `exclusive: false` takes the name over
/// from a stale segment (see `SegmentBuilder::exclusive`).
pub(crate) fn named_with(
    name: &str,
    exclusive: bool,
    len: usize,
    kind: Kind,
    init: impl FnOnce(&RegionMemory) -> Result<(), QueueError> + Send + 'static,
) -> Result<Segment, QueueError> {
    create_with(Segment::named(name).exclusive(exclusive), len, kind, init)
}

/// Creates an anonymous segment of `len` bytes and `kind`, a memfd called `debug_name`
/// (it only shows in `/proc/PID/fd`) sealed against shrinking and growing before `init`
/// writes the structure into it.
pub(crate) fn memfd_with(
    debug_name: &str,
    len: usize,
    kind: Kind,
    init: impl FnOnce(&RegionMemory) -> Result<(), QueueError> + Send + 'static,
) -> Result<Segment, QueueError> {
    create_with(Segment::anonymous(debug_name), len, kind, init)
}

/// Opens the named segment `name`, which must hold a structure of `kind`.
pub(crate) fn open_named(name: &str, kind: Kind) -> Result<Segment, QueueError> {
    Ok(Segment::named(name).kind(kind).open()?)
}

/// Opens the segment behind a received descriptor, which must be sealed (a memfd made by
/// `create_memfd`) and hold a structure of `kind`.
pub(crate) fn open_fd(fd: std::os::fd::OwnedFd, kind: Kind) -> Result<Segment, QueueError> {
    Ok(Segment::from_fd(fd).kind(kind).open()?)
}

/// The calls that make and open a structure, the same on every structure but for its
/// parameters and its two roles: expanded inside each structure's `impl`, which provides
/// `KIND`, `required_len`, `init` and `check_params` (called first, so a bad parameter
/// creates nothing).
///
/// - `heap(params)`: heap memory and a handle of each role on it, for one process.
/// - `heap_memory(params)`, `create_named(name, params)`, `create_memfd(params)`,
///   `open_named(name)`, `open_fd(fd)`: the memory, to which each process attaches the
///   roles it plays (`Role::attach(Arc::new(memory))`).
macro_rules! structure_calls {
    (
        memfd: $memfd:literal,
        roles: ($first:ident, $second:ident),
        params: ($($param:ident),+)
    ) => {
        #[doc = concat!(
            "This structure on the heap, for the threads of one process, with a [`",
            stringify!($first), "`] and a [`", stringify!($second), "`] on it.\n\n",
            "# Errors\n\n[`QueueError::Layout`] for bad parameters (see [`init`](Self::init))."
        )]
        pub fn heap(
            $($param: usize),+
        ) -> Result<($first<$crate::HeapMemory>, $second<$crate::HeapMemory>), QueueError> {
            let memory = Self::heap_memory($($param),+)?;
            Ok(($first::attach(memory.clone())?, $second::attach(memory)?))
        }

        #[doc = concat!(
            "Heap memory holding this structure, empty, to attach handles to ([`",
            stringify!($first), "::attach`], [`", stringify!($second), "::attach`]) ",
            "as to a segment.\n\n",
            "# Errors\n\n[`QueueError::Layout`] for bad parameters (see [`init`](Self::init))."
        )]
        pub fn heap_memory(
            $($param: usize),+
        ) -> Result<std::sync::Arc<$crate::HeapMemory>, QueueError> {
            Self::check_params($($param),+)?;
            $crate::memory::heap_with(Self::required_len($($param),+), |m| {
                Self::init(m, $($param),+)
            })
        }

        /// Creates the named segment `name` holding this structure, empty. Each process
        /// then opens it ([`open_named`](Self::open_named)) and attaches its handles.
        ///
        /// Any process of the same user can truncate or unlink a named segment: a
        /// truncated one kills every process mapping it with `SIGBUS` on its next access
        /// (see the crate docs' threat model). Between processes that do not trust each
        /// other, use [`create_memfd`](Self::create_memfd).
        ///
        /// # Errors
        ///
        /// [`QueueError::Layout`] for bad parameters (nothing is created), or the
        /// segment's errors ([`SegmentError::AlreadyExists`](crate::SegmentError), say).
        pub fn create_named(name: &str, $($param: usize),+) -> Result<Segment, QueueError> {
            Self::named(name, true, $($param),+)
        }

        /// Like [`create_named`](Self::create_named), but takes the name over from a
        /// stale segment under it: one whose owner died (a crashed process's, that `gc`
        /// has not removed yet), removed only once proven stale as `gc` proves it
        /// ([`SegmentBuilder::exclusive`](ipclane_segment::SegmentBuilder::exclusive)
        /// `(false)`). A live owner's segment, or a file that is not a segment of this
        /// user, is never touched. For a process restarted on the name it had.
        ///
        /// # Errors
        ///
        /// Those of `create_named` ([`SegmentError::AlreadyExists`](crate::SegmentError)
        /// for a live owner's segment under the name).
        pub fn create_named_reclaiming(name: &str, $($param: usize),+) -> Result<Segment, QueueError> {
            Self::named(name, false, $($param),+)
        }

        /// `create_named`, taking a stale segment's name over unless `exclusive`.
        fn named(name: &str, exclusive: bool, $($param: usize),+) -> Result<Segment, QueueError> {
            Self::check_params($($param),+)?;
            $crate::memory::named_with(name, exclusive, Self::required_len($($param),+), Self::KIND, move |m| {
                Self::init(m, $($param),+)
            })
        }

        /// Creates an anonymous segment holding this structure, empty: a memfd sealed
        /// against shrinking and growing before the structure is written, so no process
        /// can ever change its size (no `SIGBUS`), and with no name to unlink.
        ///
        /// Attach here and hand the segment's descriptor ([`AsFd`](std::os::fd::AsFd))
        /// to the other processes over a Unix socket (`SCM_RIGHTS`, as the hybrid
        /// transport does) or through `fork`; each opens it with
        /// [`open_fd`](Self::open_fd), which refuses a descriptor that is not sealed, and
        /// attaches its handles. The kernel frees the memory with the last descriptor and
        /// mapping.
        ///
        /// # Errors
        ///
        /// [`QueueError::Layout`] for bad parameters, or the segment's errors.
        #[doc(alias = "memfd_create")]
        pub fn create_memfd($($param: usize),+) -> Result<Segment, QueueError> {
            Self::check_params($($param),+)?;
            $crate::memory::memfd_with($memfd, Self::required_len($($param),+), Self::KIND, move |m| {
                Self::init(m, $($param),+)
            })
        }

        /// Opens the named segment `name` that `create_named` made, checking that it
        /// holds this structure (its kind and layout version).
        ///
        /// # Errors
        ///
        /// The segment's errors: [`SegmentError::NotFound`](crate::SegmentError), an
        /// incompatible kind, a corrupted header.
        pub fn open_named(name: &str) -> Result<Segment, QueueError> {
            $crate::memory::open_named(name, Self::KIND)
        }

        /// Opens the segment behind a descriptor received from the process that called
        /// `create_memfd` (over a Unix socket, or through `fork`), checking that it is
        /// sealed and holds this structure.
        ///
        /// # Errors
        ///
        /// The segment's errors: an unsealed descriptor, an incompatible kind, a
        /// corrupted header.
        pub fn open_fd(fd: std::os::fd::OwnedFd) -> Result<Segment, QueueError> {
            $crate::memory::open_fd(fd, Self::KIND)
        }

        /// Like [`create_memfd`](Self::create_memfd), for records that `content`
        /// describes (a message type): its kind is this structure's
        /// [`holding`](ipclane_segment::Kind::holding) `content`, so an
        /// [`open_fd_holding`](Self::open_fd_holding) that expects other records, or
        /// an [`open_fd`](Self::open_fd) that expects none in particular, is refused.
        ///
        /// # Errors
        ///
        /// Those of `create_memfd`.
        pub fn create_memfd_holding(content: &str, $($param: usize),+) -> Result<Segment, QueueError> {
            Self::check_params($($param),+)?;
            $crate::memory::memfd_with($memfd, Self::required_len($($param),+), Self::KIND.holding(content), move |m| {
                Self::init(m, $($param),+)
            })
        }

        /// Like [`open_fd`](Self::open_fd), expecting records that `content` describes
        /// (see [`create_memfd_holding`](Self::create_memfd_holding)).
        ///
        /// # Errors
        ///
        /// Those of `open_fd`; [`SegmentError::Incompatible`](crate::SegmentError) when
        /// the segment was made for other records.
        pub fn open_fd_holding(fd: std::os::fd::OwnedFd, content: &str) -> Result<Segment, QueueError> {
            $crate::memory::open_fd(fd, Self::KIND.holding(content))
        }
    };
}
pub(crate) use structure_calls;

/// Creates the segment of `builder` with `len` bytes and `kind`, holding a structure
/// written by `init` before anyone can open it.
fn create_with(
    builder: SegmentBuilder,
    len: usize,
    kind: Kind,
    init: impl FnOnce(&RegionMemory) -> Result<(), QueueError> + Send + 'static,
) -> Result<Segment, QueueError> {
    if len == usize::MAX {
        return Err(QueueError::layout(
            "structure too large for the address space",
        ));
    }
    Ok(builder
        .size(len)
        .kind(kind)
        .initialize_with(move |region| {
            init(&RegionMemory(region.as_ptr(), region.len())).map_err(Into::into)
        })
        .create()?)
}

/// Checks that `memory` is aligned and holds at least `needed` bytes.
pub(crate) fn check<M: Memory + ?Sized>(memory: &M, needed: usize) -> Result<(), QueueError> {
    if !(memory.as_ptr().as_ptr() as usize).is_multiple_of(ALIGN) {
        return Err(QueueError::layout(format!(
            "memory is not {ALIGN}-byte aligned"
        )));
    }
    if memory.len() < needed {
        return Err(QueueError::layout(format!(
            "memory of {} bytes is smaller than the {needed} bytes needed",
            memory.len()
        )));
    }
    Ok(())
}
