//! The segment header at offset 0: layout, encoding and validation.
//!
//! The layout is documented byte by byte in `docs/segment-layout.md`; the constants here
//! are the source of truth and the tests below pin them. All fields are native-endian
//! (a segment never leaves the machine). In shared memory every field is read and written
//! with atomic operations of its own size, so a hostile or crashing peer can make the
//! values wrong but never make reading them undefined behaviour.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::kind::{FNV_OFFSET, fnv1a64_continue};
use crate::{Kind, Region};

/// Size of the header in bytes.
pub(crate) const HEADER_LEN: usize = 128;
/// Offset of the user region in segments this version creates (one page).
pub(crate) const USER_OFFSET: u64 = 4096;
/// Alignment the user region offset must have.
pub(crate) const USER_ALIGN: u64 = 128;
/// `"IPCLANE\0"` as the bytes of a native-endian u64.
pub(crate) const MAGIC: u64 = u64::from_ne_bytes(*b"IPCLANE\0");
/// Header layout version written and accepted by this crate.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// `state`: the creator is still building the segment (or has not written the header).
pub(crate) const STATE_BUILDING: u32 = 0;
/// `state`: the creator finished; stored with Release after the contents are built.
pub(crate) const STATE_READY: u32 = u32::from_ne_bytes(*b"REDY");
/// `state`: the creator's initialiser failed; the segment will never be ready.
pub(crate) const STATE_FAILED: u32 = u32::from_ne_bytes(*b"FAIL");

/// `flags` bit: the segment is meant to outlive its creator; `gc` leaves it alone.
pub(crate) const FLAG_PERSISTENT: u32 = 1;

/// The header as it lies at offset 0 of a segment: the layout's description, in the
/// style of the queue layouts. Each field is accessed atomically at its own width; the
/// header is read out of a file with `pread` as bytes and parsed from them, so this
/// struct is never built: it gives the offsets ([`off`]), and the assertions below pin
/// them to `docs/segment-layout.md`.
#[repr(C)]
#[allow(dead_code, reason = "a layout description: only its offsets are used")]
pub(crate) struct Fields {
    magic: AtomicU64,
    layout_version: AtomicU32,
    header_len: AtomicU32,
    total_size: AtomicU64,
    user_offset: AtomicU64,
    user_len: AtomicU64,
    kind_tag: AtomicU64,
    layout_hash: AtomicU64,
    state: AtomicU32,
    flags: AtomicU32,
    created_ns: AtomicU64,
    creator_pid: AtomicU32,
    creator_uid: AtomicU32,
    /// NUL-padded, accessed as two 8-byte words.
    creator_comm: [AtomicU64; 2],
    checksum: AtomicU64,
    reserved: [AtomicU64; 3],
}

/// Byte offsets of the header fields, from [`Fields`].
pub(crate) mod off {
    use std::mem::offset_of;

    use super::Fields;

    pub(crate) const MAGIC: usize = offset_of!(Fields, magic);
    pub(crate) const VERSION: usize = offset_of!(Fields, layout_version);
    pub(crate) const HEADER_LEN: usize = offset_of!(Fields, header_len);
    pub(crate) const TOTAL_SIZE: usize = offset_of!(Fields, total_size);
    pub(crate) const USER_OFFSET: usize = offset_of!(Fields, user_offset);
    pub(crate) const USER_LEN: usize = offset_of!(Fields, user_len);
    pub(crate) const KIND_TAG: usize = offset_of!(Fields, kind_tag);
    pub(crate) const LAYOUT_HASH: usize = offset_of!(Fields, layout_hash);
    pub(crate) const STATE: usize = offset_of!(Fields, state);
    pub(crate) const FLAGS: usize = offset_of!(Fields, flags);
    pub(crate) const CREATED_NS: usize = offset_of!(Fields, created_ns);
    pub(crate) const CREATOR_PID: usize = offset_of!(Fields, creator_pid);
    pub(crate) const CREATOR_UID: usize = offset_of!(Fields, creator_uid);
    pub(crate) const CREATOR_COMM: usize = offset_of!(Fields, creator_comm);
    pub(crate) const CHECKSUM: usize = offset_of!(Fields, checksum);
    pub(crate) const RESERVED: usize = offset_of!(Fields, reserved);
}

