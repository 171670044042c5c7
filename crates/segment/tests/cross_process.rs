//! Behaviour across real processes: visibility, ownership, crashes, gc, umask, seals.

mod common;

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Peer, ShmName, eventually, hold, listen, say};
use ipclane_segment::{Segment, SegmentError, SegmentState};

/// Entry point of the peer processes these tests start (see `common`).
#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    common::run_peer(|role, args| match role {
        "create_and_hold" => {
            let seg = Segment::named(&args[0]).size(4096).create().unwrap();
            seg.region()
                .atomic::<AtomicU64>(0)
                .unwrap()
                .store(0xfeed, Ordering::Release);
            say("created");
            hold();
        }
        "create_and_exit" => {
            let _seg = Segment::named(&args[0]).size(4096).create().unwrap();
            say("created");
        }
        "open_read_write" => {
            let seg = Segment::named(&args[0]).open().unwrap();
            let cell = seg.region().atomic::<AtomicU64>(0).unwrap();
            say(format!("read {:#x}", cell.load(Ordering::Acquire)));
            cell.store(0xbeef, Ordering::Release);
            say(format!("attached {}", seg.attached().unwrap()));
            hold();
        }
        "open_and_exit" => {
            let seg = Segment::named(&args[0]).open().unwrap();
            say(format!("opened {}", seg.len()));
        }
        "create_stuck_in_init" => {
            let name = args[0].clone();
            let _ = Segment::named(&name)
                .size(4096)
                .initialize_with(|_| {
                    say("initializing");
                    hold();
                    Ok(())
                })
                .create();
        }
        "create_slow_init" => {
            let _seg = Segment::named(&args[0])
                .size(4096)
                .initialize_with(|r| {
                    say("initializing");
                    std::thread::sleep(Duration::from_millis(300));
                    r.atomic::<AtomicU64>(8)?.store(42, Ordering::Relaxed);
                    Ok(())
                })
                .create()
                .unwrap();
            say("ready");
            hold();
        }
        // args: name, umask, mode ("default" for the builder's default), both octal
        "create_under_umask" => {
            let octal = |s: &str| u32::from_str_radix(s, 8).unwrap();
            rustix::process::umask(rustix::fs::Mode::from_bits_truncate(octal(&args[1])));
            let mut builder = Segment::named(&args[0]).size(4096);
            if args[2] != "default" {
                builder = builder.mode(octal(&args[2]));
            }
            let _seg = builder.create().unwrap();
            say("created");
            hold();
        }
        "truncate_through_proc" => {
            let path = format!("/proc/{}/fd/{}", args[0], args[1]);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let shrink = file.set_len(0).unwrap_err().raw_os_error();
            let grow = file.set_len(1 << 30).unwrap_err().raw_os_error();
            say(format!("{shrink:?} {grow:?}"));
        }
        "open_memfd_through_proc" => {
            let path = format!("/proc/{}/fd/{}", args[0], args[1]);
            // Read and write, as a segment's descriptor is sent (a read-only one is
            // refused: see hostile_files.rs).
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let seg = Segment::from_fd(file.into()).open().unwrap();
            let mut buf = [0u8; 5];
            seg.region().read(0, &mut buf).unwrap();
            say(String::from_utf8_lossy(&buf));
        }
        "claim_and_hold" => {
            let seg = Segment::named(&args[0]).open().unwrap();
            let _claim = seg.claim(1).unwrap();
            say("claimed");
            hold();
        }
        "open_as_nobody" => {
            ipclane_testkit::become_nobody();
            match Segment::named(&args[0]).open() {
                Err(SegmentError::PermissionDenied { name, .. }) => say(format!("denied {name}")),
                other => say(format!("unexpected {other:?}")),
            }
        }
        "gc" => {
            while listen().as_deref() == Some("go") {
                let report = ipclane_segment::gc().unwrap();
                assert!(report.failed.is_empty(), "{:?}", report.failed);
                say(report.removed.join(","));
            }
        }
        other => panic!("unknown peer role {other}"),
    });
}

