//! Behaviour of one process's handles: create, open, own, persist, claim, validate.

mod common;

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{ShmName, TempDir, unique};
use ipclane_segment::{Backing, Kind, Segment, SegmentError, SegmentState};

const K: Kind = Kind::from_names("tests/lifecycle", "u64 at 0");

#[test]
fn created_segment_is_shared_with_an_opened_handle() {
    let name = ShmName::new("share");
    let owner = Segment::named(&name.0)
        .size(10_000)
        .kind(K)
        .create()
        .unwrap();
    assert!(owner.is_owner());
    assert_eq!(owner.len(), 10_000);
    assert_eq!(owner.backing(), Backing::Shm);
    assert_eq!(owner.path(), Some(name.path()));
    assert_eq!(owner.total_size() % 4096, 0);
    let peer = Segment::named(&name.0).kind(K).size(10_000).open().unwrap();
    assert!(!peer.is_owner());
    owner.region().write(9_990, b"0123456789").unwrap();
    let mut out = [0u8; 10];
    peer.region().read(9_990, &mut out).unwrap();
    assert_eq!(&out, b"0123456789");
    assert_eq!(peer.kind(), K);
    assert_eq!(peer.creator().pid, std::process::id());
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(peer.creator().command, comm.trim_end());
    assert!(!peer.is_persistent() && !owner.is_persistent());
    assert!(
        (peer.region().as_ptr() as usize).is_multiple_of(4096),
        "user region is page aligned"
    );
}