// The offsets docs/segment-layout.md documents, and the header's size.
const _: () = {
    assert!(off::MAGIC == 0 && off::VERSION == 8 && off::HEADER_LEN == 12);
    assert!(off::TOTAL_SIZE == 16 && off::USER_OFFSET == 24 && off::USER_LEN == 32);
    assert!(off::KIND_TAG == 40 && off::LAYOUT_HASH == 48);
    assert!(off::STATE == 56 && off::FLAGS == 60 && off::CREATED_NS == 64);
    assert!(off::CREATOR_PID == 72 && off::CREATOR_UID == 76 && off::CREATOR_COMM == 80);
    assert!(off::CHECKSUM == 96 && off::RESERVED == 104);
    assert!(size_of::<Fields>() == HEADER_LEN);
};

/// Length of the command name kept in the header (the kernel's `TASK_COMM_LEN`).
const COMM_LEN: usize = 16;

/// Who created a segment, and when. Diagnostic only: nothing relies on it, since a PID can
/// be reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatorInfo {
    /// Process id of the creator at creation time.
    pub pid: u32,
    /// User id of the creator.
    pub uid: u32,
    /// When the segment was created.
    pub created_at: SystemTime,
    /// The creator's command name (`/proc/self/comm`, at most 15 bytes).
    pub command: String,
}

impl CreatorInfo {
    /// Information about the calling process, now.
    pub(crate) fn current() -> Self {
        let command = read_comm().unwrap_or_default();
        let mut command = command.trim_end().to_owned();
        while command.len() >= COMM_LEN {
            command.pop();
        }
        Self {
            pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
            uid: rustix::process::getuid().as_raw(),
            created_at: SystemTime::now(),
            command,
        }
    }
}

/// `/proc/self/comm`, opened like every file in this crate with `O_NOCTTY`.
fn read_comm() -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut comm = String::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/proc/self/comm")?
        .read_to_string(&mut comm)?;
    Ok(comm)
}

/// The validated contents of a ready header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) total_size: u64,
    pub(crate) user_offset: u64,
    pub(crate) user_len: u64,
    pub(crate) kind: Kind,
    pub(crate) flags: u32,
    pub(crate) creator: CreatorInfo,
}

/// Why a header is not (yet) a valid ready header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The file is shorter than a header (size in bytes).
    Short(u64),
    /// The header is all zero: not written yet.
    Unwritten,
    /// A valid header whose state says the contents are still being built.
    Building,
    /// A valid header whose state says the creator's initialiser failed.
    Failed,
    /// The bytes are not a valid header.
    Corrupt(String),
    /// A valid header of another layout version.
    Incompatible {
        what: &'static str,
        expected: u64,
        found: u64,
    },
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short(size) => write!(
                f,
                "the file is {size} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            Self::Unwritten => f.write_str("the header is all zero: never written"),
            Self::Building => f.write_str("its creator has not finished building it"),
            Self::Failed => f.write_str("its creator failed to initialize it"),
            Self::Corrupt(reason) => f.write_str(reason),
            Self::Incompatible {
                what,
                expected,
                found,
            } => write!(f, "{what} is {found:#x}, expected {expected:#x}"),
        }
    }
}

/// The raw bytes of a header.
pub(crate) type RawHeader = [u8; HEADER_LEN];