#[test]
fn writes_are_visible_across_processes() {
    let name = ShmName::new("visible");
    let owner = Segment::named(&name.0).size(4096).create().unwrap();
    owner
        .region()
        .atomic::<AtomicU64>(0)
        .unwrap()
        .store(0xcafe, Ordering::Release);
    let mut peer = Peer::spawn("open_read_write", &[&name.0]);
    assert_eq!(peer.recv(), "read 0xcafe");
    assert_eq!(peer.recv(), "attached 2");
    let cell = owner.region().atomic::<AtomicU64>(0).unwrap();
    assert_eq!(cell.load(Ordering::Acquire), 0xbeef);
    assert_eq!(owner.attached().unwrap(), 2);
    assert!(peer.finish().success());
    assert_eq!(owner.attached().unwrap(), 1);
}

#[test]
fn opener_process_exit_does_not_unlink() {
    let name = ShmName::new("opener-exit");
    let _owner = Segment::named(&name.0).size(4096).create().unwrap();
    let mut peer = Peer::spawn("open_and_exit", &[&name.0]);
    assert_eq!(peer.recv(), "opened 4096");
    assert!(peer.finish().success());
    assert!(name.exists());
}

#[test]
fn owner_process_exit_unlinks() {
    let name = ShmName::new("owner-exit");
    let mut peer = Peer::spawn("create_and_exit", &[&name.0]);
    assert_eq!(peer.recv(), "created");
    assert!(peer.finish().success());
    assert!(!name.exists());
}

#[test]
fn creator_killed_before_initialising_gives_not_initialized_within_the_bound() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let name = ShmName::new("init-killed");
    let mut peer = Peer::spawn("create_stuck_in_init", &[&name.0]);
    assert_eq!(peer.recv(), "initializing");
    // While the creator is alive, openers wait for it, up to their bound.
    let started = Instant::now();
    let err = Segment::named(&name.0)
        .init_timeout(Duration::from_millis(300))
        .open()
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&err, SegmentError::NotInitialized { reason, .. } if reason.contains("alive")),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(300),
        "waited the bound: {waited:?}"
    );
    let info = listed(&name.0);
    assert_eq!(info.state, SegmentState::Initializing);
    assert_eq!(info.owner_alive, Some(true));

    peer.kill();
    let started = Instant::now();
    let err = Segment::named(&name.0)
        .init_timeout(Duration::from_secs(60))
        .open()
        .unwrap_err();
    assert!(
        matches!(&err, SegmentError::NotInitialized { reason, .. } if reason.contains("exited")),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a dead creator is not waited for"
    );
    assert_eq!(listed(&name.0).owner_alive, Some(false));
    assert!(ipclane_segment::gc().unwrap().removed.contains(&name.0));
    assert!(!name.exists());
}

