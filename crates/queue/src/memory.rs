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

    /// Loom only: the model of the 8-byte word at `offset`, for the words a structure
    /// accesses atomically inside otherwise plain bytes (the SPSC record headers). Only
    /// [`HeapMemory`] provides it; loom models run on heap memory.
    #[cfg(ipclane_loom)]
    #[doc(hidden)]
    fn loom_word(&self, offset: usize) -> &loom::sync::atomic::AtomicU64 {
        let _ = offset;
        panic!("loom models run on HeapMemory")
    }

    /// Loom only: a cell standing for the plain bytes at `offset` (an MPMC slot's
    /// payload), so that loom checks every read and write of them is ordered after the
    /// last conflicting one: a hand-back too weak to order a consumer's read before the
    /// next producer's write is a race loom reports. Only [`HeapMemory`] provides it.
    #[cfg(ipclane_loom)]
    #[doc(hidden)]
    fn loom_bytes(&self, offset: usize) -> &loom::cell::UnsafeCell<()> {
        let _ = offset;
        panic!("loom models run on HeapMemory")
    }
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
    /// Loom models of the words accessed atomically inside plain bytes, by offset, each
    /// created on first use from the bytes there.
    #[cfg(ipclane_loom)]
    words: std::sync::Mutex<
        std::collections::HashMap<usize, std::pin::Pin<Box<loom::sync::atomic::AtomicU64>>>,
    >,
    /// Loom cells standing for plain byte ranges, by offset (see `Memory::loom_bytes`).
    #[cfg(ipclane_loom)]
    cells: std::sync::Mutex<
        std::collections::HashMap<usize, std::pin::Pin<Box<loom::cell::UnsafeCell<()>>>>,
    >,
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
        Self {
            ptr,
            layout,
            #[cfg(ipclane_loom)]
            words: Default::default(),
            #[cfg(ipclane_loom)]
            cells: Default::default(),
        }
    }
}

impl Drop for HeapMemory {
    fn drop(&mut self) {
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

    #[cfg(ipclane_loom)]
    fn loom_word(&self, offset: usize) -> &loom::sync::atomic::AtomicU64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.len(),
            "word {offset}"
        );
        // A std mutex, invisible to loom: it adds no ordering to the models.
        let mut words = self.words.lock().expect("words");
        let word = words.entry(offset).or_insert_with(|| {
            // SAFETY: offset + 8 <= len and 8-aligned (asserted); the allocation is
            // ALIGN-aligned, so the read is in bounds and aligned.
            let bytes = unsafe { self.ptr.as_ptr().add(offset).cast::<u64>().read() };
            Box::pin(loom::sync::atomic::AtomicU64::new(bytes))
        });
        let word: *const loom::sync::atomic::AtomicU64 = &**word;
        // SAFETY: the word is boxed (its address never changes) and only dropped with
        // self, so it lives as long as the borrow of self.
        unsafe { &*word }
    }
    #[cfg(ipclane_loom)]
    fn loom_bytes(&self, offset: usize) -> &loom::cell::UnsafeCell<()> {
        // A std mutex, invisible to loom: it adds no ordering to the models.
        let mut cells = self.cells.lock().expect("cells");
        let cell = cells
            .entry(offset)
            .or_insert_with(|| Box::pin(loom::cell::UnsafeCell::new(())));
        let cell: *const loom::cell::UnsafeCell<()> = &**cell;
        // SAFETY: the cell is boxed (its address never changes) and only dropped with
        // self, so it lives as long as the borrow of self.
        unsafe { &*cell }
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

/// Tells loom that plain bytes starting at `at` (inside `memory`) are read or written
/// now, so that it checks the access is ordered after the last conflicting one at the
/// same place (see `Memory::loom_bytes`); the bytes themselves are copied as usual.
/// Nothing outside loom.
#[inline(always)]
pub(crate) fn model_access<M: Memory + ?Sized>(memory: &M, at: NonNull<u8>, write: bool) {
    #[cfg(ipclane_loom)]
    {
        let offset = at.as_ptr() as usize - memory.as_ptr().as_ptr() as usize;
        let cell = memory.loom_bytes(offset);
        if write {
            cell.with_mut(|_| ());
        } else {
            cell.with(|_| ());
        }
    }
    #[cfg(not(ipclane_loom))]
    let _ = (memory, at, write);
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
/// written by `init` before anyone can open it.
pub(crate) fn named_with(
    name: &str,
    len: usize,
    kind: Kind,
    init: impl FnOnce(&RegionMemory) -> Result<(), QueueError> + Send + 'static,
) -> Result<Segment, QueueError> {
    create_with(Segment::named(name), len, kind, init)
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

/// The calls that open a structure's segment by name or by descriptor, the same on every
/// structure but for its `KIND`: expanded inside each structure's `impl`.
macro_rules! open_calls {
    () => {
        /// Opens the named segment `name` that `create_named` made, checking that it
        /// holds this structure (its kind and layout version).
        ///
        /// # Errors
        ///
        /// The segment's errors: [`SegmentError::NotFound`](ipclane_segment::SegmentError),
        /// an incompatible kind, a corrupted header.
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
    };
}
pub(crate) use open_calls;

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
