//! A borrowed view of mapped memory that other processes may write concurrently.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize,
};

use crate::AccessError;

/// A range of memory that is shared with other processes (or may be): a raw pointer and
/// a length, with bounds- and alignment-checked access.
///
/// `Region` never hands out `&[u8]` or `&mut [u8]`: another process may write the memory
/// at any time, which Rust's aliasing rules do not allow for references to plain bytes.
/// Access goes through
/// - [`atomic`](Self::atomic): a reference to an atomic integer at an offset (the way to
///   share control words: positions, sequence numbers, flags);
/// - [`read`](Self::read) / [`write`](Self::write): copies between the region and local
///   buffers. The copies are not atomic: a concurrent writer can make the copied bytes
///   inconsistent (torn), so protocols validate copies, for example with a sequence
///   number re-checked after the copy (a seqlock).
///
/// A `Region` borrows the mapping it came from (`'a`), so it cannot outlive it.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ipclane_segment::Segment;
///
/// let seg = Segment::anonymous("region-doc").size(4096).create()?;
/// let region = seg.region();
/// region.atomic::<AtomicU64>(0)?.store(7, Ordering::Release);
/// region.write(8, b"hello")?;
/// let mut out = [0u8; 5];
/// region.read(8, &mut out)?;
/// assert_eq!(&out, b"hello");
/// assert!(region.atomic::<AtomicU64>(4).is_err()); // misaligned
/// assert!(region.atomic::<AtomicU64>(4096).is_err()); // out of bounds
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy)]
pub struct Region<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _mapping: PhantomData<&'a [AtomicU8]>,
}

// SAFETY: a Region is a pointer and a length into memory that is designed to be accessed
// concurrently (by other processes anyway). It only offers atomic references and raw
// copies, never references to plain data, so sharing it between threads adds nothing that
// sharing the mapping between processes does not already cover.
unsafe impl Send for Region<'_> {}
// SAFETY: see the `Send` impl above.
unsafe impl Sync for Region<'_> {}

impl std::fmt::Debug for Region<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl<'a> Region<'a> {
    /// Makes a region from a pointer and a length.
    ///
    /// Used for memory that is not a [`Segment`](crate::Segment) mapping, for example
    /// aligned heap memory in tests.
    ///
    /// # Safety
    ///
    /// For all of `'a`, the `len` bytes at `ptr` must stay allocated, readable and
    /// writable, and must only be accessed through atomics or raw pointer copies (no
    /// Rust reference to them as plain data may exist).
    pub unsafe fn from_raw_parts(ptr: NonNull<u8>, len: usize) -> Self {
        Self {
            ptr,
            len,
            _mapping: PhantomData,
        }
    }

    /// The first byte of the region.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks that `len` bytes at `offset` lie inside the region and that the address at
    /// `offset` is aligned to `align` (a power of two), and returns that address.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`] or [`AccessError::Misaligned`].
    pub fn ptr_at(
        &self,
        offset: usize,
        len: usize,
        align: usize,
    ) -> Result<NonNull<u8>, AccessError> {
        debug_assert!(align.is_power_of_two());
        let in_bounds = offset.checked_add(len).is_some_and(|end| end <= self.len);
        if !in_bounds {
            return Err(AccessError::OutOfBounds {
                offset,
                len,
                region_len: self.len,
            });
        }
        let addr = (self.ptr.as_ptr() as usize).wrapping_add(offset);
        if addr & (align - 1) != 0 {
            return Err(AccessError::Misaligned { offset, align });
        }
        // SAFETY: offset <= self.len, so the result stays inside (or one past) the region's
        // allocation, and a pointer into a non-null allocation is non-null.
        Ok(unsafe { self.ptr.add(offset) })
    }

