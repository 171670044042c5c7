//! Loom only (`--cfg ipclane_loom`): models of the words and bytes that the structures
//! access inside plain memory, which loom cannot see by itself.
//!
//! - The SPSC record headers are 8-byte words accessed atomically inside the ring's plain
//!   bytes: [`word`] gives the loom atomic that stands for one.
//! - An MPMC slot's payload is plain bytes whose accesses the slot protocol orders:
//!   [`access`] tells loom of each, so that a hand-back too weak to order a consumer's read
//!   before the next producer's write is a race loom reports.
//!
//! The models belong to the [`HeapMemory`](crate::HeapMemory) they lie in (loom models run
//! on heap memory): it registers its range when made and drops its models with itself.
//! Nothing here is part of the [`Memory`](crate::Memory) trait.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;

/// The models of one heap allocation.
struct Models {
    base: usize,
    len: usize,
    words: HashMap<usize, Pin<Box<AtomicU64>>>,
    cells: HashMap<usize, Pin<Box<UnsafeCell<()>>>>,
}

// SAFETY: the models are only reached under REGISTRY's lock or through references whose
// use loom itself serialises (a loom execution runs one thread at a time).
unsafe impl Send for Models {}

/// Every live heap allocation's models. A std mutex, invisible to loom: it adds no ordering
/// to the models.
static REGISTRY: Mutex<Vec<Models>> = Mutex::new(Vec::new());

/// Starts tracking the `len` bytes at `base`, a new heap allocation.
pub(crate) fn register(base: *const u8, len: usize) {
    let mut registry = REGISTRY.lock().expect("model registry");
    registry.push(Models {
        base: base as usize,
        len,
        words: HashMap::new(),
        cells: HashMap::new(),
    });
}

/// Drops the models of the allocation at `base`, which is being freed.
pub(crate) fn unregister(base: *const u8) {
    let mut registry = REGISTRY.lock().expect("model registry");
    registry.retain(|m| m.base != base as usize);
}

/// Runs `f` on the models of the allocation holding `at`.
///
/// # Panics
///
/// When `at` lies in no registered allocation: loom models run on `HeapMemory`.
fn with_models<T>(at: *const u8, f: impl FnOnce(&mut Models, usize) -> T) -> T {
    let at = at as usize;
    let mut registry = REGISTRY.lock().expect("model registry");
    let models = registry
        .iter_mut()
        .find(|m| (m.base..m.base + m.len).contains(&at))
        .expect("loom models run on HeapMemory");
    let offset = at - models.base;
    f(models, offset)
}

/// The loom atomic standing for the 8-byte word at `at`, created on first use from the
/// bytes there.
///
/// The reference is valid while the allocation holding `at` lives: the caller's borrow of
/// that memory bounds `'a`.
pub(crate) fn word<'a>(at: *const u8) -> &'a AtomicU64 {
    let word: *const AtomicU64 = with_models(at, |models, offset| {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= models.len,
            "word at offset {offset}"
        );
        let word: &AtomicU64 = models.words.entry(offset).or_insert_with(|| {
            // SAFETY: the word is 8-aligned and inside the allocation (asserted above).
            let bytes = unsafe { at.cast::<u64>().read() };
            Box::pin(AtomicU64::new(bytes))
        });
        std::ptr::from_ref(word)
    });
    // SAFETY: the word is boxed (its address never changes) and dropped only when its
    // allocation unregisters, which the caller's borrow of that memory outlasts.
    unsafe { &*word }
}

/// Tells loom that the plain bytes starting at `at` are read (or written) now, so it
/// checks this access is ordered after the last conflicting one at the same place.
pub(crate) fn access(at: *const u8, write: bool) {
    let cell: *const UnsafeCell<()> = with_models(at, |models, offset| {
        let cell: &UnsafeCell<()> = models
            .cells
            .entry(offset)
            .or_insert_with(|| Box::pin(UnsafeCell::new(())));
        std::ptr::from_ref(cell)
    });
    // SAFETY: boxed and alive while the allocation is (see `word`); the access below ends
    // before this call returns.
    let cell = unsafe { &*cell };
    if write {
        cell.with_mut(|_| ());
    } else {
        cell.with(|_| ());
    }
}
