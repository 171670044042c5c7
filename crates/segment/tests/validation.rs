//! Opening files that are not valid segments: every case is a typed error, never a panic,
//! a hang or a fault. The header offsets used here are those of `docs/segment-layout.md`,
//! so these tests also pin the documented layout.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{ShmName, TempDir};
use ipclane_segment::{Kind, Segment, SegmentError};
use proptest::prelude::*;

/// A valid, persisted (ownerless) segment file at `dir/name`, 64 bytes of user region.
fn valid_file(dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.path().join(name);
    let seg = Segment::at_path(&path)
        .size(64)
        .kind(Kind::new(11, 22))
        .persist(true)
        .create()
        .unwrap();
    drop(seg);
    assert!(path.exists());
    path
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

fn open_err(path: &Path) -> SegmentError {
    Segment::at_path(path)
        .init_timeout(Duration::from_millis(200))
        .open()
        .expect_err("must not open")
}

fn corrupt_reason(err: SegmentError) -> String {
    match err {
        SegmentError::Corrupted { reason, name } => {
            assert!(!name.is_empty());
            reason
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn the_valid_fixture_opens() {
    let dir = TempDir::new("fixture");
    let path = valid_file(&dir, "ok");
    let seg = Segment::at_path(&path)
        .kind(Kind::new(11, 22))
        .open()
        .unwrap();
    assert_eq!(seg.len(), 64);
}

#[test]
fn wrong_magic_is_corrupt() {
    let dir = TempDir::new("magic");
    let path = valid_file(&dir, "seg");
    patch(&path, 0, b"NOTOURS!");
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains("not an ipclane segment"), "{reason}");
}

#[test]
fn wrong_version_is_incompatible() {
    let dir = TempDir::new("version");
    let path = valid_file(&dir, "seg");
    patch(&path, 8, &7u32.to_ne_bytes());
    match open_err(&path) {
        SegmentError::Incompatible {
            what,
            expected,
            found,
            ..
        } => {
            assert_eq!(what, "layout version");
            assert_eq!((expected, found), (1, 7));
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

#[test]
fn a_changed_field_fails_the_checksum() {
    let dir = TempDir::new("checksum");
    let path = valid_file(&dir, "seg");
    patch(&path, 32, &1_000_000u64.to_ne_bytes()); // user_len
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains("checksum"), "{reason}");
}

#[test]
fn a_resized_file_is_corrupt() {
    let dir = TempDir::new("resized");
    let path = valid_file(&dir, "seg");
    let len = path.metadata().unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains(&format!("{}", len + 4096)), "{reason}");
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(2048)
        .unwrap();
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains("2048"), "{reason}");
}

#[test]
fn an_unknown_state_is_corrupt() {
    let dir = TempDir::new("state");
    let path = valid_file(&dir, "seg");
    patch(&path, 56, &0xdead_beefu32.to_ne_bytes());
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains("state"), "{reason}");
}

#[test]
fn empty_and_short_files_are_corrupt() {
    let dir = TempDir::new("short");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let reason = corrupt_reason(open_err(&empty));
    assert!(reason.contains("0 bytes"), "{reason}");
    let short = dir.path().join("short");
    std::fs::write(&short, [0x49u8; 100]).unwrap();
    let reason = corrupt_reason(open_err(&short));
    assert!(reason.contains("100 bytes"), "{reason}");
}

#[test]
fn a_zeroed_file_without_a_live_creator_is_not_initialized_at_once() {
    let dir = TempDir::new("zero");
    let path = dir.path().join("zero");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    let started = Instant::now();
    let err = Segment::at_path(&path)
        .init_timeout(Duration::from_secs(30))
        .open()
        .unwrap_err();
    assert!(matches!(err, SegmentError::NotInitialized { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no waiting for a dead creator"
    );
}

#[test]
fn a_fifo_at_the_name_neither_blocks_nor_opens() {
    let dir = TempDir::new("fifo");
    let path = dir.path().join("fifo");
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reason = corrupt_reason(open_err(&path));
    assert!(reason.contains("regular file"), "{reason}");
}

#[test]
fn garbage_in_dev_shm_is_corrupt() {
    let name = ShmName::new("garbage");
    std::fs::write(name.path(), vec![0xa5u8; 8192]).unwrap();
    let err = Segment::named(&name.0).open().unwrap_err();
    assert!(err.to_string().contains(&name.0), "{err}");
    corrupt_reason(err);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ipclane_testkit::proptest_cases(64)))]

    /// Random contents of random lengths: an error, never a panic or a fault.
    #[test]
    fn random_files_give_typed_errors(bytes in proptest::collection::vec(any::<u8>(), 0..9000)) {
        let dir = TempDir::new("random");
        let path = dir.path().join("random");
        std::fs::write(&path, &bytes).unwrap();
        let err = open_err(&path);
        prop_assert!(
            matches!(err, SegmentError::Corrupted { .. } | SegmentError::Incompatible { .. } | SegmentError::NotInitialized { .. }),
            "{err}"
        );
    }

    /// A valid header with one random field overwritten: an error or a segment whose
    /// accessors stay in bounds, never a panic.
    #[test]
    fn overwritten_header_words_give_typed_errors(at in (0usize..16).prop_map(|w| w * 8), value in any::<u64>()) {
        let dir = TempDir::new("overwrite");
        let path = valid_file(&dir, "seg");
        patch(&path, at as u64, &value.to_ne_bytes());
        match Segment::at_path(&path).init_timeout(Duration::from_millis(100)).open() {
            Ok(seg) => {
                let mut buf = vec![0u8; seg.len()];
                seg.region().read(0, &mut buf).unwrap();
                prop_assert!(seg.region().read(seg.len(), &mut [0u8; 1]).is_err());
            }
            Err(err) => prop_assert!(
                matches!(err, SegmentError::Corrupted { .. } | SegmentError::Incompatible { .. } | SegmentError::NotInitialized { .. }),
                "{err}"
            ),
        }
    }
}

/// Every single-bit flip of a valid header (128 bytes, 1,024 bits), not a sample: a flip in
/// the immutable fields or the checksum is `Corrupt` (the version: `Incompatible`), one in
/// the state word is an unknown state (`Corrupt`), and only the mutable flags word and the
/// reserved tail (bytes 104..128, read by nobody) may change without an error.
#[test]
fn every_single_bit_flip_of_the_header_is_caught_where_it_matters() {
    let dir = TempDir::new("flips");
    let path = valid_file(&dir, "seg");
    let original = std::fs::read(&path).unwrap()[..128].to_vec();
    let mut opened = 0;
    for bit in 0..128 * 8 {
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        patch(&path, byte as u64, &[original[byte] ^ mask]);
        let result = Segment::at_path(&path)
            .init_timeout(Duration::from_millis(50))
            .open();
        patch(&path, byte as u64, &[original[byte]]);
        match (byte, result) {
            (60..64 | 104..128, Ok(_)) => opened += 1,
            (8..12, Err(SegmentError::Incompatible { .. })) => {}
            (_, Err(SegmentError::Corrupted { .. })) if !(60..64).contains(&byte) => {}
            (byte, other) => panic!("bit {} of byte {byte}: {other:?}", bit % 8),
        }
    }
    assert_eq!(
        opened,
        (4 + 24) * 8,
        "the flags word and the reserved tail only"
    );
    Segment::at_path(&path)
        .open()
        .expect("the file is intact again");
}