    /// The sub-region of `len` bytes at `offset`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`] if it does not fit.
    pub fn slice(&self, offset: usize, len: usize) -> Result<Region<'a>, AccessError> {
        let ptr = self.ptr_at(offset, len, 1)?;
        Ok(Region {
            ptr,
            len,
            _mapping: PhantomData,
        })
    }

    /// A reference to the atomic integer at `offset`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`] or [`AccessError::Misaligned`] for the atomic's size
    /// and alignment.
    pub fn atomic<A: SharedAtomic>(&self, offset: usize) -> Result<&'a A, AccessError> {
        let ptr = self.ptr_at(offset, size_of::<A>(), align_of::<A>())?;
        // SAFETY: (1) ptr_at checked that size_of::<A>() bytes at ptr are inside the region
        // and that ptr is aligned for A; (2) the region's contract (from_raw_parts, or the
        // Segment mapping) keeps the bytes allocated for 'a and only accessed atomically or
        // by raw copies, which is what from_ptr requires.
        Ok(unsafe { A::from_ptr(ptr.as_ptr()) })
    }

    /// A slice of `count` atomic integers starting at `offset`: one check for all of
    /// them, for code that reaches several neighbouring words at once (a slot's header
    /// and payload, say).
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`] (also when `count` atomics would overflow `usize`) or
    /// [`AccessError::Misaligned`].
    pub fn atomics<A: SharedAtomic>(
        &self,
        offset: usize,
        count: usize,
    ) -> Result<&'a [A], AccessError> {
        let len = size_of::<A>()
            .checked_mul(count)
            .ok_or(AccessError::OutOfBounds {
                offset,
                len: usize::MAX,
                region_len: self.len,
            })?;
        let ptr = self.ptr_at(offset, len, align_of::<A>())?;
        // SAFETY: as for `atomic`, for each of the `count` contiguous atomics: ptr_at
        // checked that all `len` bytes are inside the region and that ptr is aligned for
        // A (so every element is); the region's contract keeps them allocated for 'a and
        // accessed only atomically or by raw copies; atomics are valid for any bits.
        Ok(unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<A>(), count) })
    }

    /// Copies `dst.len()` bytes starting at `offset` out of the region.
    ///
    /// The copy is not atomic; see the type docs.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`].
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<(), AccessError> {
        let src = self.ptr_at(offset, dst.len(), 1)?;
        // SAFETY: src..src+dst.len() is inside the region (checked above) and dst is a
        // distinct local buffer, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` into the region starting at `offset`.
    ///
    /// The copy is not atomic; see the type docs.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`].
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<(), AccessError> {
        let dst = self.ptr_at(offset, src.len(), 1)?;
        // SAFETY: dst..dst+src.len() is inside the writable region (checked above) and src
        // is a distinct local buffer, so the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), src.len()) };
        Ok(())
    }

    /// Sets `len` bytes starting at `offset` to `byte`.
    ///
    /// # Errors
    ///
    /// [`AccessError::OutOfBounds`].
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), AccessError> {
        let dst = self.ptr_at(offset, len, 1)?;
        // SAFETY: dst..dst+len is inside the writable region (checked above).
        unsafe { std::ptr::write_bytes(dst.as_ptr(), byte, len) };
        Ok(())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// An atomic integer type that may be placed in shared memory and reached through
/// [`Region::atomic`]. Implemented for the lock-free atomics of `std`; sealed.
pub trait SharedAtomic: sealed::Sealed + Sync + 'static {
    /// Turns an aligned pointer into a reference.
    ///
    /// # Safety
    ///
    /// `ptr` must be aligned for `Self`, point to `size_of::<Self>()` bytes that stay
    /// allocated for `'a`, and those bytes must only be accessed atomically for `'a`.
    #[doc(hidden)]
    unsafe fn from_ptr<'a>(ptr: *mut u8) -> &'a Self;
}

macro_rules! shared_atomic {
    ($($atomic:ty),* $(,)?) => {$(
        impl sealed::Sealed for $atomic {}
        impl SharedAtomic for $atomic {
            unsafe fn from_ptr<'a>(ptr: *mut u8) -> &'a Self {
                // SAFETY: the caller guarantees alignment, size, lifetime and atomic-only
                // access, which are exactly the requirements of `from_ptr`.
                unsafe { <$atomic>::from_ptr(ptr.cast()) }
            }
        }
    )*};
}

shared_atomic!(
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI32,
    AtomicI64
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn with_region<R>(len: usize, f: impl FnOnce(Region<'_>) -> R) -> R {
        let mut words = vec![0u64; len.div_ceil(8)];
        let ptr = NonNull::new(words.as_mut_ptr().cast::<u8>()).expect("vec pointer");
        // SAFETY: `words` outlives the region, which is only used inside `f`, and no
        // reference to its contents exists while `f` runs.
        let region = unsafe { Region::from_raw_parts(ptr, len) };
        f(region)
    }

    #[test]
    fn atomic_checks_bounds_and_alignment() {
        with_region(64, |r| {
            assert!(r.atomic::<AtomicU64>(56).is_ok());
            assert_eq!(
                r.atomic::<AtomicU64>(60).unwrap_err(),
                AccessError::OutOfBounds {
                    offset: 60,
                    len: 8,
                    region_len: 64
                }
            );
            assert_eq!(
                r.atomic::<AtomicU32>(2).unwrap_err(),
                AccessError::Misaligned {
                    offset: 2,
                    align: 4
                }
            );
            assert!(r.atomic::<AtomicU64>(usize::MAX).is_err());
        });
    }

    #[test]
    fn atomics_check_bounds_and_alignment_once_for_all() {
        with_region(64, |r| {
            let words = r.atomics::<AtomicU64>(16, 6).unwrap();
            words[5].store(7, Ordering::Relaxed);
            assert_eq!(
                r.atomic::<AtomicU64>(56).unwrap().load(Ordering::Relaxed),
                7
            );
            assert!(r.atomics::<AtomicU64>(0, 0).unwrap().is_empty());
            assert_eq!(
                r.atomics::<AtomicU64>(16, 7).unwrap_err(),
                AccessError::OutOfBounds {
                    offset: 16,
                    len: 56,
                    region_len: 64
                }
            );
            assert_eq!(
                r.atomics::<AtomicU32>(2, 1).unwrap_err(),
                AccessError::Misaligned {
                    offset: 2,
                    align: 4
                }
            );
            assert!(r.atomics::<AtomicU64>(0, usize::MAX).is_err());
        });
    }

    #[test]
    fn copies_round_trip_and_reject_overflow() {
        with_region(32, |r| {
            r.write(3, b"abc").unwrap();
            let mut out = [0u8; 3];
            r.read(3, &mut out).unwrap();
            assert_eq!(&out, b"abc");
            assert!(r.write(30, b"abc").is_err());
            assert!(r.read(usize::MAX, &mut out).is_err());
            r.fill(0, 32, 0xff).unwrap();
            assert_eq!(
                r.atomic::<AtomicU64>(8).unwrap().load(Ordering::Relaxed),
                u64::MAX
            );
        });
    }

    #[test]
    fn slice_is_bounded_by_parent() {
        with_region(64, |r| {
            let s = r.slice(16, 16).unwrap();
            assert_eq!(s.len(), 16);
            assert!(s.atomic::<AtomicU64>(8).is_ok());
            assert!(s.atomic::<AtomicU64>(16).is_err());
            assert!(r.slice(60, 8).is_err());
        });
    }
}
