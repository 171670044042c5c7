//! Where a record read out of shared memory goes: a caller's buffer, which must be long
//! enough (the record stays queued otherwise), or a vector that takes its length.

/// A destination for one record.
pub(crate) trait Sink {
    /// The longest record it takes.
    fn room(&self) -> usize;

    /// Whether a record of `len` bytes fits.
    fn fits(&self, len: u64) -> bool {
        len <= self.room() as u64
    }

    /// A buffer of exactly `len` bytes (`len <= room()`) for the record, all of which the
    /// caller overwrites.
    fn buffer(&mut self, len: usize) -> &mut [u8];
}

impl Sink for [u8] {
    fn room(&self) -> usize {
        self.len()
    }

    fn buffer(&mut self, len: usize) -> &mut [u8] {
        &mut self[..len]
    }
}

impl Sink for Vec<u8> {
    fn room(&self) -> usize {
        usize::MAX
    }

    fn buffer(&mut self, len: usize) -> &mut [u8] {
        self.clear();
        self.resize(len, 0);
        self
    }
}