#[test]
fn user_region_starts_zeroed() {
    let seg = Segment::anonymous("zeroed").size(1 << 16).create().unwrap();
    let mut buf = vec![0xaau8; 1 << 16];
    seg.region().read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn owner_drop_unlinks_and_opener_drop_does_not() {
    let name = ShmName::new("drop");
    let owner = Segment::named(&name.0).size(64).create().unwrap();
    let opener = Segment::named(&name.0).open().unwrap();
    drop(opener);
    assert!(name.exists(), "an opener never removes the name");
    opener_still_works_after_owner_drop(owner, &name);
}

fn opener_still_works_after_owner_drop(owner: Segment, name: &ShmName) {
    let opener = Segment::named(&name.0).open().unwrap();
    drop(owner);
    assert!(!name.exists(), "the owner removes the name");
    opener.region().write(0, b"still mapped").unwrap();
    assert!(matches!(
        Segment::named(&name.0).open(),
        Err(SegmentError::NotFound { .. })
    ));
}

#[test]
fn exclusive_create_fails_and_leaves_the_existing_segment_alone() {
    let name = ShmName::new("excl");
    let first = Segment::named(&name.0).size(64).create().unwrap();
    first
        .region()
        .atomic::<AtomicU64>(0)
        .unwrap()
        .store(7, Ordering::Relaxed);
    let err = Segment::named(&name.0).size(128).create().unwrap_err();
    assert!(
        matches!(&err, SegmentError::AlreadyExists { name: n } if n.ends_with(&name.0)),
        "{err}"
    );
    assert!(
        err.to_string().contains(&name.0),
        "the message names the segment"
    );
    let again = Segment::named(&name.0).open().unwrap();
    assert_eq!(again.len(), 64);
    assert_eq!(
        again
            .region()
            .atomic::<AtomicU64>(0)
            .unwrap()
            .load(Ordering::Relaxed),
        7
    );
}

#[test]
fn non_exclusive_create_still_refuses_a_live_segment() {
    let name = ShmName::new("nonexcl-live");
    let _live = Segment::named(&name.0).size(64).create().unwrap();
    let err = Segment::named(&name.0)
        .size(64)
        .exclusive(false)
        .create()
        .unwrap_err();
    assert!(matches!(err, SegmentError::AlreadyExists { .. }), "{err}");
}

#[test]
fn non_exclusive_create_reclaims_a_stale_segment() {
    let _gc = common::gc_lock();
    let name = ShmName::new("nonexcl-stale");
    common::make_stale(&name.0);
    assert!(matches!(
        Segment::named(&name.0).size(64).create(),
        Err(SegmentError::AlreadyExists { .. })
    ));
    let seg = Segment::named(&name.0)
        .size(128)
        .exclusive(false)
        .create()
        .unwrap();
    assert!(seg.is_owner());
    assert_eq!(Segment::named(&name.0).open().unwrap().len(), 128);
}

#[test]
fn open_of_a_missing_name_is_not_found() {
    let name = unique("missing");
    let err = Segment::named(&name).open().unwrap_err();
    assert!(matches!(err, SegmentError::NotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("segment /dev/shm/ipclane.{name} not found")
    );
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::NotFound
    );
}

#[test]
fn invalid_names_are_rejected() {
    for bad in ["", "a/b", "/lead", "nul\0byte", ".", ".."] {
        let err = Segment::named(bad).size(64).create().unwrap_err();
        assert!(
            matches!(err, SegmentError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
        let err = Segment::named(bad).open().unwrap_err();
        assert!(
            matches!(err, SegmentError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    let long = "x".repeat(300);
    assert!(matches!(
        Segment::named(&long).size(64).create(),
        Err(SegmentError::InvalidName { .. })
    ));
    assert!(matches!(
        Segment::anonymous("").size(64).create(),
        Err(SegmentError::InvalidName { .. })
    ));
    assert!(matches!(
        Segment::at_path("/tmp/").size(64).create(),
        Err(SegmentError::InvalidName { .. })
    ));
}

#[test]
fn create_needs_a_usable_size() {
    let name = ShmName::new("nosize");
    for builder in [
        Segment::named(&name.0),
        Segment::named(&name.0).size(0),
        Segment::named(&name.0).size(usize::MAX),
    ] {
        let err = builder.create().unwrap_err();
        assert!(matches!(err, SegmentError::InvalidConfig { .. }), "{err}");
        assert!(!name.exists(), "nothing is left behind");
    }
}

#[test]
fn open_checks_the_expected_kind_and_size() {
    let name = ShmName::new("kind");
    let _seg = Segment::named(&name.0).size(256).kind(K).create().unwrap();
    let other_tag = Kind::new(K.tag ^ 1, K.layout_hash);
    match Segment::named(&name.0).kind(other_tag).open() {
        Err(SegmentError::Incompatible {
            what,
            expected,
            found,
            ..
        }) => {
            assert_eq!(what, "kind tag");
            assert_eq!((expected, found), (other_tag.tag, K.tag));
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let other_layout = Kind::new(K.tag, 99);
    assert!(matches!(
        Segment::named(&name.0).kind(other_layout).open(),
        Err(SegmentError::Incompatible {
            what: "layout hash",
            ..
        })
    ));
    assert!(matches!(
        Segment::named(&name.0).size(512).open(),
        Err(SegmentError::Incompatible {
            what: "size",
            expected: 512,
            found: 256,
            ..
        })
    ));
    assert!(
        Segment::named(&name.0).open().is_ok(),
        "no expectation, no check"
    );
}

#[test]
fn mode_is_exact_and_configurable() {
    let name = ShmName::new("mode");
    let _seg = Segment::named(&name.0).size(64).create().unwrap();
    assert_eq!(
        name.path().metadata().unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let name2 = ShmName::new("mode640");
    let _seg2 = Segment::named(&name2.0)
        .size(64)
        .mode(0o640)
        .create()
        .unwrap();
    assert_eq!(
        name2.path().metadata().unwrap().permissions().mode() & 0o7777,
        0o640
    );
}

#[test]
fn open_or_create_creates_once_and_then_opens() {
    let name = ShmName::new("ooc");
    let first = Segment::named(&name.0).size(64).open_or_create().unwrap();
    assert!(first.is_owner());
    let second = Segment::named(&name.0).size(64).open_or_create().unwrap();
    assert!(!second.is_owner());
}

#[test]
fn racing_open_or_create_makes_exactly_one_owner() {
    let name = ShmName::new("race");
    let handles: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    Segment::named(&name.0)
                        .size(4096)
                        .initialize_with(|r| {
                            std::thread::sleep(Duration::from_millis(20));
                            r.atomic::<AtomicU64>(0)?.store(1, Ordering::Relaxed);
                            Ok(())
                        })
                        .open_or_create()
                        .unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(handles.iter().filter(|h| h.is_owner()).count(), 1);
    for h in &handles {
        // Openers only returned after the initialiser finished.
        let v = h
            .region()
            .atomic::<AtomicU64>(0)
            .unwrap()
            .load(Ordering::Relaxed);
        assert_eq!(v, 1);
    }
    assert_eq!(handles[0].attached().unwrap(), 8);
}

#[test]
fn failing_initializer_removes_the_segment() {
    let name = ShmName::new("initfail");
    let err = Segment::named(&name.0)
        .size(64)
        .persist(true)
        .initialize_with(|_| Err("no market data today".into()))
        .create()
        .unwrap_err();
    match &err {
        SegmentError::InitFailed { source, .. } => {
            assert_eq!(source.to_string(), "no market data today")
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
    assert!(!name.exists());
}

#[test]
fn persistent_segment_survives_its_owner_until_unlinked() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let name = ShmName::new("persist");
    let owner = Segment::named(&name.0)
        .size(64)
        .persist(true)
        .create()
        .unwrap();
    assert!(owner.is_persistent());
    drop(owner);
    assert!(name.exists());
    let mut reopened = Segment::named(&name.0).open().unwrap();
    assert!(reopened.is_persistent());
    assert!(!reopened.owner_alive().unwrap());
    let report = ipclane_segment::gc().unwrap();
    assert!(
        report.kept.contains(&name.0),
        "gc keeps persistent segments"
    );
    assert!(name.exists());
    reopened.unlink().unwrap();
    assert!(!name.exists());
    assert!(matches!(
        reopened.unlink(),
        Err(SegmentError::NotFound { .. })
    ));
}

#[test]
fn set_persistent_is_seen_by_other_handles_and_by_drop() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let name = ShmName::new("setpersist");
    let mut owner = Segment::named(&name.0).size(64).create().unwrap();
    owner.set_persistent(true);
    let info = ipclane_segment::list()
        .unwrap()
        .into_iter()
        .find(|i| i.name == name.0)
        .unwrap();
    assert!(matches!(
        info.state,
        SegmentState::Ready {
            persistent: true,
            ..
        }
    ));
    drop(owner);
    assert!(name.exists());
    let mut opened = Segment::named(&name.0).open().unwrap();
    opened.set_persistent(false);
    drop(opened);
    assert!(ipclane_segment::gc().unwrap().removed.contains(&name.0));
    assert!(!name.exists());
}

#[test]
fn unlink_never_removes_a_newer_segment_under_the_same_name() {
    let name = ShmName::new("newer");
    let mut old = Segment::named(&name.0).size(64).create().unwrap();
    old.unlink().unwrap();
    let _new = Segment::named(&name.0).size(128).create().unwrap();
    assert!(matches!(old.unlink(), Err(SegmentError::NotFound { .. })));
    drop(old);
    assert_eq!(Segment::named(&name.0).open().unwrap().len(), 128);
}

#[test]
fn claims_are_exclusive_and_released_on_drop() {
    let seg = Segment::anonymous("claims").size(64).create().unwrap();
    assert!(!seg.is_claimed(3).unwrap());
    let claim = seg.claim(3).unwrap();
    assert_eq!(claim.index(), 3);
    assert!(seg.is_claimed(3).unwrap());
    assert!(!seg.is_claimed(4).unwrap());
    assert!(matches!(
        seg.claim(3),
        Err(SegmentError::AlreadyClaimed { index: 3, .. })
    ));
    let other = seg.claim(4).unwrap();
    drop(claim);
    assert!(!seg.is_claimed(3).unwrap());
    let _again = seg.claim(3).unwrap();
    assert!(seg.is_claimed(4).unwrap());
    drop(other);
    assert!(seg.claim(u32::MAX).is_ok());
}

#[test]
fn liveness_counts_handles() {
    let name = ShmName::new("count");
    let owner = Segment::named(&name.0).size(64).create().unwrap();
    assert!(owner.owner_alive().unwrap());
    assert_eq!(owner.attached().unwrap(), 1);
    let openers: Vec<_> = (0..5)
        .map(|_| Segment::named(&name.0).open().unwrap())
        .collect();
    assert_eq!(owner.attached().unwrap(), 6);
    assert!(openers[0].owner_alive().unwrap());
    drop(openers);
    assert_eq!(owner.attached().unwrap(), 1);
}

#[test]
fn anonymous_segment_is_shared_through_its_descriptor() {
    let seg = Segment::anonymous("fdshare")
        .size(4096)
        .kind(K)
        .create()
        .unwrap();
    assert_eq!(seg.backing(), Backing::Memfd);
    assert_eq!(seg.display_name(), "memfd:fdshare");
    assert_eq!(seg.path(), None);
    seg.region().write(100, b"via fd").unwrap();
    let fd = seg.as_fd().try_clone_to_owned().unwrap();
    let peer = Segment::from_fd(fd).kind(K).open().unwrap();
    assert_eq!(peer.backing(), Backing::Memfd);
    assert_eq!(peer.display_name(), "memfd:fdshare");
    let mut out = [0u8; 6];
    peer.region().read(100, &mut out).unwrap();
    assert_eq!(&out, b"via fd");
    assert_eq!(
        seg.attached().unwrap(),
        2,
        "the received handle has its own slot"
    );
    assert!(peer.owner_alive().unwrap());
    drop(seg);
    assert!(!peer.owner_alive().unwrap());
}

#[test]
fn anonymous_segments_cannot_be_opened_by_name_and_fds_cannot_be_created() {
    assert!(matches!(
        Segment::anonymous("x").open(),
        Err(SegmentError::InvalidConfig { .. })
    ));
    let seg = Segment::anonymous("x").size(64).create().unwrap();
    let fd = seg.as_fd().try_clone_to_owned().unwrap();
    assert!(matches!(
        Segment::from_fd(fd).size(64).create(),
        Err(SegmentError::InvalidConfig { .. })
    ));
}

#[test]
fn memfd_is_sealed_against_resizing() {
    let seg = Segment::anonymous("sealed").size(4096).create().unwrap();
    let file = std::fs::File::from(seg.as_fd().try_clone_to_owned().unwrap());
    let shrink = file.set_len(0).unwrap_err();
    assert_eq!(shrink.raw_os_error(), Some(libc::EPERM));
    let grow = file.set_len(1 << 20).unwrap_err();
    assert_eq!(grow.raw_os_error(), Some(libc::EPERM));
    assert_eq!(file.metadata().unwrap().len(), seg.total_size());
}

#[test]
fn unsealed_descriptors_are_refused_unless_allowed() {
    let dir = TempDir::new("unsealed");
    let path = dir.path().join("seg");
    let seg = Segment::at_path(&path).size(64).create().unwrap();
    let fd = || seg.as_fd().try_clone_to_owned().unwrap();
    let err = Segment::from_fd(fd()).open().unwrap_err();
    assert!(matches!(err, SegmentError::Corrupted { .. }), "{err}");
    let opened = Segment::from_fd(fd()).require_seals(false).open().unwrap();
    assert_eq!(opened.len(), 64);
    assert_eq!(opened.backing(), Backing::File);
}

#[test]
fn file_backed_segment_lives_at_its_path() {
    let dir = TempDir::new("file");
    let path = dir.path().join("feed.seg");
    let owner = Segment::at_path(&path).size(100).create().unwrap();
    assert_eq!(owner.backing(), Backing::File);
    assert_eq!(owner.path().as_deref(), Some(path.as_path()));
    let md = path.metadata().unwrap();
    assert_eq!(md.len(), owner.total_size());
    assert_eq!(md.mode() & 0o777, 0o600);
    let peer = Segment::at_path(&path).open().unwrap();
    assert_eq!(peer.len(), 100);
    drop(peer);
    drop(owner);
    assert!(!path.exists());
}

#[test]
fn symlinks_are_never_followed() {
    let dir = TempDir::new("symlink");
    let target = dir.path().join("target");
    std::fs::write(&target, b"precious").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(matches!(
        Segment::at_path(&link).size(64).create(),
        Err(SegmentError::AlreadyExists { .. })
    ));
    let err = Segment::at_path(&link).open().unwrap_err();
    assert!(
        matches!(&err, SegmentError::Corrupted { reason, .. } if reason.contains("symbolic link")),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    assert!(matches!(
        Segment::at_path(&dangling).size(64).create(),
        Err(SegmentError::AlreadyExists { .. })
    ));
    assert!(
        !dir.path().join("nowhere").exists(),
        "no file created through the link"
    );
}

#[test]
fn prefault_and_mlock_options_map_usable_memory() {
    let seg = Segment::anonymous("locked")
        .size(1 << 20)
        .prefault(true)
        .mlock(true)
        .create()
        .unwrap();
    seg.region().fill(0, 1 << 20, 0x5a).unwrap();
    let name = ShmName::new("prefault");
    let _owner = Segment::named(&name.0).size(1 << 16).create().unwrap();
    let opened = Segment::named(&name.0)
        .prefault(true)
        .mlock(true)
        .open()
        .unwrap();
    assert_eq!(opened.len(), 1 << 16);
}

#[test]
fn region_accessors_are_bounded_by_the_user_region() {
    let seg = Segment::anonymous("bounds").size(100).create().unwrap();
    let r = seg.region();
    assert_eq!(r.len(), 100);
    assert!(r.atomic::<AtomicU64>(88).is_ok());
    assert!(
        r.atomic::<AtomicU64>(96).is_err(),
        "would cross the end of the user region"
    );
    assert!(r.write(99, b"xy").is_err());
    assert!(r.slice(50, 51).is_err());
}