fn u32_at(b: &RawHeader, at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

fn u64_at(b: &RawHeader, at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

fn put_u32(b: &mut RawHeader, at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(b: &mut RawHeader, at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// FNV-1a over the immutable fields: bytes 0..56 and 64..96 (everything but the mutable
/// state/flags word and the checksum itself).
pub(crate) fn checksum(b: &RawHeader) -> u64 {
    let h = fnv1a64_continue(FNV_OFFSET, &b[..off::STATE]);
    fnv1a64_continue(h, &b[off::CREATED_NS..off::CHECKSUM])
}

/// Encodes a header in state [`STATE_BUILDING`] with its checksum.
pub(crate) fn encode(h: &Header) -> RawHeader {
    let mut b = [0u8; HEADER_LEN];
    put_u64(&mut b, off::MAGIC, MAGIC);
    put_u32(&mut b, off::VERSION, LAYOUT_VERSION);
    put_u32(&mut b, off::HEADER_LEN, HEADER_LEN as u32);
    put_u64(&mut b, off::TOTAL_SIZE, h.total_size);
    put_u64(&mut b, off::USER_OFFSET, h.user_offset);
    put_u64(&mut b, off::USER_LEN, h.user_len);
    put_u64(&mut b, off::KIND_TAG, h.kind.tag);
    put_u64(&mut b, off::LAYOUT_HASH, h.kind.layout_hash);
    put_u32(&mut b, off::STATE, STATE_BUILDING);
    put_u32(&mut b, off::FLAGS, h.flags);
    let ns = h
        .creator
        .created_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    put_u64(&mut b, off::CREATED_NS, ns);
    put_u32(&mut b, off::CREATOR_PID, h.creator.pid);
    put_u32(&mut b, off::CREATOR_UID, h.creator.uid);
    let comm = h.creator.command.as_bytes();
    let n = comm.len().min(COMM_LEN - 1);
    b[off::CREATOR_COMM..off::CREATOR_COMM + n].copy_from_slice(&comm[..n]);
    let sum = checksum(&b);
    put_u64(&mut b, off::CHECKSUM, sum);
    b
}

/// Parses and validates header bytes read from a file of `file_size` bytes.
///
/// The structure (magic, version, lengths, checksum, sizes) is checked before the state,
/// so [`Fault::Building`] and [`Fault::Failed`] describe a header that is provably an
/// ipclane segment's, only not ready.
pub(crate) fn parse(b: &RawHeader, file_size: u64) -> Result<Header, Fault> {
    if file_size < HEADER_LEN as u64 {
        return Err(Fault::Short(file_size));
    }
    if b.iter().all(|&x| x == 0) {
        return Err(Fault::Unwritten);
    }
    let header = parse_structure(b, file_size)?;
    match u32_at(b, off::STATE) {
        STATE_READY => Ok(header),
        STATE_BUILDING => Err(Fault::Building),
        STATE_FAILED => Err(Fault::Failed),
        other => Err(Fault::Corrupt(format!(
            "unknown initialisation state {other:#010x}"
        ))),
    }
}

/// Whether a creator still building the segment may yet turn these bytes, read from a
/// file of `file_size` bytes, into a ready header: the file is shorter than a header, or
/// the state word still says building. Any other fault is final.
pub(crate) fn in_the_making(b: &RawHeader, file_size: u64) -> bool {
    file_size < HEADER_LEN as u64 || u32_at(b, off::STATE) == STATE_BUILDING
}

/// Checks every field but the state.
fn parse_structure(b: &RawHeader, file_size: u64) -> Result<Header, Fault> {
    let magic = u64_at(b, off::MAGIC);
    if magic != MAGIC {
        return Err(Fault::Corrupt(format!(
            "magic {magic:#018x} is not {MAGIC:#018x}: not an ipclane segment"
        )));
    }
    let version = u32_at(b, off::VERSION);
    if version != LAYOUT_VERSION {
        return Err(Fault::Incompatible {
            what: "layout version",
            expected: LAYOUT_VERSION.into(),
            found: version.into(),
        });
    }
    let header_len = u32_at(b, off::HEADER_LEN);
    if header_len as usize != HEADER_LEN {
        return Err(Fault::Corrupt(format!(
            "header length {header_len} is not {HEADER_LEN}"
        )));
    }
    let (stored, computed) = (u64_at(b, off::CHECKSUM), checksum(b));
    if stored != computed {
        return Err(Fault::Corrupt(format!(
            "header checksum {stored:#018x} does not match its contents ({computed:#018x})"
        )));
    }
    let total_size = u64_at(b, off::TOTAL_SIZE);
    if total_size != file_size {
        return Err(Fault::Corrupt(format!(
            "header says the segment is {total_size} bytes but the file is {file_size} bytes"
        )));
    }
    let user_offset = u64_at(b, off::USER_OFFSET);
    if user_offset < HEADER_LEN as u64 || !user_offset.is_multiple_of(USER_ALIGN) {
        return Err(Fault::Corrupt(format!(
            "user region offset {user_offset} is inside the header or not {USER_ALIGN}-byte aligned"
        )));
    }
    let user_len = u64_at(b, off::USER_LEN);
    let fits = user_offset
        .checked_add(user_len)
        .is_some_and(|end| end <= total_size);
    if user_len == 0 || !fits || usize::try_from(total_size).is_err() {
        return Err(Fault::Corrupt(format!(
            "user region of {user_len} bytes at offset {user_offset} does not fit in {total_size} bytes"
        )));
    }
    let comm = &b[off::CREATOR_COMM..off::CREATOR_COMM + COMM_LEN];
    let comm_len = comm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN);
    Ok(Header {
        total_size,
        user_offset,
        user_len,
        kind: Kind::new(u64_at(b, off::KIND_TAG), u64_at(b, off::LAYOUT_HASH)),
        flags: u32_at(b, off::FLAGS),
        creator: CreatorInfo {
            pid: u32_at(b, off::CREATOR_PID),
            uid: u32_at(b, off::CREATOR_UID),
            created_at: UNIX_EPOCH + Duration::from_nanos(u64_at(b, off::CREATED_NS)),
            command: String::from_utf8_lossy(&comm[..comm_len]).into_owned(),
        },
    })
}

/// Width of a header field in shared memory.
#[derive(Clone, Copy)]
enum Width {
    U32,
    U64,
}

/// Every field of the header (reserved space as u64 words), with its access width. Each is
/// accessed atomically at exactly this width, never split or merged with its neighbours.
const FIELDS: [(usize, Width); 19] = [
    (off::MAGIC, Width::U64),
    (off::VERSION, Width::U32),
    (off::HEADER_LEN, Width::U32),
    (off::TOTAL_SIZE, Width::U64),
    (off::USER_OFFSET, Width::U64),
    (off::USER_LEN, Width::U64),
    (off::KIND_TAG, Width::U64),
    (off::LAYOUT_HASH, Width::U64),
    (off::STATE, Width::U32),
    (off::FLAGS, Width::U32),
    (off::CREATED_NS, Width::U64),
    (off::CREATOR_PID, Width::U32),
    (off::CREATOR_UID, Width::U32),
    (off::CREATOR_COMM, Width::U64),
    (off::CREATOR_COMM + 8, Width::U64),
    (off::CHECKSUM, Width::U64),
    (off::RESERVED, Width::U64),
    (off::RESERVED + 8, Width::U64),
    (off::RESERVED + 16, Width::U64),
];

const MAPPED: &str = "a segment mapping is page-aligned and longer than the header";

fn atomic_u32(region: Region<'_>, at: usize) -> &AtomicU32 {
    region.atomic::<AtomicU32>(at).expect(MAPPED)
}

fn atomic_u64(region: Region<'_>, at: usize) -> &AtomicU64 {
    region.atomic::<AtomicU64>(at).expect(MAPPED)
}

/// The `state` word of a mapped header.
pub(crate) fn state(region: Region<'_>) -> &AtomicU32 {
    atomic_u32(region, off::STATE)
}

/// The `flags` word of a mapped header.
pub(crate) fn flags(region: Region<'_>) -> &AtomicU32 {
    atomic_u32(region, off::FLAGS)
}

/// Writes header bytes into a mapping that starts with at least [`HEADER_LEN`] bytes.
///
/// Stores are Relaxed: nobody may rely on them before the Release store of
/// [`STATE_READY`] that follows, which publishes them.
pub(crate) fn store(region: Region<'_>, b: &RawHeader) {
    for (at, width) in FIELDS {
        match width {
            Width::U32 => atomic_u32(region, at).store(u32_at(b, at), Ordering::Relaxed),
            Width::U64 => atomic_u64(region, at).store(u64_at(b, at), Ordering::Relaxed),
        }
    }
}

/// Reads a mapped header (at least [`HEADER_LEN`] bytes) once, field by field.
///
/// The `state` word is loaded first with Acquire, pairing with the creator's Release
/// store of [`STATE_READY`]: if it reads READY, the fields read afterwards are the ones
/// the creator wrote before publishing.
pub(crate) fn load(region: Region<'_>) -> RawHeader {
    let mut b = [0u8; HEADER_LEN];
    put_u32(&mut b, off::STATE, state(region).load(Ordering::Acquire));
    for (at, width) in FIELDS {
        match width {
            _ if at == off::STATE => {}
            Width::U32 => put_u32(&mut b, at, atomic_u32(region, at).load(Ordering::Relaxed)),
            Width::U64 => put_u64(&mut b, at, atomic_u64(region, at).load(Ordering::Relaxed)),
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Header {
        Header {
            total_size: 8192,
            user_offset: USER_OFFSET,
            user_len: 4096,
            kind: Kind::new(1, 2),
            flags: 0,
            creator: CreatorInfo {
                pid: 42,
                uid: 1000,
                created_at: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_000),
                command: "feed".into(),
            },
        }
    }

    fn ready(h: &Header) -> RawHeader {
        let mut b = encode(h);
        put_u32(&mut b, off::STATE, STATE_READY);
        b
    }

    /// A user region that starts inside the header or off its alignment is refused, even
    /// under a valid checksum (a hostile creator computes one); one that starts right
    /// after the header, aligned, is accepted.
    #[test]
    fn a_user_offset_inside_the_header_is_refused_under_a_valid_checksum() {
        for (user_offset, ok) in [
            (0, false),
            (64, false),
            (HEADER_LEN as u64, true),
            (4160, false),
        ] {
            let h = Header {
                total_size: user_offset + 4096,
                user_offset,
                ..sample()
            };
            let parsed = parse(&ready(&h), h.total_size);
            assert_eq!(parsed.is_ok(), ok, "user offset {user_offset}: {parsed:?}");
        }
    }

    #[test]
    fn layout_constants_are_pinned() {
        assert_eq!(&MAGIC.to_ne_bytes(), b"IPCLANE\0");
        assert_eq!(off::CHECKSUM + 8, 104);
        assert!(USER_OFFSET.is_multiple_of(USER_ALIGN));
        let b = encode(&sample());
        assert_eq!(&b[0..8], b"IPCLANE\0");
        assert_eq!(u32_at(&b, off::VERSION), 1);
        assert_eq!(&b[off::CREATOR_COMM..off::CREATOR_COMM + 5], b"feed\0");
        assert!(b[104..].iter().all(|&x| x == 0), "reserved bytes are zero");
    }

    #[test]
    fn fields_cover_the_header_exactly_once() {
        let mut covered = [0u8; HEADER_LEN];
        for (at, width) in FIELDS {
            let n = match width {
                Width::U32 => 4,
                Width::U64 => 8,
            };
            assert_eq!(at % n, 0, "field at {at} is aligned");
            covered[at..at + n].iter_mut().for_each(|c| *c += 1);
        }
        assert!(covered.iter().all(|&c| c == 1));
    }

    #[test]
    fn round_trip() {
        let h = sample();
        assert_eq!(parse(&ready(&h), 8192), Ok(h));
    }

    #[test]
    fn states_and_faults() {
        let h = sample();
        assert_eq!(parse(&encode(&h), 8192), Err(Fault::Building));
        assert_eq!(parse(&[0; HEADER_LEN], 8192), Err(Fault::Unwritten));
        assert_eq!(parse(&ready(&h), 100), Err(Fault::Short(100)));
        let mut b = ready(&h);
        put_u32(&mut b, off::STATE, STATE_FAILED);
        assert_eq!(parse(&b, 8192), Err(Fault::Failed));
        assert!(matches!(parse(&ready(&h), 4096), Err(Fault::Corrupt(r)) if r.contains("8192")));
        let mut b = ready(&h);
        put_u32(&mut b, off::VERSION, 7);
        assert_eq!(
            parse(&b, 8192),
            Err(Fault::Incompatible {
                what: "layout version",
                expected: 1,
                found: 7
            })
        );
        let mut b = ready(&h);
        b[off::USER_LEN] ^= 1;
        assert!(matches!(parse(&b, 8192), Err(Fault::Corrupt(r)) if r.contains("checksum")));
        let mut b = ready(&h);
        put_u32(&mut b, off::STATE, 7);
        assert!(matches!(parse(&b, 8192), Err(Fault::Corrupt(r)) if r.contains("state")));
    }

    #[test]
    fn structure_is_checked_before_the_state() {
        let h = sample();
        // A header in the making whose size is wrong is corrupt, and may still change...
        assert!(matches!(parse(&encode(&h), 4096), Err(Fault::Corrupt(_))));
        assert!(in_the_making(&encode(&h), 4096));
        assert!(
            in_the_making(&ready(&h), 100),
            "a short file may still grow"
        );
        // ...but once the state says ready or failed, nothing will fix it.
        assert!(!in_the_making(&ready(&h), 4096));
        let mut b = ready(&h);
        put_u32(&mut b, off::STATE, STATE_FAILED);
        assert!(!in_the_making(&b, 8192));
        b[0] ^= 1;
        assert!(matches!(parse(&b, 8192), Err(Fault::Corrupt(r)) if r.contains("magic")));
    }

    #[test]
    fn inconsistent_sizes_are_corrupt_even_with_a_valid_checksum() {
        for (offset, len) in [
            (64, 10),
            (4097, 10),
            (4096, 4097),
            (4096, 0),
            (4096, u64::MAX),
        ] {
            let mut h = sample();
            h.user_offset = offset;
            h.user_len = len;
            assert!(
                matches!(parse(&ready(&h), 8192), Err(Fault::Corrupt(_))),
                "offset {offset} len {len}"
            );
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_parse_as_ready(bytes in proptest::collection::vec(any::<u8>(), HEADER_LEN), size in any::<u64>()) {
            let mut b = [0u8; HEADER_LEN];
            b.copy_from_slice(&bytes);
            // Must not panic; random bytes essentially never pass magic + checksum.
            prop_assert!(parse(&b, size).is_err());
        }

        #[test]
        fn any_single_byte_flip_is_detected(at in 0..HEADER_LEN, bit in 0..8u8) {
            let h = sample();
            let mut b = ready(&h);
            b[at] ^= 1 << bit;
            let mutable = (off::FLAGS..off::FLAGS + 4).contains(&at) || at >= off::CHECKSUM + 8;
            match parse(&b, 8192) {
                Ok(parsed) => prop_assert!(mutable, "flip at {} accepted: {:?}", at, parsed),
                Err(_) => prop_assert!(!mutable || at < off::FLAGS),
            }
        }
    }
}
