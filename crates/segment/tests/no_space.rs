//! A full tmpfs is `NoSpace` at creation, never a SIGBUS on first touch.
//!
//! Needs a tiny tmpfs: as root, a peer process enters a private mount namespace and mounts
//! one (over a temporary directory, and over `/dev/shm` for named segments). Without root,
//! or where namespaces are not allowed, the test says why and skips.

mod common;

use std::path::Path;

use common::{Peer, TempDir, say, unique};
use ipclane_segment::{Segment, SegmentError};

#[test]
#[ignore = "entry point of peer processes; runs only when a test starts one"]
fn peer_entry() {
    common::run_peer(|role, args| match role {
        "fill_tiny_tmpfs" => fill_tiny_tmpfs(Path::new(&args[0]), &args[1]),
        "exhaust_inodes" => exhaust_inodes(Path::new(&args[0]), &args[1]),
        other => panic!("unknown peer role {other}"),
    });
}

/// In a private mount namespace: mounts 256 KiB tmpfs at `dir` and over `/dev/shm`, and
/// checks that segments too large for them fail with `NoSpace` and leave nothing behind.
fn fill_tiny_tmpfs(dir: &Path, name: &str) {
    use rustix::mount::{MountFlags, mount};

    if let Err(reason) = common::enter_private_mount_namespace() {
        say(format!("skip: {reason}"));
        return;
    }
    for target in [dir, Path::new("/dev/shm")] {
        mount("tmpfs", target, "tmpfs", MountFlags::empty(), c"size=256k").expect("mount tmpfs");
    }

    let big = dir.join("big");
    match Segment::at_path(&big).size(1 << 20).create() {
        Err(SegmentError::NoSpace { name, size }) => {
            assert_eq!(name, big.display().to_string());
            assert!(size > 1 << 20);
        }
        other => panic!("expected NoSpace for a file segment, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "nothing left in {dir:?}"
    );
    let small = Segment::at_path(dir.join("small"))
        .size(64 << 10)
        .create()
        .expect("64 KiB fits");
    small
        .region()
        .fill(0, 64 << 10, 0xff)
        .expect("touching every byte works");
    drop(small);

    match Segment::named(name).size(1 << 20).create() {
        Err(SegmentError::NoSpace { .. }) => {}
        other => panic!("expected NoSpace for a named segment, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_dir("/dev/shm").unwrap().count(),
        0,
        "nothing left in /dev/shm"
    );
    say("ok");
}

/// In a private mount namespace: mounts a tmpfs with plenty of space but only a few
/// inodes at `dir` and over `/dev/shm`, uses them all up, and checks that creating a
/// segment there is `NoSpace` naming its path.
fn exhaust_inodes(dir: &Path, name: &str) {
    use rustix::mount::{MountFlags, mount};

    if let Err(reason) = common::enter_private_mount_namespace() {
        say(format!("skip: {reason}"));
        return;
    }
    let shm = Path::new("/dev/shm");
    for target in [dir, shm] {
        let options = c"size=16m,nr_inodes=8";
        mount("tmpfs", target, "tmpfs", MountFlags::empty(), options).expect("mount tmpfs");
        let mut fillers = 0;
        loop {
            match std::fs::write(target.join(format!("filler-{fillers}")), b"") {
                Ok(()) => fillers += 1,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("fill the inodes of {target:?}: {e}"),
            }
        }
        assert!(fillers < 8, "the inode limit holds");
    }

    let path = dir.join("seg");
    match Segment::at_path(&path).size(4096).create() {
        Err(SegmentError::NoSpace { name, size }) => {
            assert_eq!(name, path.display().to_string());
            assert_eq!(size, 8192);
        }
        other => panic!("expected NoSpace for a file segment, got {other:?}"),
    }
    let shm_path = shm.join(format!("ipclane.{name}"));
    match Segment::named(name).size(4096).create() {
        Err(SegmentError::NoSpace { name, .. }) => {
            assert_eq!(name, shm_path.display().to_string())
        }
        other => panic!("expected NoSpace for a named segment, got {other:?}"),
    }
    assert!(!path.exists() && !shm_path.exists(), "nothing left behind");
    say("ok");
}

/// Runs `role` in a peer that mounts tmpfs in a private mount namespace, and checks its
/// verdict (or reports why it skipped).
fn run_in_namespace(test: &str, role: &str, tag: &str) {
    if !common::is_root() {
        ipclane_testkit::skip(test, "needs root to mount a tiny tmpfs");
        return;
    }
    let dir = TempDir::new(tag);
    let name = unique(tag);
    let mut peer = Peer::spawn(role, &[dir.path().to_str().unwrap(), &name]);
    let verdict = peer.recv();
    if let Some(reason) = verdict.strip_prefix("skip: ") {
        ipclane_testkit::skip(test, reason);
    } else {
        assert_eq!(verdict, "ok");
    }
    assert!(peer.finish().success());
}

#[test]
fn creation_on_a_tmpfs_out_of_inodes_is_no_space() {
    run_in_namespace(
        "creation_on_a_tmpfs_out_of_inodes_is_no_space",
        "exhaust_inodes",
        "noinodes",
    );
}

#[test]
fn creation_on_a_full_tmpfs_is_no_space() {
    run_in_namespace(
        "creation_on_a_full_tmpfs_is_no_space",
        "fill_tiny_tmpfs",
        "tiny-tmpfs",
    );
}