#[test]
fn a_segment_truncated_under_a_live_owner_fails_at_once() {
    let name = ShmName::new("truncated");
    let mut owner = Peer::spawn("create_and_hold", &[&name.0]);
    assert_eq!(owner.recv(), "created");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(name.path())
        .unwrap();
    for len in [0u64, 100] {
        file.set_len(len).unwrap();
        // The default open timeout is 2 s: a header that can never become valid is not
        // waited for, even though its owner is alive.
        let started = Instant::now();
        let err = Segment::named(&name.0).open().unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(&err, SegmentError::Corrupted { reason, .. } if reason.contains(&format!("{len} bytes"))),
            "{err}"
        );
        assert!(took < Duration::from_secs(1), "took {took:?}");
    }
    // Grown back to its size, all zero: a header nobody is writing is not waited for
    // either, though its owner is alive.
    file.set_len(8192).unwrap();
    let started = Instant::now();
    let err = Segment::named(&name.0).open().unwrap_err();
    assert!(
        matches!(&err, SegmentError::Corrupted { reason, .. } if reason.contains("all zero")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(owner.finish().success());
}

#[test]
fn opener_waits_for_a_slow_creator() {
    let name = ShmName::new("slow-init");
    let mut peer = Peer::spawn("create_slow_init", &[&name.0]);
    assert_eq!(peer.recv(), "initializing");
    let seg = Segment::named(&name.0)
        .init_timeout(Duration::from_secs(20))
        .open()
        .unwrap();
    // Everything the initialiser wrote is visible once open returns.
    assert_eq!(
        seg.region()
            .atomic::<AtomicU64>(8)
            .unwrap()
            .load(Ordering::Relaxed),
        42
    );
    assert_eq!(peer.recv(), "ready");
}

#[test]
fn killed_owner_is_listed_dead_and_collected() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let name = ShmName::new("owner-killed");
    let mut peer = Peer::spawn("create_and_hold", &[&name.0]);
    assert_eq!(peer.recv(), "created");
    let opener = Segment::named(&name.0).open().unwrap();
    let info = listed(&name.0);
    assert_eq!(info.owner_alive, Some(true));
    assert_eq!(info.attached, Some(2));
    assert!(matches!(
        info.state,
        SegmentState::Ready {
            len: 4096,
            persistent: false,
            ..
        }
    ));
    assert!(
        !ipclane_segment::gc().unwrap().removed.contains(&name.0),
        "live owner"
    );
    assert!(name.exists());

    peer.kill();
    assert!(
        !opener.owner_alive().unwrap(),
        "the kernel released the dead owner's lock"
    );
    assert_eq!(opener.attached().unwrap(), 1);
    let info = listed(&name.0);
    assert_eq!(info.owner_alive, Some(false));
    assert_eq!(info.attached, Some(1));
    let dry = ipclane_segment::GcOptions::new()
        .dry_run(true)
        .run()
        .unwrap();
    assert!(dry.removed.contains(&name.0), "a dry run names it: {dry:?}");
    assert!(name.exists(), "a dry run removes nothing");
    let report = ipclane_segment::gc().unwrap();
    assert!(report.removed.contains(&name.0), "{report:?}");
    assert!(!name.exists());
    // The survivor keeps its mapping.
    let cell = opener.region().atomic::<AtomicU64>(0).unwrap();
    assert_eq!(cell.load(Ordering::Acquire), 0xfeed);
}

#[test]
fn gc_never_removes_a_live_segment() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let live = ShmName::new("gc-live");
    let mut peer = Peer::spawn("create_and_hold", &[&live.0]);
    assert_eq!(peer.recv(), "created");
    let local = ShmName::new("gc-local");
    let _mine = Segment::named(&local.0).size(64).create().unwrap();
    for _ in 0..3 {
        let report = ipclane_segment::gc().unwrap();
        assert!(
            report.kept.contains(&live.0) && report.kept.contains(&local.0),
            "{report:?}"
        );
    }
    assert!(live.exists() && local.exists());
    assert!(peer.finish().success());
    assert!(!live.exists(), "its owner removed it on exit");
}

