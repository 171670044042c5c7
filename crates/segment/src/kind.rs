//! The caller-chosen type tag of a segment.

/// What a segment holds: a tag naming the structure and a hash of its layout.
///
/// The creator writes both into the header; an opener that names a `Kind` gets
/// [`SegmentError::Incompatible`](crate::SegmentError::Incompatible) when either differs,
/// so a process built against another layout of the same structure cannot misread it.
///
/// # Examples
///
/// ```
/// use ipclane_segment::Kind;
///
/// const PRICES: Kind = Kind::from_names("acme/prices", "v3: [u64 seq; f64 bid; f64 ask]");
/// assert_ne!(PRICES, Kind::from_names("acme/prices", "v4: [u64 seq; f64 bid; f64 ask; u32 qty]"));
/// assert_eq!(Kind::UNTYPED, Kind::new(0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Kind {
    /// Names the structure stored in the segment.
    pub tag: u64,
    /// Identifies the structure's layout (field order, sizes, version).
    pub layout_hash: u64,
}

impl Kind {
    /// The kind of a segment whose creator named none.
    pub const UNTYPED: Kind = Kind::new(0, 0);

    /// A kind from raw values.
    pub const fn new(tag: u64, layout_hash: u64) -> Self {
        Self { tag, layout_hash }
    }

    /// A kind from a structure name and a description of its layout, each hashed with
    /// 64-bit FNV-1a (stable across builds, platforms and Rust versions).
    pub const fn from_names(tag: &str, layout: &str) -> Self {
        Self::new(fnv1a64(tag.as_bytes()), fnv1a64(layout.as_bytes()))
    }

    /// This kind, for a segment whose structure carries what `content` describes (a
    /// message type, say): the same tag, and a layout hash continued over `content`, so
    /// that an opener that agrees on the structure but not on what it carries is refused
    /// as [`Incompatible`](crate::SegmentError::Incompatible), as one of another layout
    /// is.
    ///
    /// ```
    /// use ipclane_segment::Kind;
    ///
    /// const RING: Kind = Kind::from_names("acme/ring", "v1");
    /// let quotes = RING.holding("Quote: 32 bytes, align 8");
    /// assert_eq!(quotes.tag, RING.tag);
    /// assert_ne!(quotes, RING);
    /// assert_ne!(quotes, RING.holding("Trade: 24 bytes, align 8"));
    /// assert_eq!(quotes, RING.holding("Quote: 32 bytes, align 8"));
    /// ```
    pub const fn holding(self, content: &str) -> Self {
        let state = fnv1a64_continue(self.layout_hash, b"\0holding ");
        Self::new(self.tag, fnv1a64_continue(state, content.as_bytes()))
    }
}

/// 64-bit FNV-1a of `bytes`.
pub(crate) const fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_continue(FNV_OFFSET, bytes)
}

/// The FNV-1a offset basis.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Continues an FNV-1a hash `state` over `bytes`.
pub(crate) const fn fnv1a64_continue(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Reference values of the FNV-1a 64-bit test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
