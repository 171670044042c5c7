//! `gc()` and `exclusive(false)` remove only what they have proven to be a stale ipclane
//! segment of the caller: never a file that is not a segment, never another user's
//! segment unless asked to.

mod common;

use std::os::unix::fs::MetadataExt;

use common::ShmName;
use ipclane_segment::{GcOptions, GcReport, Segment, SegmentError};

const NOBODY: u32 = 65534;

/// The reason `report` gives for skipping `name`, if it does.
fn skipped<'a>(report: &'a GcReport, name: &ShmName) -> Option<&'a str> {
    report
        .skipped
        .iter()
        .find(|(n, _)| *n == name.0)
        .map(|(_, reason)| reason.as_str())
}

/// A non-exclusive create of `name` must find it taken.
fn assert_not_reclaimed(name: &ShmName) {
    let err = Segment::named(&name.0)
        .size(64)
        .exclusive(false)
        .create()
        .unwrap_err();
    assert!(matches!(err, SegmentError::AlreadyExists { .. }), "{err}");
}

#[test]
fn files_that_are_not_segments_are_never_removed() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let garbage = ShmName::new("gc-garbage");
    std::fs::write(garbage.path(), b"somebody's precious data").unwrap();
    let zeroes = ShmName::new("gc-zeroes");
    std::fs::write(zeroes.path(), vec![0u8; 8192]).unwrap();
    let empty = ShmName::new("gc-empty");
    std::fs::write(empty.path(), b"").unwrap();
    let fifo = ShmName::new("gc-fifo");
    let c = std::ffi::CString::new(fifo.path().into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let stale = ShmName::new("gc-stale");
    common::make_stale(&stale.0);

    let report = ipclane_segment::gc().unwrap();
    assert!(report.removed.contains(&stale.0), "{report:?}");
    for name in [&garbage, &zeroes, &empty, &fifo] {
        let reason = skipped(&report, name).unwrap_or_else(|| panic!("{report:?}"));
        assert!(
            reason.contains("not an ipclane segment") || reason.contains("FIFO"),
            "{reason}"
        );
        assert!(name.exists(), "{} was removed", name.0);
        assert_not_reclaimed(name);
    }
    assert!(skipped(&report, &empty).unwrap().contains("0 bytes"));
    assert!(
        skipped(&report, &fifo)
            .unwrap()
            .contains("not a regular file")
    );
    assert_eq!(
        std::fs::read(garbage.path()).unwrap(),
        b"somebody's precious data"
    );
    assert_eq!(std::fs::read(empty.path()).unwrap(), b"");
}

#[test]
fn another_users_stale_segment_is_removed_only_when_asked() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    if !common::is_root() {
        ipclane_testkit::skip(
            "another_users_stale_segment_is_removed_only_when_asked",
            "needs root to chown",
        );
        return;
    }
    let _gc = common::gc_lock();
    let theirs = ShmName::new("gc-theirs");
    common::make_stale(&theirs.0);
    std::os::unix::fs::chown(theirs.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let their_file = ShmName::new("gc-their-file");
    std::fs::write(their_file.path(), b"not a segment").unwrap();
    std::os::unix::fs::chown(their_file.path(), Some(NOBODY), Some(NOBODY)).unwrap();

    let report = ipclane_segment::gc().unwrap();
    for name in [&theirs, &their_file] {
        let reason = skipped(&report, name).unwrap_or_else(|| panic!("{report:?}"));
        assert!(reason.contains("owned by user 65534"), "{reason}");
        assert!(name.exists());
        assert_not_reclaimed(name);
    }
    assert_eq!(theirs.path().metadata().unwrap().uid(), NOBODY, "untouched");

    let report = GcOptions::new().all_users(true).run().unwrap();
    assert!(report.removed.contains(&theirs.0), "{report:?}");
    assert!(!theirs.exists());
    let reason = skipped(&report, &their_file).unwrap_or_else(|| panic!("{report:?}"));
    assert!(reason.contains("not an ipclane segment"), "{reason}");
    assert_eq!(std::fs::read(their_file.path()).unwrap(), b"not a segment");
}