#[test]
fn racing_gcs_remove_each_stale_segment_exactly_once() {
    // gc removes every dead segment it finds: one gc test at a time.
    let _gc = ipclane_testkit::serial("gc");
    let _gc = common::gc_lock();
    let names: Vec<ShmName> = (0..6).map(|_| ShmName::new("gc-race")).collect();
    for name in &names {
        let mut owner = Peer::spawn("create_and_hold", &[&name.0]);
        assert_eq!(owner.recv(), "created");
        owner.kill();
    }
    let live = ShmName::new("gc-race-live");
    let _live = Segment::named(&live.0).size(64).create().unwrap();
    let mut gcs: Vec<Peer> = (0..3).map(|_| Peer::spawn("gc", &[])).collect();
    for gc in &mut gcs {
        gc.send("go");
    }
    let local = ipclane_segment::gc().unwrap();
    let mut removed: Vec<String> = local.removed;
    for gc in &mut gcs {
        removed.extend(
            gc.recv()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    for gc in gcs {
        assert!(gc.finish().success());
    }
    for name in &names {
        assert_eq!(
            removed.iter().filter(|r| **r == name.0).count(),
            1,
            "{removed:?}"
        );
        assert!(!name.exists());
    }
    assert!(!removed.contains(&live.0));
    assert!(live.exists());
}

/// The mode a segment gets when created in a process with `umask`.
fn mode_created_under(umask: &str, mode: &str) -> u32 {
    let name = ShmName::new("umask");
    let mut peer = Peer::spawn("create_under_umask", &[&name.0, umask, mode]);
    assert_eq!(peer.recv(), "created");
    let got = name.path().metadata().unwrap().permissions().mode() & 0o7777;
    assert!(peer.finish().success());
    got
}

#[test]
fn the_default_mode_is_exactly_0600_whatever_the_umask() {
    for umask in ["000", "077", "022", "777"] {
        let mode = mode_created_under(umask, "default");
        assert_eq!(mode, 0o600, "umask {umask}: mode {mode:o}");
    }
}

/// The umask never narrows an asked-for mode (077 would strip group and other bits,
/// 777 every bit), nor does 000 widen it.
#[test]
fn an_asked_for_mode_is_exact_whatever_the_umask() {
    for (umask, mode) in [
        ("077", "640"),
        ("077", "666"),
        ("777", "600"),
        ("000", "640"),
    ] {
        let got = mode_created_under(umask, mode);
        assert_eq!(
            format!("{got:o}"),
            mode,
            "umask {umask}, mode {mode}: got {got:o}"
        );
    }
}

#[test]
fn another_process_cannot_resize_a_memfd_segment() {
    let seg = Segment::anonymous("seal-test").size(4096).create().unwrap();
    let pid = std::process::id().to_string();
    let fd = seg.as_fd().as_raw_fd().to_string();
    let mut peer = Peer::spawn("truncate_through_proc", &[&pid, &fd]);
    assert_eq!(
        peer.recv(),
        format!("Some({}) Some({})", libc::EPERM, libc::EPERM)
    );
    assert!(peer.finish().success());
    seg.region().fill(0, 4096, 1).unwrap(); // still fully mapped
}

#[test]
fn another_process_opens_a_memfd_segment_from_its_descriptor() {
    let seg = Segment::anonymous("pass-test").size(4096).create().unwrap();
    seg.region().write(0, b"hello").unwrap();
    let pid = std::process::id().to_string();
    let fd = seg.as_fd().as_raw_fd().to_string();
    let mut peer = Peer::spawn("open_memfd_through_proc", &[&pid, &fd]);
    assert_eq!(peer.recv(), "hello");
    assert!(peer.finish().success());
}

#[test]
fn a_claim_of_a_killed_process_is_released_at_once() {
    let name = ShmName::new("claim");
    let seg = Segment::named(&name.0).size(64).create().unwrap();
    let mut peer = Peer::spawn("claim_and_hold", &[&name.0]);
    assert_eq!(peer.recv(), "claimed");
    assert!(seg.is_claimed(1).unwrap());
    assert!(matches!(
        seg.claim(1),
        Err(SegmentError::AlreadyClaimed { .. })
    ));
    peer.kill();
    assert!(eventually(Duration::from_secs(5), || !seg
        .is_claimed(1)
        .unwrap()));
    let _mine = seg.claim(1).unwrap();
}

#[test]
fn another_user_cannot_open_a_0600_segment() {
    if !common::is_root() {
        ipclane_testkit::skip(
            "another_user_cannot_open_a_0600_segment",
            "needs root to switch user",
        );
        return;
    }
    let name = ShmName::new("perm");
    let _seg = Segment::named(&name.0).size(64).create().unwrap();
    let mut peer = Peer::spawn("open_as_nobody", &[&name.0]);
    assert_eq!(peer.recv(), format!("denied {}", name.path().display()));
    assert!(peer.finish().success());
}

fn listed(name: &str) -> ipclane_segment::SegmentInfo {
    ipclane_segment::list()
        .unwrap()
        .into_iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}
